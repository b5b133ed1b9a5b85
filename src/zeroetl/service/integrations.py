"""Create, list, modify, delete and refresh integrations, and the reads of their bookkeeping.

Mixed into `Service` (service.py), whose catalog, lock, workers and hub they use; nothing
is recorded until every input is validated.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from zeroetl.catalog import store
from zeroetl.catalog.errors import (
    IntegrationAlreadyExists,
    InvalidIntegrationState,
    InvalidParameter,
    TableNotFound,
)
from zeroetl.catalog.store import IntegrationRecord
from zeroetl.model import IntegrationState, TableId
from zeroetl.service import destination_urls, reads
from zeroetl.service import validation as v
from zeroetl.service.service_config import ServiceConfig
from zeroetl.service.targets import PENDING_DB, TargetDatabases

if TYPE_CHECKING:
    import threading

    from zeroetl.catalog.secrets import SecretBox
    from zeroetl.catalog.store import Catalog
    from zeroetl.service.worker import Worker
    from zeroetl.sources.mysql.connection import SourceParams

log = logging.getLogger("zeroetl.service.service")


class Integrations(TargetDatabases):
    if TYPE_CHECKING:
        catalog: Catalog
        config: ServiceConfig
        workers: dict[str, Worker]
        _lock: threading.RLock
        _known: dict[str, tuple[str, str]]
        secrets: SecretBox

        def _check_running(self) -> None: ...
        def _name_taken(self, name: str) -> bool: ...
        def _params(self, rec: IntegrationRecord) -> SourceParams: ...
        def _read(self, fn: Any) -> list[dict[str, Any]]: ...
        def _restart_worker(self, integration_id: str, reason: str) -> None: ...
        def _revive(self, integration_id: str, why: str) -> bool: ...
        def _view(self, rec: IntegrationRecord) -> dict[str, Any]: ...

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
        destination: str | None = None,
    ) -> dict[str, Any]:
        """Validate everything up front (nothing is recorded on any failure), then create.

        The source comes from the caller only: its URL, `source_password` and the CA
        certificate's PEM text `source_ssl_ca`; the service reads no file and none of its own
        environment variables for it. Contacting the source is bounded in time.

        `destination`: a ClickHouse URL (destination_urls.py); None writes the warehouse's
        DuckDB file."""
        v.check_name(name)
        v.check_description(description)
        v.check_tags(tags or {})
        flt = v.parse_filter(data_filter)
        if self._name_taken(name):
            raise IntegrationAlreadyExists(f"an integration named {name!r} already exists")
        if target_database is not None:
            self._check_new_database(target_database)
        if destination is not None:
            destination = destination_urls.check(destination, self.warehouse)
            self._check_destination_free(destination)
        params = v.source_params(source, source_password, source_ssl_ca)
        v.check_authorized(params, self.config.allowed_sources)
        v.check_source_ready(params)
        if destination is not None:
            destination_urls.check_reachable(destination)
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
            destination=destination,
            state=IntegrationState.CREATING,
            state_reason=PENDING_DB,
        )
        with self._lock:
            if destination is not None:  # again: another create may have taken it meanwhile
                self._check_destination_free(destination)
            self.catalog.add(rec, "integration created; " + PENDING_DB)
            self._known[rec.id] = (rec.state, rec.state_reason)
        log.info("integration %s (%s) created from %s", rec.id, name, params.redacted_url())
        if target_database is not None:
            self.create_target_database(rec.id, target_database, query_all_states=query_all_states)
        return self.get_integration(rec.id)

    def _check_destination_free(self, url: str) -> None:
        records, _ = self.catalog.integrations()
        live = {r.id for r in records}
        kept = [
            self.catalog.get(db["integration_id"], include_deleted=True)
            for db in self.catalog.databases()
            if db["integration_id"] and db["integration_id"] not in live
        ]
        destination_urls.check_unique(
            url, [(r.name, r.destination) for r in records], [(r.name, r.destination) for r in kept]
        )

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
