"""The integration runner: first snapshot, then the source's stream, applied in order, exactly
once.

One thread (the caller's) owns every warehouse write. The source's stream gathers row changes
into its open batch (sources/base.py); the runner seals it and applies the `ChangeBatch` at a
source transaction boundary as soon as the stream is quiet (everything the source sent is
read), or under load once `batch_rows` or `batch_ms` is reached (adaptive batching: an idle
stream's lag is one commit, a busy one's batches grow with the load), and commits it with the
checkpoint in one warehouse transaction. A batch the stream seals on its own at `batch_rows`
(inside one large source transaction) is applied at once, the warehouse transaction staying
open until the transaction's `Commit`.

The engine knows the source and the destination by their protocols only (sources/base.py,
destinations/base.py); capabilities it consults here: `atomic_checkpoint` with
`idempotent_replay` (refused when neither), `transactional_ddl` and `min_commit_interval_s`
(commit pacing for destinations that want few, larger inserts: engine/pacing.py).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from zeroetl.destinations.base import Destination
from zeroetl.engine import batch_apply, snapshot_phase
from zeroetl.engine.batch_apply import TableReplay
from zeroetl.engine.context import EngineContext
from zeroetl.engine.ddl_apply import DdlApplier, ReplayFromCheckpoint
from zeroetl.engine.fault_apply import FaultApplier
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.pacing import Pacer
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.errors import (
    BinlogPurged,
    ConfigError,
    DestinationError,
    TransientError,
)
from zeroetl.model import (
    ChangeBatch,
    Position,
    SchemaChange,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.sources.base import ChangeStream, Commit, Idle, Source, SourceFault, TableError

log = logging.getLogger(__name__)


class Replicator(EngineContext):
    def __init__(
        self,
        source: Source,
        dest: Destination,
        *,
        integration_id: str,
        data_filter: DataFilter,
        settings: EngineSettings | None = None,
        progress: Progress | None = None,
    ) -> None:
        caps = dest.capabilities
        if not caps.atomic_checkpoint and not caps.idempotent_replay:
            raise ConfigError(
                f"integration {integration_id}: the destination can neither commit the "
                "checkpoint with the data nor replay a batch safely",
                hint="such a destination could lose or double changes after a crash",
            )
        super().__init__(
            source,
            dest,
            integration_id=integration_id,
            data_filter=data_filter,
            settings=settings,
            progress=progress,
        )
        self.ddl = DdlApplier(self)
        self.target: Position | None = None
        self._last_source_ts: float | None = None
        self._lag_ms: float | None = None
        self.lag_updated = time.monotonic()  # when lag_ms was last set (see lag_ms)
        self.reconnects = 0  # source connections lost and reopened since start
        # Source faults and the periodic prerequisite re-check (off the apply path).
        self.faults = FaultApplier(self)
        self._commands: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        # Commands queued and committed so far: the service shows `modifying` in between.
        self.commands_sent = 0
        self.commands_done = 0
        # A schema change was applied on a destination without transactional DDL: commit at
        # the next source transaction boundary, whatever the batch size.
        self._commit_soon = False
        # table -> the (row schema, recorded schema) pair last found to have the same shape
        self._shape_ok: dict[TableId, tuple[TableSchema, TableSchema]] = {}
        self.pacer = Pacer(caps.min_commit_interval_s)  # least time between data commits

    # -- public ---------------------------------------------------------------------------
    @property
    def lag_ms(self) -> float | None:
        """Source commit to warehouse commit, as of `lag_updated`; readers that see it go stale
        (the source went quiet without heartbeats, or the stream is down) add the time since."""
        return self._lag_ms

    @lag_ms.setter
    def lag_ms(self, value: float | None) -> None:
        self._lag_ms = value
        self.lag_updated = time.monotonic()

    def stop(self) -> None:
        self.stop_event.set()

    def refresh(self, tables: Iterable[TableId] | None = None, *, in_error: bool = False) -> None:
        """Re-copy tables (all tracked ones when `tables` is None; only Failed/ResyncRequired
        ones with `in_error`). Thread-safe; takes effect at the next transaction boundary."""
        self.commands_sent += 1
        self._commands.put(("refresh", (None if tables is None else tuple(tables), in_error)))

    def set_filter(self, data_filter: DataFilter) -> None:
        """Change the data filter: newly included tables are copied, excluded ones dropped.
        Thread-safe; takes effect at the next transaction boundary."""
        self.commands_sent += 1
        self._commands.put(("filter", data_filter))

    def run(self) -> None:
        """Replicate until stopped (or caught up, with `until_caught_up`).

        A source that cannot be reached at start-up is an error at once; once it has been
        reached, connection losses (during the snapshot too) are retried with backoff."""
        self.faults.start()
        try:
            try:
                at_start = self.source.position()  # unreachable at start-up: an error at once
                if self.settings.until_caught_up:
                    self.target = at_start
            finally:
                self.source.close()
            snapshot_phase.snapshot_with_retries(self)
            self.phase = "streaming"
            self._stream_with_retries()
        finally:
            self.phase = "stopped"
            self.faults.stop()
            self.copier.close()
            self.source.close()
            if self.txn_open:
                self.dest.rollback()
                self.txn_open = False

    def status(self) -> dict[str, object]:
        """A summary for operators (any thread; values may be a moment old)."""
        counts: dict[str, int] = {}
        for st in list(self.book.status.values()):
            counts[st.state.value] = counts.get(st.state.value, 0) + 1
        return {
            "phase": self.phase,
            "checkpoint": str(self.committed) if self.committed else None,
            "gtid_set": self.committed.gtid_set if self.committed else None,
            "lag_ms": self.current_lag_ms(),
            # source commit time (epoch s) of the newest transaction read, applied or not
            "latest_detected_change_time": self._last_source_ts,
            "last_error": self.last_error,
            "attention": self.attention(),
            "reconnects": self.reconnects,
            "tables": counts,
        }

    def attention(self) -> str:
        """Why the source needs an operator (a binlog fault or a failing prerequisite, with the
        fix), or "". Any thread."""
        return self.faults.health.attention()

    def current_lag_ms(self) -> float | None:
        """Lag of the last applied change; while tables miss changes because of a binlog fault,
        the age of the oldest change they miss (they are not current until re-copied). Changes
        read but not yet committed (waiting for the commit interval, or in a long source
        transaction) count from when they were read: the lag never hides them."""
        lag = self.lag_ms
        waiting = self.pacer.waiting_ms(self.pending_changes, self.pending_since)
        if waiting:
            lag = max(lag or 0.0, waiting)
        return self.faults.lag_ms(lag)

    # -- streaming ------------------------------------------------------------------------
    def _stream_with_retries(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            since = self.committed
            try:
                if self.phase != "reconnecting":
                    self.phase = "streaming"
                # After a loss the phase stays "reconnecting" until the source answers again
                # (the first item below): operators never see a retry as a healthy stream.
                if self._stream():
                    return
                backoff = 0.5
            except (TableReplay, ReplayFromCheckpoint) as exc:
                log.warning("%s", exc)
                self.abandon_open_batch()
            except BinlogPurged as exc:
                log.error("%s; starting a fresh snapshot of every table", exc)
                self.progress.message(f"{exc}: taking a fresh snapshot")
                self._restart_from_scratch(str(exc))
            except TransientError as exc:
                if self.committed != since:
                    backoff = 0.5  # progress since the last (re)connect: start over
                self.reconnects += 1
                backoff = self.wait_after(exc, backoff)

    def _restart_from_scratch(self, reason: str) -> None:
        self.abandon_open_batch()
        start = self.source.position()
        self.dest.begin()
        self.dest.save_checkpoint(start)
        for st in list(self.book.tracked()):
            self.book.require_resync(st.id, f"fresh snapshot: {reason}", start)
        self.book.flush()
        self.dest.commit()
        self.committed = self.position = start

    def _stream(self) -> bool:
        """Stream until stopped (False) or caught up (True). Raises on source errors."""
        assert self.committed is not None
        self.position = self.committed
        self.stream = self.source.stream(
            self.committed,
            replica_id=self.settings.replica_server_id(self.integration_id),
            wanted=self.wanted,
            admit=self._admit,
            heartbeat_s=self.settings.heartbeat_s,
            batch_rows=self.settings.batch_rows,
        )
        try:
            return self._loop(self.stream)
        finally:
            self.stream.close()
            self.stream = None

    def _loop(self, stream: ChangeStream) -> bool:
        flush_s = self.settings.batch_ms / 1000.0
        adaptive = self.settings.adaptive_batching
        resyncing = False  # a resync chunk was just copied: look for more work at once
        while not self.stop_event.is_set():
            if not self.txn_open and not self.pending_changes and not self._commands.empty():
                self._handle_commands()
            if self._caught_up():
                return True
            timeout = 0.0 if resyncing else 0.2
            if self.pending_changes:
                timeout = max(0.0, self.pending_since + flush_s - time.monotonic())
                if adaptive and not self.in_txn:
                    # At a source transaction boundary: commit as soon as the stream is quiet;
                    # while more is on its way, keep gathering (the commit's own time lets the
                    # next batch grow: batches grow with the load, up to batch_rows/batch_ms).
                    timeout = 0.0 if stream.quiet() else min(timeout, 0.001)
                if not self.in_txn and not self._urgent():
                    timeout = max(timeout, self.pacer.remaining())  # the commit interval
            event = stream.next(timeout)
            if event is not None and self.phase == "reconnecting":
                self.phase = "streaming"
            if event is None:
                if self.pending_changes and not self.in_txn and self._due(flush_s, stream):
                    self._commit()
                self.faults.watch()
                # Nothing to apply: spend the quiet time copying tables that need it.
                resyncing = not self.in_txn and self._work_on_resyncs()
                continue
            if isinstance(event, ChangeBatch):  # sealed by the stream: a full batch
                batch_apply.apply_batch(self, event)
            elif isinstance(event, Commit):
                self.position = event.position
                self._last_source_ts = event.timestamp
                self.in_txn = False
                if self._should_commit(flush_s):
                    self._commit()
                self.faults.watch()
            elif isinstance(event, SchemaChange):
                self._schema_change(event)
            elif isinstance(event, Idle):
                if self.pending_changes and not self._urgent() and not self.pacer.due():
                    # Quiet, but the commit interval has not passed: keep reading (a short
                    # pause first: a source may report idle at once, again and again).
                    self.stop_event.wait(min(self.pacer.remaining(), 0.05))
                    continue
                self.lag_ms = 0.0
                if not self.pending_changes:
                    self.position = event.position
                    if self.committed is None or event.position != self.committed:
                        self._commit()
                else:
                    self._commit()
                self.faults.watch()
                if not self._work_on_resyncs():
                    self.dest.checkpoint_if_idle()  # housekeeping while nothing waits
            elif isinstance(event, TableError):
                self.ensure_txn()
                self.book.fail(event.table, event.reason, self.position)
                self.touch()
            elif isinstance(event, SourceFault):
                self.faults.apply(event)
        if self.pacer.active and self.pending_changes and not self.in_txn:
            # Stopped at a transaction boundary: commit what waited for the interval rather
            # than read it again next time (a warehouse that refuses just rolls it back).
            try:
                self._commit()
            except DestinationError as exc:
                log.warning("not committed at stop (replayed at the next start): %s", exc)
        return False

    def _schema_change(self, event: SchemaChange) -> None:
        if not self.dest.capabilities.transactional_ddl and self.pending_changes:
            # The DDL cannot be rolled back with what precedes it: commit that first (a
            # schema change is a transaction of its own, so this is a boundary).
            self._commit()
        batch_apply.apply_batch(self, self.stream.seal() if self.stream else None)
        self.ensure_txn()
        self.ddl.apply(event)
        self.touch()
        if not self.dest.capabilities.transactional_ddl:
            self._commit_soon = True

    def _handle_commands(self) -> None:
        assert self.committed is not None
        while not self._commands.empty():
            kind, arg = self._commands.get()
            self.dest.begin()
            try:
                if kind == "refresh":
                    assert isinstance(arg, tuple)
                    self._refresh(arg[0], bool(arg[1]))
                elif kind == "filter":
                    assert isinstance(arg, DataFilter)
                    self.filter = arg
                    snapshot_phase.reconcile_filter(self)
                self.book.flush()
                self.dest.commit()
            except BaseException:
                self.dest.rollback()
                raise
            self.commands_done += 1

    def _refresh(self, tables: tuple[TableId, ...] | None, in_error: bool) -> None:
        bad = (TableState.FAILED, TableState.RESYNC_REQUIRED)
        if tables is None:
            targets = [s.id for s in self.book.tracked() if not in_error or s.state in bad]
        else:
            targets = [t for t in tables if self.wanted(t)]
        for table in targets:
            self.book.require_resync(table, "refresh requested", self.committed)

    def _caught_up(self) -> bool:
        if self.target is None or self.committed is None or self.pending_changes:
            return False
        return self.committed >= self.target and not self.copier.pending()

    def _should_commit(self, flush_s: float) -> bool:
        if not self.pending_changes:
            return False
        if self._urgent():
            return True
        return self.pacer.due() and time.monotonic() - self.pending_since >= flush_s

    def _urgent(self) -> bool:
        """Pending changes commit at the next boundary whatever the commit interval: after a
        non-transactional DDL, at `batch_rows` (the memory bound), or once the target of
        `until_caught_up` is read."""
        return (
            self._commit_soon
            or self.pending_changes >= self.settings.batch_rows
            or (
                self.target is not None
                and self.position is not None
                and self.position >= self.target
            )
        )

    def _due(self, flush_s: float, stream: ChangeStream) -> bool:
        """Nothing came: whether to commit what is pending (at a transaction boundary)."""
        if not self._urgent() and not self.pacer.due():
            return False
        if not self.settings.adaptive_batching:
            return True  # the wait was batch_ms
        return stream.quiet() or time.monotonic() - self.pending_since >= flush_s

    def _admit(self, table: TableId, schema: TableSchema, rows: int) -> bool:
        """Whether the stream should gather these rows of `table` (read with `schema`).

        Called for every rows event: the common answer (a table being replicated, read with
        the schema object already found to match the recorded one) costs three dict lookups
        and no further call."""
        self.in_txn = True
        book = self.book
        st = book.status.get(table)
        if st is not None:
            state = st.state
            if state is TableState.SYNCED or state is TableState.RESYNC_INITIATED:
                known = self._shape_ok.get(table)
                if known is not None and known[0] is schema and known[1] is book.schemas.get(table):
                    if not self.pending_changes:  # touch(rows), inline
                        self.pending_since = time.monotonic()
                    self.pending_changes += rows or 1
                    return True
        return self._admit_slow(table, schema, rows, st)

    def _admit_slow(
        self, table: TableId, schema: TableSchema, rows: int, st: TableStatus | None
    ) -> bool:
        if st is None:
            if self.wanted(table):
                self.ensure_txn()
                self.book.require_resync(table, "table appeared in the binlog", self.position)
                self.touch()
            return False
        if st.state not in (TableState.SYNCED, TableState.RESYNC_INITIATED):
            return False
        recorded = self.book.schemas.get(table)
        # Comparing shapes costs a walk over the columns; a source hands out the same schema
        # object for every event of one TABLE_MAP, so an identical pair already compared is
        # the same answer (a schema change records a new object).
        known = self._shape_ok.get(table)
        if known is None or known[0] is not schema or known[1] is not recorded:
            if recorded is not None and schema.same_shape(recorded):
                self._shape_ok[table] = (schema, recorded)
            elif not self.ddl.reconcile(table, recorded):
                return False
        self.touch(rows)
        return True

    def _commit(self) -> None:
        """Apply what is pending and commit it with the checkpoint: one warehouse transaction."""
        assert self.position is not None
        started = datetime.now(UTC)
        changes = self.pending_changes
        batch_apply.apply_batch(self, self.stream.seal() if self.stream else None)
        self.ensure_txn()
        pos = self.position
        self.dest.save_checkpoint(pos)
        self.book.promote_synced(pos)
        source_time = (
            datetime.fromtimestamp(self._last_source_ts, UTC) if self._last_source_ts else None
        )
        total = batch_apply.record_activity(self, pos, started, source_time)
        self.book.flush()
        self.dest.commit()
        self.txn_open = False
        self.activity = {}
        self.committed = pos
        self.pending_changes = 0
        self._commit_soon = False
        self.pacer.committed(changes)
        if source_time is not None and total:
            self.lag_ms = max(0.0, (time.time() - source_time.timestamp()) * 1000.0)
        self.progress.committed(pos, total, self.current_lag_ms(), source_time)
        self._work_on_resyncs()

    def _work_on_resyncs(self) -> bool:
        """Between batches: start or continue one table's resync by one chunk. Returns whether
        there was such work."""
        if self.txn_open or self.pending_changes:
            return False
        assert self.committed is not None
        table = self.copier.next_pending(self.committed, self.faults.held)
        if table is None:
            return False
        st = self.book.status[table]
        self.dest.begin()
        try:
            if st.state is TableState.RESYNC_REQUIRED:
                if self.wanted(table):
                    if self.copier.begin_resync(table, self.committed) and self.stream:
                        self.stream.forget_failure(table)
                else:
                    self.book.drop(table, "excluded by the data filter", self.committed)
            else:
                self.copier.copy_one_chunk(table, self.committed)
            self.book.promote_synced(self.committed)
            self.book.flush()
            self.dest.commit()
        except BaseException:
            self.dest.rollback()
            raise
        return True
