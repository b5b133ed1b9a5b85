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
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import duckdb

from zeroetl.catalog import store
from zeroetl.catalog.errors import (
    IntegrationAlreadyExists,
    IntegrationNotFound,
    InvalidIntegrationState,
    InvalidParameter,
    TableNotFound,
    TargetDatabaseAlreadyExists,
    TargetDatabaseNotFound,
    WarehouseInUse,
)
from zeroetl.catalog.perms import secure_warehouse
from zeroetl.catalog.secrets import SecretBox, api_token
from zeroetl.catalog.store import Catalog, IntegrationRecord
from zeroetl.config import Secret, Settings
from zeroetl.destinations.duckdb.types import ident, literal
from zeroetl.engine.settings import EngineSettings
from zeroetl.errors import ConfigError
from zeroetl.model import IntegrationState, TableId
from zeroetl.server.sql.limits import SessionLimits
from zeroetl.server.sql.workspace_store import WORKSPACE
from zeroetl.service import reads
from zeroetl.service import validation as v
from zeroetl.service.controls import Controls
from zeroetl.service.hub import HubSettings, database_files, database_path, migrate_layout, open_hub
from zeroetl.service.mv_refresher import MvRefresher
from zeroetl.service.readgate import ReadGate
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

DEFAULT_MAX_RUNNING = 4  # SQL statements running at once (others wait for a slot)
PENDING_DB = "waiting for a target database (CREATE DATABASE ... FROM INTEGRATION)"


@dataclass(frozen=True)
class ServiceConfig:
    warehouse: Path
    host: str = "127.0.0.1"
    api_port: int = 8155
    sql_port: int | None = 5439  # the SQL endpoint (0: any free port; None: no endpoint)
    allowed_sources: tuple[str, ...] = ()  # authorized integration sources; empty: any
    monitor_interval_s: float = 0.2
    stop_timeout_s: float = 30.0
    engine: EngineSettings = field(default_factory=EngineSettings)
    hub: HubSettings = field(default_factory=HubSettings)  # DuckDB memory and temp space
    sql_limits: SessionLimits = field(
        default_factory=lambda: SessionLimits(max_running=DEFAULT_MAX_RUNNING)
    )  # per SQL session
    api_token: Secret | None = None  # None: <warehouse>/api.token, generated once
    sql_password: Secret | None = None  # admin's; None: <warehouse>/sql.password
    settings: Settings | None = None  # what the service was configured with (GET /v1/config)


def _reveal(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


class Service(Controls):
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
        self._known: dict[str, tuple[str, str]] = {}  # integration id -> (state, reason)
        self._lock = threading.RLock()  # lifecycle operations and state recording
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
        with self.hub_lock:
            self.hub.close()
        self.catalog.close()
        with suppress(OSError):
            os.close(self._lock_fd)
        log.info("service stopped")

    # --- integrations -----------------------------------------------------------------------

    def create_integration(
        self,
        *,
        name: str,
        source: str,
        source_password: str | None = None,
        source_ssl_ca: str | None = None,
        data_filter: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        target_database: str | None = None,
        query_all_states: bool = False,
    ) -> dict[str, Any]:
        """Validate everything up front (nothing is recorded on any failure), then create.

        The source comes from the caller only: its URL, `source_password` and the CA
        certificate's PEM text `source_ssl_ca`; the service reads no file and none of its own
        environment variables for it. Contacting the source is bounded in time."""
        v.check_name(name)
        v.check_description(description)
        v.check_tags(tags or {})
        flt = v.parse_filter(data_filter)
        if self._name_taken(name):
            raise IntegrationAlreadyExists(f"an integration named {name!r} already exists")
        if target_database is not None:
            self._check_new_database(target_database)
        params = v.source_params(source, source_password, source_ssl_ca)
        v.check_authorized(params, self.config.allowed_sources)
        v.check_source_ready(params)
        self._check_running()  # the check may have outlived a shutdown (it is not waited for)
        rec = IntegrationRecord(
            id=str(uuid.uuid4()),
            name=name,
            source_host=params.host,
            source_port=params.port,
            source_user=params.user,
            source_password=self.secrets.encrypt(params.password) if params.password else None,
            source_options=params.options(),
            description=description,
            tags=dict(tags or {}),
            data_filter=str(flt),
            state=IntegrationState.CREATING,
            state_reason=PENDING_DB,
        )
        with self._lock:
            self.catalog.add(rec, "integration created; " + PENDING_DB)
            self._known[rec.id] = (rec.state, rec.state_reason)
        log.info("integration %s (%s) created from %s", rec.id, name, params.redacted_url())
        if target_database is not None:
            self.create_target_database(rec.id, target_database, query_all_states=query_all_states)
        return self.get_integration(rec.id)

    def list_integrations(
        self, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        records, total = self.catalog.integrations(offset=offset, limit=limit)
        return [self._view(r) for r in records], total

    def get_integration(self, ident_: str) -> dict[str, Any]:
        return self._view(self.catalog.get(ident_))

    def modify_integration(
        self,
        ident_: str,
        *,
        name: str | None = None,
        description: str | None = None,
        data_filter: str | None = None,
        tags: dict[str, str] | None = None,
        source_password: str | None = None,
    ) -> dict[str, Any]:
        """Change name, description, tags, data filter or the source password.

        A new source password is checked against the source first (it must authenticate and
        the prerequisites must hold), then stored encrypted, and the integration's worker is
        restarted with it: replication resumes from the committed checkpoint."""
        if source_password is not None:
            current = self._params(self.catalog.get(ident_))
            new_params = replace(current, password=v.check_password(source_password))
            v.check_source_ready(new_params)
            self._check_running()
        with self._lock:
            rec = self.catalog.get(ident_)
            changes: dict[str, Any] = {}
            if source_password is not None:
                changes["source_password"] = (
                    self.secrets.encrypt(source_password) if source_password else None
                )
            if name is not None and name != rec.name:
                v.check_name(name)
                if self._name_taken(name):
                    raise IntegrationAlreadyExists(f"an integration named {name!r} already exists")
                changes["name"] = name
            if description is not None:
                v.check_description(description)
                changes["description"] = description
            if tags is not None:
                v.check_tags(tags)
                changes["tags"] = tags
            new_filter = None
            if data_filter is not None:
                flt = v.parse_filter(data_filter)
                if str(flt) != rec.data_filter:
                    if rec.state == IntegrationState.MODIFYING:
                        raise InvalidIntegrationState(
                            f"integration {rec.name}: a data filter change is still being applied",
                            hint="retry once its state is no longer modifying",
                        )
                    changes["data_filter"] = new_filter = str(flt)
            if changes:
                self.catalog.update(rec.id, **changes)
            # A failed integration is retried by any modify: its worker starts again from the
            # catalog (new password, new filter) and the committed checkpoint.
            if self._revive(rec.id, "modified"):
                return self.get_integration(rec.id)
            if not changes:
                return self._view(rec)
            if source_password is not None:
                self._restart_worker(rec.id, "source password changed; reconnecting")
            worker = self.workers.get(rec.id)
            if new_filter is not None and worker is not None:
                rec = self.catalog.get(rec.id)
                worker.set_filter(v.effective_filter(rec.data_filter, rec.source_database))
                # Recorded now, whatever the engine's pace; the monitor moves it on from here.
                reason = "applying the new data filter"
                self.catalog.set_state(rec.id, IntegrationState.MODIFYING, reason)
                self._known[rec.id] = (IntegrationState.MODIFYING, reason)
            log.info("integration %s modified: %s", rec.id, ", ".join(sorted(changes)))
        return self.get_integration(rec.id)

    def delete_integration(self, ident_: str) -> dict[str, Any]:
        """Stop replication; the target database stays attached, queryable, no longer updated."""
        with self._lock:
            rec = self.catalog.get(ident_)
            self.catalog.set_state(rec.id, IntegrationState.DELETING, "delete requested")
            worker = self.workers.pop(rec.id, None)
            self._known.pop(rec.id, None)
        if worker is not None:
            worker.stop()
            worker.join(self.config.stop_timeout_s)
        reason = "integration deleted" + (
            f"; target database {rec.target_database} keeps its data" if rec.target_database else ""
        )
        self.catalog.set_state(rec.id, IntegrationState.DELETED, reason, deleted_at=store.now())
        log.info("integration %s (%s) deleted", rec.id, rec.name)
        return self._view(self.catalog.get(rec.id, include_deleted=True))

    def refresh(
        self,
        ident_: str,
        *,
        tables: list[str] | None = None,
        all_tables: bool = False,
        in_error: bool = False,
    ) -> dict[str, Any]:
        """Re-copy some tables, all of them, or those in error (ALTER DATABASE ... REFRESH)."""
        if sum([tables is not None, all_tables, in_error]) != 1:
            raise InvalidParameter("give exactly one of: tables, all, inerror")
        rec = self.catalog.get(ident_)
        with self._lock:
            self._revive(rec.id, "refresh requested")  # a failed integration starts again
        rec = self.catalog.get(rec.id)
        worker = self.workers.get(rec.id)
        if worker is None or not worker.alive or rec.state == IntegrationState.DELETING:
            raise InvalidIntegrationState(
                f"integration {rec.name} is not replicating (state {rec.state}"
                + ("" if rec.target_database else ", no target database")
                + ")",
                hint="resume it first" if rec.state == IntegrationState.PAUSED else "",
            )
        ids: list[TableId] | None = None
        if tables is not None:
            ids = [v.table_id(t) for t in tables]
            if not ids:
                raise InvalidParameter("no tables given")
            if worker.rep is None:
                raise InvalidIntegrationState(
                    f"integration {rec.name} is starting; retry once it replicates",
                )
            known = worker.tracked_tables()
            for t in ids:
                if not worker.filter.includes(t):
                    raise InvalidParameter(
                        f"table {t} is not replicated by integration {rec.name} "
                        "(its data filter excludes it)"
                    )
                if t not in known:
                    raise TableNotFound(
                        f"integration {rec.name} has no table {t}",
                        hint="`zeroetl integration tables` lists its tables; a table new on the "
                        "source appears once its first change is replicated",
                    )
        worker.refresh(ids, in_error=in_error)
        what = (
            "in-error tables"
            if in_error
            else "all tables"
            if all_tables
            else ", ".join(map(str, ids or []))
        )
        log.info("integration %s: refresh of %s requested", rec.id, what)
        return {"integration_id": rec.id, "refresh": what, "accepted": True}

    def integration_tables(self, ident_: str) -> list[dict[str, Any]]:
        rec = self.catalog.get(ident_)
        if not rec.target_database:
            return []
        return self._read(lambda cur: reads.table_states(cur, rec.target_database or "", rec.id))

    def table_state_changes(
        self, ident_: str, *, offset: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        rec = self.catalog.get(ident_)
        if not rec.target_database:
            return []
        db = rec.target_database
        return self._read(lambda cur: reads.table_state_changes(cur, db, rec.id, offset, limit))

    def activity(self, ident_: str, *, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        rec = self.catalog.get(ident_)
        if not rec.target_database:
            return []
        db = rec.target_database
        return self._read(lambda cur: reads.activity(cur, db, rec.id, offset, limit))

    def state_changes(
        self, ident_: str, *, offset: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        rec = self.catalog.get(ident_, include_deleted=True)
        return [
            {
                "integration_id": c["integration_id"],
                "state": c["state"],
                "reason": c["reason"],
                "recorded_at": c["record_time"],
            }
            for c in self.catalog.state_changes(rec.id, offset=offset, limit=limit)
        ]

    # --- target databases -------------------------------------------------------------------

    def create_target_database(
        self,
        integration_id: str,
        database_name: str,
        source_database: str | None = None,
        query_all_states: bool = False,
    ) -> dict[str, Any]:
        """CREATE DATABASE name FROM INTEGRATION 'id' [DATABASE 'src'] [SET QUERY_ALL_STATES]."""
        with self._lock:
            rec = self.catalog.get(integration_id)
            if rec.target_database:
                raise InvalidIntegrationState(
                    f"integration {rec.name} already replicates into database {rec.target_database}"
                )
            if rec.state in (IntegrationState.FAILED, IntegrationState.DELETING):
                raise InvalidIntegrationState(f"integration {rec.name} is {rec.state}")
            self._check_new_database(database_name)
            if source_database is not None and not source_database.strip():
                raise InvalidParameter("source database must not be empty")
            try:
                v.effective_filter(rec.data_filter, source_database)
            except ConfigError as exc:
                raise InvalidParameter(exc.message, hint=exc.hint) from None
            self.catalog.add_database(database_name, rec.id)
            self.catalog.update(
                rec.id,
                target_database=database_name,
                source_database=source_database,
                query_all_states=query_all_states,
            )
            reason = f"target database {database_name} created; initial snapshot starting"
            self.catalog.set_state(rec.id, IntegrationState.CREATING, reason, first_synced_at=None)
            self._known[rec.id] = (IntegrationState.CREATING, reason)
            self._start_worker(self.catalog.get(rec.id))
        log.info("integration %s: target database %s created", rec.id, database_name)
        return self.get_integration(rec.id)

    def drop_target_database(self, name: str) -> None:
        """DROP DATABASE: stop its integration (back to waiting for a database), detach, delete."""
        with self._lock:
            db = self.catalog.database(name)
            if db is None:
                raise TargetDatabaseNotFound(f"no target database named {name!r}")
            worker = self.workers.pop(db["integration_id"] or "", None)
            if worker is not None:
                worker.stop()
                worker.join(self.config.stop_timeout_s)
            owner = db["integration_id"]
            if owner:
                rec = self.catalog.get(owner, include_deleted=True)
                if rec.deleted_at is None:
                    self.catalog.update(owner, target_database=None, source_database=None)
                    reason = f"target database {name} dropped; {PENDING_DB}"
                    self.catalog.set_state(
                        owner, IntegrationState.CREATING, reason, first_synced_at=None
                    )
                    self._known[owner] = (IntegrationState.CREATING, reason)
            with self.hub_lock:
                self.hub.execute(f"DETACH DATABASE IF EXISTS {ident(name)}")
            path = self._db_path(name)
            for file in (path, path.with_name(path.name + ".wal")):
                with suppress(FileNotFoundError):
                    file.unlink()
            self.catalog.drop_database(name)
        log.info("target database %s dropped", name)

    def target_databases(self) -> list[dict[str, Any]]:
        return [{**d, "path": str(self._db_path(d["name"]))} for d in self.catalog.databases()]

    def hub_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the hub (for SQL sessions): every target database by its name."""
        with self.hub_lock:
            return self.hub.cursor()

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

    def _check_new_database(self, name: str) -> None:
        v.check_database_name(name)
        if self.catalog.database(name) is not None or self._db_path(name).exists():
            raise TargetDatabaseAlreadyExists(
                f"target database {name!r} already exists in this warehouse",
                hint="choose another name",
            )

    def _db_path(self, name: str) -> Path:
        return database_path(self.warehouse, name)

    def _adopt(self, name: str) -> None:
        """A database file the catalog does not know (written by `zeroetl replicate`): serve it,
        queryable and not updated, like the database of a deleted integration."""
        try:
            v.check_database_name(name)
        except InvalidParameter:
            log.warning("ignoring %s: not a valid target database name", self._db_path(name))
            return
        self.catalog.add_database(name, None)
        log.info(
            "target database %s found in %s: served read-only, not replicated by this service",
            name,
            self._db_path(name).parent,
        )

    def _attach(self, name: str) -> None:
        with self.hub_lock:
            found = self.hub.execute(
                "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [name]
            ).fetchone()
            if not found or not found[0]:
                self.hub.execute(f"ATTACH {literal(str(self._db_path(name)))} AS {ident(name)}")

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
