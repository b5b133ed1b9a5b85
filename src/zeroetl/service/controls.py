"""Pause, resume and restart of one integration (the service's controls beside its lifecycle).

A paused integration has no worker: nothing reads its source or writes its target database,
which stays attached and queryable. The state `paused` is recorded in the catalog, so a service
restart leaves it paused; `resume` starts a worker again from the committed checkpoint, as a
restart does. Mixed into `Service` (service.py), whose catalog, lock and workers they use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from zeroetl.catalog.errors import InvalidIntegrationState
from zeroetl.model import IntegrationState

if TYPE_CHECKING:
    from zeroetl.catalog.store import Catalog, IntegrationRecord

log = logging.getLogger("zeroetl.service.service")

NO_DATABASE_HINT = "create its target database first (CREATE DATABASE ... FROM INTEGRATION)"


class Controls:
    if TYPE_CHECKING:
        catalog: Catalog
        _lock: threading.RLock
        _known: dict[str, tuple[str, str]]

        def _view(self, rec: IntegrationRecord) -> dict[str, Any]: ...
        def get_integration(self, ident_: str) -> dict[str, Any]: ...
        def _stop_worker(self, integration_id: str) -> None: ...
        def _start_worker(self, rec: IntegrationRecord) -> None: ...
        def _restart_worker(self, integration_id: str, reason: str) -> None: ...

    def pause(self, ident_: str) -> dict[str, Any]:
        """Stop replication at the next transaction boundary and keep it stopped (across service
        restarts too) until `resume`. The committed checkpoint stays; the open batch rolls
        back. Pausing a paused integration changes nothing."""
        with self._lock:
            rec = self.catalog.get(ident_)
            if rec.state == IntegrationState.PAUSED:
                return self._view(rec)
            if not rec.target_database:
                raise InvalidIntegrationState(
                    f"integration {rec.name} has no target database: nothing replicates yet",
                    hint=NO_DATABASE_HINT,
                )
            self._stop_worker(rec.id)
            reason = "paused on request; resume continues from the checkpoint"
            self.catalog.set_state(rec.id, IntegrationState.PAUSED, reason)
            self._known[rec.id] = (IntegrationState.PAUSED, reason)
        log.info("integration %s (%s) paused", rec.id, rec.name)
        return self.get_integration(rec.id)

    def resume(self, ident_: str) -> dict[str, Any]:
        """Start a paused integration again from its committed checkpoint. Resuming one that
        replicates changes nothing; a failed one is for `restart`."""
        with self._lock:
            rec = self.catalog.get(ident_)
            if rec.state == IntegrationState.FAILED:
                raise InvalidIntegrationState(
                    f"integration {rec.name} is failed, not paused",
                    hint="fix the cause, then restart it",
                )
            if not rec.target_database:
                raise InvalidIntegrationState(
                    f"integration {rec.name} has no target database: nothing replicates yet",
                    hint=NO_DATABASE_HINT,
                )
            if rec.state != IntegrationState.PAUSED:
                return self._view(rec)
            state = IntegrationState.SYNCING if rec.first_synced_at else IntegrationState.CREATING
            reason = "resumed; replication continues from the checkpoint"
            self.catalog.set_state(rec.id, state, reason)
            self._known[rec.id] = (state, reason)
            self._start_worker(self.catalog.get(rec.id))
        log.info("integration %s (%s) resumed", rec.id, rec.name)
        return self.get_integration(rec.id)

    def restart(self, ident_: str) -> dict[str, Any]:
        """Stop the integration's replication and start it again from the catalog and the
        committed checkpoint (a failed one too, as `modify` or `refresh` would)."""
        with self._lock:
            rec = self.catalog.get(ident_)
            if rec.state == IntegrationState.PAUSED:
                raise InvalidIntegrationState(
                    f"integration {rec.name} is paused", hint="resume it (that starts it again)"
                )
            if not rec.target_database:
                raise InvalidIntegrationState(
                    f"integration {rec.name} has no target database: nothing replicates yet",
                    hint=NO_DATABASE_HINT,
                )
            self._restart_worker(rec.id, "restarted on request; continuing from the checkpoint")
        log.info("integration %s (%s) restarted", rec.id, rec.name)
        return self.get_integration(rec.id)
