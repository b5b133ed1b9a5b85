"""One integration's replication on a thread of its own, and the lifecycle state derived from it.

The worker owns the integration's DuckDB file (one writer per file, STYLE.md practice 8): it
attaches the file to the service's hub and writes through a cursor of its own. Whatever the
engine raises ends here: transient errors are retried with backoff (state `syncing`), terminal
ones end the worker with an error code and message (state `failed`); no exception leaves the
thread, so one integration can never take down the others or the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.errors import TransientError, ZeroEtlError
from zeroetl.model import TableId, TableState
from zeroetl.sources.mysql.connection import SourceParams, scrub

log = logging.getLogger(__name__)

# Lifecycle states (PRODUCT.md section 4).
CREATING = "creating"
ACTIVE = "active"
SYNCING = "syncing"
NEEDS_ATTENTION = "needs_attention"
MODIFYING = "modifying"
FAILED = "failed"
DELETING = "deleting"
DELETED = "deleted"  # tombstone in the catalog; never listed

_RESYNCING = (TableState.RESYNC_REQUIRED, TableState.RESYNC_INITIATED)


@dataclass
class WorkerSpec:
    integration_id: str
    database: str  # target database: attached under this name
    path: Path  # <warehouse>/databases/<database>.duckdb
    params: SourceParams = field(repr=False)
    data_filter: DataFilter
    settings: EngineSettings
    first_synced: bool  # the first snapshot finished once (later snapshots are resyncs)


class Worker:
    def __init__(self, spec: WorkerSpec, hub: duckdb.DuckDBPyConnection, hub_lock: threading.Lock):
        self.spec = spec
        self.hub = hub
        self.hub_lock = hub_lock
        self.filter = spec.data_filter
        self.first_synced = spec.first_synced
        self.rep: Replicator | None = None
        self.failure: tuple[str, str] | None = None  # (error code, message): state failed
        self.retry_error = ""  # the transient error being waited out between attempts
        self._modify_until: tuple[Replicator, int] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run, name=f"integration-{spec.integration_id[:8]}", daemon=True
        )

    # --- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Ask the engine to stop at its next check; the open batch is rolled back, so the
        committed checkpoint and data stay consistent (replay starts from there)."""
        self._stop.set()
        with self._lock:
            if self.rep is not None:
                self.rep.stop()

    def join(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def set_filter(self, data_filter: DataFilter) -> None:
        with self._lock:
            self.filter = data_filter
            if self.rep is not None:
                self.rep.set_filter(data_filter)
                self._modify_until = (self.rep, self.rep.commands_sent)

    def refresh(self, tables: Iterable[TableId] | None, *, in_error: bool) -> None:
        with self._lock:
            if self.rep is not None:
                self.rep.refresh(tables, in_error=in_error)

    def tracked_tables(self) -> set[TableId]:
        rep = self.rep
        if rep is None:
            return set()
        return {s.id for s in list(rep.book.status.values()) if s.state is not TableState.DELETED}

    def runtime(self) -> dict[str, object]:
        """Lag, checkpoint and phase for describe (values may be a moment old)."""
        rep = self.rep
        if rep is None:
            return {"phase": "starting", "lag_ms": None, "checkpoint": None, "last_error": ""}
        s = rep.status()
        return {
            "phase": s["phase"],
            "lag_ms": s["lag_ms"],
            "checkpoint": s["checkpoint"],
            "last_error": scrub(
                str(s["last_error"] or self.retry_error), self.spec.params.password
            ),
        }

    # --- state ------------------------------------------------------------------------------

    def observe(self) -> tuple[str, str]:
        """The lifecycle state and its reason, as of now."""
        if self.failure is not None:
            return FAILED, f"{self.failure[0]}: {self.failure[1]}"
        rep = self.rep
        if rep is None or (self.retry_error and rep.phase in ("starting", "stopped")):
            if self.retry_error:
                return SYNCING, f"source unavailable, retrying: {self._clean(self.retry_error)}"
            return (SYNCING if self.first_synced else CREATING), "starting replication"
        pending = self._modify_until
        if pending is not None:
            if pending[0] is rep and rep.commands_done < pending[1]:
                return MODIFYING, "applying the new data filter"
            self._modify_until = None
        if rep.phase == "reconnecting":
            return SYNCING, f"reconnecting to the source: {self._clean(rep.last_error)}"
        attention = rep.attention()  # a binlog fault or a failing prerequisite, with its fix
        if attention:
            return NEEDS_ATTENTION, self._clean(attention)
        statuses = list(rep.book.status.values())
        resyncing = sorted(str(s.id) for s in statuses if s.state in _RESYNCING)
        failed = sorted((str(s.id), s.reason) for s in statuses if s.state is TableState.FAILED)
        if not self.first_synced:
            if rep.phase in ("starting", "snapshot") or resyncing:
                return CREATING, "initial snapshot under way"
            self.first_synced = True
        if rep.phase in ("starting", "snapshot"):
            return SYNCING, "resuming replication"
        if resyncing:
            return SYNCING, f"resync of {len(resyncing)} table(s) under way: {_few(resyncing)}"
        if failed:
            detail = ", ".join(f"{t} ({r})" for t, r in failed[:3])
            return NEEDS_ATTENTION, f"{len(failed)} table(s) failed: {detail}"
        return ACTIVE, ""

    def _clean(self, text: str) -> str:
        return scrub(text, self.spec.params.password)

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        spec = self.spec
        try:
            with self.hub_lock:
                dest = DuckDBDestination(
                    spec.path, spec.integration_id, hub=self.hub, catalog=spec.database
                )
        except ZeroEtlError as exc:
            self._fail(exc.code, exc.message)
            return
        except Exception as exc:  # a bug; the service goes on
            log.exception("integration %s: cannot open its target database", spec.integration_id)
            self._fail("InternalError", f"{type(exc).__name__}: {exc}")
            return
        backoff = 1.0
        try:
            while not self._stop.is_set():
                with self._lock:
                    rep = Replicator(
                        spec.params,
                        dest,
                        integration_id=spec.integration_id,
                        data_filter=self.filter,
                        settings=spec.settings,
                    )
                    self.rep = rep
                if self._stop.is_set():
                    break
                try:
                    rep.run()
                    self.retry_error = ""
                    break  # run() returns only once stopped
                except TransientError as exc:
                    self.retry_error = exc.message
                    log.warning(
                        "integration %s: %s; retrying in %.0fs",
                        spec.integration_id,
                        self._clean(exc.message),
                        backoff,
                    )
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, spec.settings.reconnect_max_s)
                except ZeroEtlError as exc:
                    self._fail(exc.code, str(exc))
                    break
                except Exception as exc:
                    log.exception("integration %s: unexpected error", spec.integration_id)
                    self._fail("InternalError", f"{type(exc).__name__}: {exc}")
                    break
        finally:
            with self.hub_lock:
                dest.close()

    def _fail(self, code: str, message: str) -> None:
        message = self._clean(message)
        log.error("integration %s failed: %s: %s", self.spec.integration_id, code, message)
        self.failure = (code, message)


def _few(names: list[str], n: int = 3) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more
