"""One integration's replication on a thread of its own, and the lifecycle state derived from it.

The worker owns the integration's DuckDB file (one writer per file; readers use cursors of their
own): it attaches the file to the service's hub and writes through a cursor of its own. For an
integration with a ClickHouse destination it also opens that by URL; the data goes there and
the file mirrors the bookkeeping for monitoring (mirror.py). Whatever the
engine raises ends here: transient errors (source down or rejecting connections for a moment,
network cut, disk full, file locked, I/O error) are retried with capped exponential backoff for
as long as they last (state `needs_attention`, with the error as the reason), and replication
resumes from the committed checkpoint once they clear; terminal ones (a rejected password, a
prerequisite the source no longer meets, a bug) end the worker with an error code and message
(state `failed`) until `modify` or `refresh` starts a new one. No exception leaves the thread,
so one integration can never take down the others or the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from zeroetl.destinations.base import Destination
from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.destinations.duckdb.upkeep import Upkeep
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.errors import TransientError, ZeroEtlError
from zeroetl.model import IntegrationState, TableId, TableState
from zeroetl.service import destination_urls
from zeroetl.service.mirror import MirroredDestination
from zeroetl.service.readgate import ReadGate
from zeroetl.sources.mysql.connection import SourceParams, scrub
from zeroetl.sources.mysql.source import MySqlSource

log = logging.getLogger(__name__)

_RESYNCING = (TableState.RESYNC_REQUIRED, TableState.RESYNC_INITIATED)
FIRST_RETRY_S = 1.0
MAX_ERRORS = 10  # failed tables named one by one in `errors()`


@dataclass
class WorkerSpec:
    integration_id: str
    database: str  # target database: attached under this name
    path: Path  # <warehouse>/databases/<database>.duckdb
    params: SourceParams = field(repr=False)
    data_filter: DataFilter
    settings: EngineSettings
    first_synced: bool  # the first snapshot finished once (later snapshots are resyncs)
    # A ClickHouse URL (destination_urls.py): the data goes there, and `path` mirrors the
    # bookkeeping for monitoring (mirror.py). None: `path` holds the data too.
    destination: str | None = None


class Worker:
    def __init__(
        self,
        spec: WorkerSpec,
        hub: duckdb.DuckDBPyConnection,
        hub_lock: threading.Lock,
        gate: ReadGate | None = None,
    ):
        self.spec = spec
        self.hub = hub
        self.hub_lock = hub_lock
        self.gate = gate  # the hub's readers, held back for a checkpoint that needs none
        self.filter = spec.data_filter
        self.first_synced = spec.first_synced
        self.rep: Replicator | None = None
        self.failure: tuple[str, str] | None = None  # (error code, message): state failed
        self.retry_error = ""  # the transient error being waited out between attempts
        self.retry_code = ""  # its error code
        self.retries = 0  # attempts that failed in a row (reset by progress)
        self._modify_until: tuple[Replicator, int] | None = None
        # Refresh requests made before the first Replicator exists (the worker is starting).
        self._refreshes: list[tuple[tuple[TableId, ...] | None, bool]] = []
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
        """Queued for the engine; kept for the next one while none runs (starting, retrying)."""
        request = (None if tables is None else tuple(tables), in_error)
        with self._lock:
            if self.rep is not None:
                self.rep.refresh(request[0], in_error=in_error)
            else:
                self._refreshes.append(request)

    def tracked_tables(self) -> set[TableId]:
        rep = self.rep
        if rep is None:
            return set()
        return {s.id for s in list(rep.book.status.values()) if s.state is not TableState.DELETED}

    def runtime(self) -> dict[str, object]:
        """Lag, checkpoint and phase for describe (values may be a moment old)."""
        rep = self.rep
        if rep is None:
            return {"phase": "starting", "lag_ms": None, "checkpoint": None, "detected": None}
        s = rep.status()
        return {
            "phase": "failed" if self.failure else s["phase"],
            "lag_ms": self.lag_ms(),
            "checkpoint": s["checkpoint"],
            "detected": s.get("latest_detected_change_time"),  # epoch seconds or None
        }

    def errors(self) -> list[tuple[str, str]]:
        """What is wrong right now, as (error code, message): the error that stopped the worker,
        the transient error being retried, what the source needs, the tables that failed.
        Empty when all is well."""
        if self.failure is not None:
            return [self.failure]
        rep = self.rep
        out: list[tuple[str, str]] = []
        if rep is None or rep.phase in ("starting", "stopped", "reconnecting"):
            error = self.retry_error if rep is None else (rep.last_error or self.retry_error)
            if error:
                code = self.retry_code if error == self.retry_error else "SourceUnavailable"
                out.append((code or "SourceUnavailable", _retrying(self._clean(error))))
        if rep is None:
            return out
        for part in filter(None, self._clean(rep.attention()).split(" | ")):
            # The engine's parts: failing prerequisites, or what the binlog held (a fault).
            code = "SourceNotReady" if part.startswith("source prerequisite") else "BinlogFault"
            out.append((code, part))
        failed = sorted(
            (str(s.id), s.reason)
            for s in list(rep.book.status.values())
            if s.state is TableState.FAILED
        )
        out.extend(("TableFailed", f"table {t} failed: {r}") for t, r in failed[:MAX_ERRORS])
        if len(failed) > MAX_ERRORS:
            more = len(failed) - MAX_ERRORS
            out.append(("TableFailed", f"and {more} more failed table(s): see the tables list"))
        return out

    def lag_ms(self) -> float | None:
        """The engine's lag while it hears from the source; once it stops hearing (source down,
        network cut, warehouse unwritable, worker failed), the lag grows with the time since it
        last knew, so a stalled integration never reads as caught up. None before it knew."""
        rep = self.rep
        lag = None if rep is None else rep.current_lag_ms()  # counts tables a fault holds back
        if rep is None or lag is None:
            return None
        age_s = time.monotonic() - rep.lag_updated
        # Heartbeats (idle) or commits (busy) refresh it several times a second when healthy;
        # a destination's commit interval spaces commits further (its wait is in `lag` already).
        fresh_s = max(2.0, 4 * self.spec.settings.heartbeat_s, 2 * rep.pacer.interval)
        if self.failure is None and rep.phase == "streaming" and age_s <= fresh_s:
            return lag
        return lag + age_s * 1000.0

    # --- state ------------------------------------------------------------------------------

    def observe(self) -> tuple[str, str]:
        """The lifecycle state and its reason, as of now."""
        if self.failure is not None:
            return IntegrationState.FAILED, f"{self.failure[0]}: {self.failure[1]}"
        rep = self.rep
        if rep is None or (self.retry_error and rep.phase in ("starting", "stopped")):
            if self.retry_error:
                return IntegrationState.NEEDS_ATTENTION, _retrying(self._clean(self.retry_error))
            return (
                IntegrationState.SYNCING if self.first_synced else IntegrationState.CREATING
            ), "starting replication"
        pending = self._modify_until
        if pending is not None:
            if pending[0] is rep and rep.commands_done < pending[1]:
                return IntegrationState.MODIFYING, "applying the new data filter"
            self._modify_until = None
        if rep.phase == "reconnecting":
            return IntegrationState.NEEDS_ATTENTION, _retrying(self._clean(rep.last_error))
        attention = rep.attention()  # a binlog fault or a failing prerequisite, with its fix
        if attention:
            return IntegrationState.NEEDS_ATTENTION, self._clean(attention)
        statuses = list(rep.book.status.values())
        resyncing = sorted(str(s.id) for s in statuses if s.state in _RESYNCING)
        failed = sorted((str(s.id), s.reason) for s in statuses if s.state is TableState.FAILED)
        if not self.first_synced:
            if rep.phase in ("starting", "snapshot") or resyncing:
                return IntegrationState.CREATING, "initial snapshot under way"
            self.first_synced = True
        if rep.phase in ("starting", "snapshot"):
            return IntegrationState.SYNCING, "resuming replication"
        if resyncing:
            return (
                IntegrationState.SYNCING,
                f"resync of {len(resyncing)} table(s) under way: {_few(resyncing)}",
            )
        if failed:
            detail = ", ".join(f"{t} ({r})" for t, r in failed[:3])
            return IntegrationState.NEEDS_ATTENTION, f"{len(failed)} table(s) failed: {detail}"
        return IntegrationState.ACTIVE, ""

    def _clean(self, text: str) -> str:
        return scrub(text, self.spec.params.password)

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        dest = self._open_destination()
        if dest is None:
            return
        spec = self.spec
        try:
            while not self._stop.is_set():
                with self._lock:
                    rep = Replicator(
                        MySqlSource(spec.params),
                        dest,
                        integration_id=spec.integration_id,
                        data_filter=self.filter,
                        settings=spec.settings,
                    )
                    for tables, in_error in self._refreshes:
                        rep.refresh(tables, in_error=in_error)
                    self._refreshes.clear()
                    self.rep = rep
                if self._stop.is_set():
                    break
                try:
                    rep.run()
                    self.retry_error = self.retry_code = ""
                    break  # run() returns only once stopped
                except TransientError as exc:
                    if rep.committed is not None:
                        self.retries = 0  # it got going before failing: start the backoff over
                    self._wait_out(exc.code, exc.message)
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

    def _open_destination(self) -> Destination | None:
        """Attach the target database (and open the integration's ClickHouse destination, if
        any); a file held by another process, a full disk or an unreachable server is waited
        out like any transient error. None when stopped or failed."""
        spec = self.spec
        while not self._stop.is_set():
            try:
                local = self._open_local()
                if spec.destination is None:
                    return local
                primary: Destination | None = None
                try:
                    primary = self._open_primary()
                    return MirroredDestination(primary, local)
                except BaseException:
                    if primary is not None:
                        primary.close()
                    with self.hub_lock:
                        local.close()
                    raise
            except TransientError as exc:
                self._wait_out(exc.code, exc.message)
            except ZeroEtlError as exc:
                self._fail(exc.code, exc.message)
                return None
            except Exception as exc:  # a bug; the service goes on
                log.exception(
                    "integration %s: cannot open its target database", spec.integration_id
                )
                self._fail("InternalError", f"{type(exc).__name__}: {exc}")
                return None
        return None

    def _open_local(self) -> DuckDBDestination:
        spec = self.spec
        return DuckDBDestination(
            spec.path,
            spec.integration_id,
            upkeep_settings=upkeep_of(spec.settings),
            hub=self.hub,
            hub_lock=self.hub_lock,
            catalog=spec.database,
            quiesce=self.gate.window if self.gate is not None else None,
        )

    def _open_primary(self) -> Destination:
        assert self.spec.destination is not None
        return destination_urls.open_destination(self.spec.destination, self.spec.integration_id)

    def _wait_out(self, code: str, message: str) -> None:
        """Record a transient error and sleep the next backoff step (or until stopped)."""
        cap = self.spec.settings.reconnect_max_s
        delay = min(FIRST_RETRY_S * 2**self.retries, cap)
        self.retries = min(self.retries + 1, 16)
        self.retry_error, self.retry_code = message, code
        log.warning(
            "integration %s: %s; retrying in %.0fs",
            self.spec.integration_id,
            self._clean(message),
            delay,
        )
        self._stop.wait(delay)

    def _fail(self, code: str, message: str) -> None:
        message = self._clean(message)
        log.error("integration %s failed: %s: %s", self.spec.integration_id, code, message)
        self.failure = (code, message)


def upkeep_of(settings: EngineSettings) -> Upkeep:
    """The destination's upkeep settings from the engine's."""
    return Upkeep(
        wal_limit_bytes=int(settings.wal_limit_mb * (1 << 20)),
        history_max_age_s=settings.history_days * 86400.0,
        history_max_rows=settings.history_rows,
        prune_every_s=settings.history_prune_s,
    )


def _retrying(error: str) -> str:
    return f"replication paused, retrying with backoff until this clears: {error}"


def _few(names: list[str], n: int = 3) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more
