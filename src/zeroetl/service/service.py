"""The zeroetl service: the single owner of a warehouse's catalog, DuckDB hub and workers.

The HTTP API and the SQL endpoint both call the methods here; nothing else writes the catalog
or starts replication. One DuckDB "hub" (an in-memory instance) has every target database file
attached under its name, so SQL sessions (`hub_cursor()`) see `db.schema.table` for all of them
while each integration's worker writes its own file through a cursor of its own. The hub is
sandboxed (hub.py): target database files live in `<warehouse>/databases/`, the only directory
DuckDB may touch besides its temp directory, away from the warehouse's secrets.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

import duckdb

from zeroetl.catalog import store
from zeroetl.catalog.errors import (
    IntegrationNotFound,
    InvalidIntegrationState,
    WarehouseInUse,
)
from zeroetl.catalog.perms import secure_warehouse
from zeroetl.catalog.secrets import SecretBox, api_token
from zeroetl.catalog.store import Catalog, IntegrationRecord
from zeroetl.config import Secret
from zeroetl.destinations.base import Destination
from zeroetl.model import IntegrationState
from zeroetl.server.sql.workspace_store import WORKSPACE
from zeroetl.service import destination_urls, reads
from zeroetl.service import validation as v
from zeroetl.service.controls import Controls
from zeroetl.service.hub import database_files, database_path, migrate_layout, open_hub
from zeroetl.service.integrations import Integrations
from zeroetl.service.mv_refresher import MvRefresher
from zeroetl.service.readgate import ReadGate
from zeroetl.service.service_config import ServiceConfig
from zeroetl.service.views import integration_view
from zeroetl.service.worker import Worker, WorkerSpec
from zeroetl.sources.mysql.connection import DEFAULT_SSL, SourceParams

log = logging.getLogger(__name__)


class SqlInterface(Protocol):
    """What the service needs of its SQL endpoint (server/sql_backend.py's SqlEndpoint); the
    composition root (cli/serve) hands its factory in, so the service imports no interface."""

    @property
    def port(self) -> int | None: ...
    @property
    def admission(self) -> Any: ...

    def start(self) -> object: ...
    def stop(self) -> None: ...


# (service, host, port) -> the endpoint, not yet started
SqlFactory = Callable[["Service", str, int], SqlInterface]


def _reveal(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


class Service(Integrations, Controls):
    def __init__(self, config: ServiceConfig, sql_endpoint: SqlFactory | None = None) -> None:
        """`sql_endpoint` makes the SQL endpoint (none without it, whatever `sql_port` says)."""
        self.config = config
        # 0700, and every file the process creates from now on 0600 (catalog/perms.py)
        self.warehouse = secure_warehouse(config.warehouse)
        self._lock_fd = _lock_warehouse(self.warehouse)
        self.catalog = Catalog(self.warehouse)
        self.secrets = SecretBox(self.warehouse)
        self.api_token = api_token(self.warehouse, _reveal(config.api_token))
        migrate_layout(self.warehouse)
        self.hub_info = open_hub(self.warehouse, config.hub)
        self.hub = self.hub_info.con
        self.hub_lock = threading.Lock()
        # Statements in flight on the hub (SQL sessions, API reads): a checkpoint that must
        # reclaim deleted rows holds them back for a moment (readgate.py).
        self.read_gate = ReadGate()
        self.workers: dict[str, Worker] = {}
        # target database -> (integration id, its ClickHouse destination opened for readers)
        self._readers: dict[str, tuple[str, Destination]] = {}
        self._known: dict[str, tuple[str, str]] = {}  # integration id -> (state, reason)
        self._lock = threading.RLock()  # lifecycle operations and state recording
        self._reader_lock = threading.Lock()  # self._readers
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="state-monitor", daemon=True)
        self._closed = False
        self.sql: SqlInterface | None = None
        self._sql_factory = sql_endpoint
        # materialized views with AUTO REFRESH YES in the workspace dev (mv_refresher.py)
        self.mv_refresher = MvRefresher(
            self.hub_cursor,
            lambda: [d["name"] for d in self.catalog.databases()],
            self.read_gate,
            lambda: self.sql.admission if self.sql is not None else None,
            workspace_wal=database_path(self.warehouse, WORKSPACE).with_suffix(".duckdb.wal"),
        )

    # --- start / stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Attach every target database and resume every integration from the catalog."""
        known = {db["name"] for db in self.catalog.databases()}
        for name in database_files(self.warehouse):
            if name not in known:
                self._adopt(name)
        for db in self.catalog.databases():
            try:
                self._attach(db["name"])
            except duckdb.Error as exc:  # e.g. locked by another process: its worker retries
                log.warning("target database %s cannot be attached yet: %s", db["name"], exc)
        records, _ = self.catalog.integrations()
        for rec in records:
            self._known[rec.id] = (rec.state, rec.state_reason)
            if (
                rec.target_database and rec.state != IntegrationState.PAUSED
            ):  # a paused one stays paused
                self._start_worker(rec)
        self._monitor.start()
        if self.config.sql_port is not None and self._sql_factory is not None:
            self.sql = self._sql_factory(self, self.config.host, self.config.sql_port)
            self.sql.start()
        self.mv_refresher.start()
        log.info("service started: %d integration(s) in %s", len(records), self.warehouse)

    def shutdown(self) -> None:
        """Stop every worker at its next check (open batches roll back; the committed
        checkpoint stays consistent), then close the hub and the catalog."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self.sql is not None:
            self.sql.stop()
        self.mv_refresher.stop()
        if self._monitor.is_alive():
            self._monitor.join(5)
        with self._lock:
            workers = list(self.workers.values())
            self.workers.clear()
        for w in workers:
            w.stop()
        for w in workers:
            if not w.join(self.config.stop_timeout_s):
                log.warning("integration %s did not stop in time", w.spec.integration_id)
        self._close_readers()
        with self.hub_lock:
            self.hub.close()
        self.catalog.close()
        with suppress(OSError):
            os.close(self._lock_fd)
        log.info("service stopped")

    # --- ClickHouse-backed target databases ------------------------------------------------

    def query_destination(self, database: str) -> Destination | None:
        """The open ClickHouse destination that holds target database `database`'s data, for
        readers (the SQL endpoint runs queries on it: `ClickHouseDestination.query`); None for
        a target database whose data is in its DuckDB file (or no such database).

        Opened on first use and kept: for `clickhouse://` a connection of its own (the
        client serves several threads at once); for `chdb://` the process's one embedded
        engine, shared with the worker (statements take turns: destinations/clickhouse/
        conn.py). A destination that cannot be opened raises its error (DestinationError,
        or DestinationUnavailable while a server is unreachable)."""
        db = self.catalog.database(database)
        if db is None or not db["integration_id"]:
            return None
        rec = self.catalog.get(db["integration_id"], include_deleted=True)
        if not rec.destination:
            return None
        with self._reader_lock:
            held = self._readers.get(database)
            if held is not None and held[0] == rec.id:
                return held[1]
            if held is not None:
                held[1].close()
                del self._readers[database]
            if self._stopping.is_set():
                raise InvalidIntegrationState("the service is stopping")
            dest = destination_urls.open_destination(rec.destination, rec.id)
            self._readers[database] = (rec.id, dest)
            return dest

    def _close_reader(self, database: str) -> None:
        with self._reader_lock:
            held = self._readers.pop(database, None)
            if held is not None:
                with suppress(Exception):
                    held[1].close()

    def _close_readers(self) -> None:
        for name in list(self._readers):
            self._close_reader(name)

    # --- internals --------------------------------------------------------------------------

    def _check_running(self) -> None:
        if self._stopping.is_set():
            raise InvalidIntegrationState(
                "the service is stopping", hint="retry once it is running again"
            )

    def _name_taken(self, name: str) -> bool:
        try:
            return self.catalog.get(name).name == name
        except IntegrationNotFound:
            return False

    def _params(self, rec: IntegrationRecord) -> SourceParams:
        """The source as recorded: never completed from the service's own environment."""
        opts = rec.source_options
        return SourceParams(
            host=rec.source_host,
            port=rec.source_port,
            user=rec.source_user,
            password=self.secrets.decrypt(rec.source_password),
            connect_timeout=float(opts.get("connect_timeout") or 10.0),
            ssl=str(opts.get("ssl") or DEFAULT_SSL),
            ssl_ca=opts.get("ssl_ca"),
            io_timeout=self.config.engine.source_read_timeout_s,
        )

    def _restart_worker(self, integration_id: str, reason: str) -> None:
        """Stop the integration's worker (its open batch rolls back) and start a new one from
        the catalog's record; the new one resumes from the committed checkpoint. Also revives
        a worker that ended failed; a paused integration stays paused. Caller holds
        self._lock."""
        self._stop_worker(integration_id)
        rec = self.catalog.get(integration_id)
        if not rec.target_database or rec.state == IntegrationState.PAUSED:
            return
        state = IntegrationState.SYNCING if rec.first_synced_at else IntegrationState.CREATING
        self.catalog.set_state(rec.id, state, reason)
        self._known[rec.id] = (state, reason)
        self._start_worker(rec)

    def _stop_worker(self, integration_id: str) -> None:
        """Stop the integration's worker, if any, and wait for it (its open batch rolls back).
        Caller holds self._lock."""
        old = self.workers.pop(integration_id, None)
        if old is not None:
            old.stop()
            if not old.join(self.config.stop_timeout_s):
                self.workers[integration_id] = old
                raise InvalidIntegrationState(
                    f"integration {integration_id} did not stop in time; retry",
                )

    def _start_worker(self, rec: IntegrationRecord) -> None:
        assert rec.target_database
        params = self._params(rec)
        spec = WorkerSpec(
            integration_id=rec.id,
            database=rec.target_database,
            path=self._db_path(rec.target_database),
            params=params,
            data_filter=v.effective_filter(rec.data_filter, rec.source_database),
            settings=self.config.engine,
            first_synced=rec.first_synced_at is not None,
            destination=rec.destination,
        )
        worker = Worker(spec, self.hub, self.hub_lock, self.read_gate)
        self.workers[rec.id] = worker
        worker.start()

    def _revive(self, integration_id: str, why: str) -> bool:
        """Start a new worker for an integration whose worker ended (state failed). The caller
        holds `self._lock`. Returns whether it did."""
        worker = self.workers.get(integration_id)
        if worker is None or (worker.failure is None and worker.alive):
            return False
        code = worker.failure[0] if worker.failure else "a stopped worker"
        self._restart_worker(integration_id, f"{why} after {code}")
        return True

    def _watch(self) -> None:
        while not self._stopping.wait(self.config.monitor_interval_s):
            for integration_id, worker in list(self.workers.items()):
                try:
                    self._record(integration_id, worker)
                except Exception:  # never let bookkeeping kill the monitor
                    log.exception("recording the state of integration %s", integration_id)

    def _record(self, integration_id: str, worker: Worker) -> None:
        """Write the worker's state to the catalog when it changed (with time and reason)."""
        with self._lock:
            if self.workers.get(integration_id) is not worker or self._stopping.is_set():
                return
            state, reason = worker.observe()
            known = self._known.get(integration_id)
            extra: dict[str, Any] = {}
            if worker.first_synced and not worker.spec.first_synced:
                worker.spec.first_synced = True
                extra["first_synced_at"] = store.now()
            if known is None or known[0] != state:
                self.catalog.set_state(integration_id, state, reason, error=worker.failure, **extra)
                log.info(
                    "integration %s -> %s%s", integration_id, state, f": {reason}" if reason else ""
                )
            elif known[1] != reason or extra:
                self.catalog.update(integration_id, state_reason=reason, **extra)
            self._known[integration_id] = (state, reason)

    def _view(self, rec: IntegrationRecord) -> dict[str, Any]:
        """What the API shows of an integration (never the password)."""
        worker = self.workers.get(rec.id)
        live_db = rec.target_database if rec.deleted_at is None else None
        tables: list[str] = []
        checkpoint = None
        if worker is None and live_db:
            tables = [t["state"] for t in self.integration_tables(rec.id)]
        if live_db and (worker is None or worker.runtime()["checkpoint"] is None):
            with suppress(duckdb.Error):
                cur = self.hub_cursor()
                try:
                    with self.read_gate.reading():
                        checkpoint = reads.checkpoint(cur, live_db, rec.id)
                finally:
                    cur.close()
        return integration_view(rec, worker, tables, checkpoint)

    def _read(self, fn: Any) -> list[dict[str, Any]]:
        """Rows of a target database's bookkeeping; none while it does not exist yet (a new
        target database is attached a moment before its worker creates `_zeroetl`) or any
        more (dropped meanwhile)."""
        cur = self.hub_cursor()
        try:
            with self.read_gate.reading():
                return list(fn(cur))
        except duckdb.CatalogException:
            return []
        finally:
            cur.close()


def _lock_warehouse(warehouse: Path) -> int:
    """One service per warehouse: an exclusive lock held for the life of the process."""
    fd = os.open(warehouse / ".zeroetl.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise WarehouseInUse(
            f"warehouse {warehouse} is in use by another zeroetl service",
            hint="stop the other `zeroetl serve` first",
        ) from None
    return fd
