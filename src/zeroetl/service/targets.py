"""Target databases: create, drop, adopt and attach them to the hub.

Mixed into `Service` (service.py). A target database is one DuckDB file under
`<warehouse>/databases/`, attached to the hub under its name. For an integration with a
ClickHouse destination the data lives in ClickHouse and the file mirrors the bookkeeping
(mirror.py); DROP DATABASE removes the file and leaves ClickHouse's tables and checkpoint, so
a target database created again resumes from that checkpoint.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from zeroetl.catalog.errors import (
    InvalidIntegrationState,
    InvalidParameter,
    TargetDatabaseAlreadyExists,
    TargetDatabaseNotFound,
)
from zeroetl.errors import ConfigError
from zeroetl.model import IntegrationState
from zeroetl.service import validation as v
from zeroetl.service.hub import database_path
from zeroetl.service.service_config import ServiceConfig
from zeroetl.sqltext import ident, literal

if TYPE_CHECKING:
    import threading

    from zeroetl.catalog.store import Catalog, IntegrationRecord
    from zeroetl.service.worker import Worker

log = logging.getLogger("zeroetl.service.service")

PENDING_DB = "waiting for a target database (CREATE DATABASE ... FROM INTEGRATION)"


class TargetDatabases:
    if TYPE_CHECKING:
        catalog: Catalog
        config: ServiceConfig
        workers: dict[str, Worker]
        _lock: threading.RLock
        _known: dict[str, tuple[str, str]]
        warehouse: Path
        hub: duckdb.DuckDBPyConnection
        hub_lock: threading.Lock

        def _start_worker(self, rec: IntegrationRecord) -> None: ...
        def _close_reader(self, database: str) -> None: ...
        def get_integration(self, ident_: str) -> dict[str, Any]: ...

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
            self._close_reader(name)
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
