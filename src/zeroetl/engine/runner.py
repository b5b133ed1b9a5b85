"""The integration runner: first snapshot, then the binlog, applied in order, exactly once.

One thread (the caller's) owns every warehouse write. A reader thread decodes the binlog into a
bounded queue. Row changes gather in a `Batch`; it is applied when it reaches `batch_rows` (even
inside a large source transaction: the warehouse transaction stays open) and committed, with
the checkpoint, only at a source transaction boundary once `batch_rows` or `batch_ms` is reached.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.engine import snapshot_phase
from zeroetl.engine.changes import Batch
from zeroetl.engine.copier import Copier
from zeroetl.engine.ddl_apply import DdlApplier, ReplayFromCheckpoint
from zeroetl.engine.fault_apply import FaultApplier
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.pump import Pump
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.engine.tables import TableBook
from zeroetl.errors import (
    BinlogPurged,
    DestinationError,
    TableFailed,
    TransientError,
    ZeroEtlError,
)
from zeroetl.model import Position, TableId, TableState
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.faults import FaultItem
from zeroetl.sources.mysql.stream import (
    ChangeStream,
    CommitItem,
    DdlItem,
    IdleItem,
    RowsItem,
    TableErrorItem,
)

log = logging.getLogger(__name__)


class _Replay(ZeroEtlError):
    """Restart the stream from the committed checkpoint (after failing one table)."""


CHECKPOINT_TYPE_CDC = "cdc"


class Replicator:
    def __init__(
        self,
        params: SourceParams,
        dest: DuckDBDestination,
        *,
        integration_id: str,
        data_filter: DataFilter,
        settings: EngineSettings | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.params = params
        self.dest = dest
        self.integration_id = integration_id
        self.filter = data_filter
        self.settings = settings or EngineSettings()
        self.progress = progress or Progress()
        self.book = TableBook(dest, self.progress)
        self.copier = Copier(params, dest, self.book, self.settings, self.progress)
        self.ddl = DdlApplier(self)
        self.stop_event = threading.Event()
        self.position: Position | None = None  # last source commit seen (applied or pending)
        self.committed: Position | None = None  # last checkpoint committed to the warehouse
        self.target: Position | None = None
        self.batch = Batch()
        self._txn_open = False
        self._pending_since = 0.0  # monotonic time of the oldest uncommitted change
        self._pending_changes = 0
        self._last_source_ts: float | None = None
        self._in_txn = False  # inside a source transaction (rows seen, commit not yet)
        self._activity: dict[TableId, list[int]] = {}  # inserted, updated, deleted, bytes
        self._stream_obj: ChangeStream | None = None
        self._lag_ms: float | None = None
        self.lag_updated = time.monotonic()  # when lag_ms was last set (see lag_ms)
        self.phase = "starting"  # snapshot | streaming | reconnecting | stopped
        self.last_error = ""  # the latest recoverable error, for operators ("" once recovered)
        self.reconnects = 0  # binlog connections lost and reopened since start
        # Binlog faults and the periodic prerequisite re-check (off the apply path).
        self.faults = FaultApplier(self)
        self._commands: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        # Commands queued and committed so far: the service shows `modifying` in between.
        self.commands_sent = 0
        self.commands_done = 0

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

    def wanted(self, table: TableId) -> bool:
        return self.filter.includes(table)

    def run(self) -> None:
        """Replicate until stopped (or caught up, with `until_caught_up`).

        A source that cannot be reached at start-up is an error at once; once it has been
        reached, connection losses (during the snapshot too) are retried with backoff."""
        self.faults.start()
        try:
            conn = self.params.connect()
            try:
                if self.settings.until_caught_up:
                    self.target = server_binlog_position(conn)
            finally:
                conn.close()
            snapshot_phase.snapshot_with_retries(self)
            self.phase = "streaming"
            self._stream_with_retries()
        finally:
            self.phase = "stopped"
            self.faults.stop()
            self.copier.close()
            if self._txn_open:
                self.dest.rollback()
                self._txn_open = False

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
        the age of the oldest change they miss (they are not current until re-copied)."""
        return self.faults.lag_ms(self.lag_ms)

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
            except (_Replay, ReplayFromCheckpoint) as exc:
                log.warning("%s", exc)
                self._abandon_open_batch()
            except BinlogPurged as exc:
                log.error("%s; starting a fresh snapshot of every table", exc)
                self.progress.message(f"{exc}: taking a fresh snapshot")
                self._restart_from_scratch(str(exc))
            except TransientError as exc:
                if self.committed != since:
                    backoff = 0.5  # progress since the last (re)connect: start over
                self.reconnects += 1
                backoff = self._wait_after(exc, backoff)

    def _wait_after(self, exc: Exception, backoff: float) -> float:
        """Roll back what is open, wait `backoff` (or until stopped); return the next one."""
        self._abandon_open_batch()
        self.phase, self.last_error = "reconnecting", str(exc)
        log.warning("source unavailable (%s); reconnecting in %.1fs", exc, backoff)
        self.progress.message(f"source unavailable, retrying in {backoff:.1f}s")
        self.stop_event.wait(backoff)
        return min(backoff * 2, self.settings.reconnect_max_s)

    def _restart_from_scratch(self, reason: str) -> None:
        self._abandon_open_batch()
        conn = self.params.connect()
        try:
            start = server_binlog_position(conn)
        finally:
            conn.close()
        self.dest.begin()
        self.dest.save_checkpoint(start)
        for st in list(self.book.tracked()):
            self.book.require_resync(st.id, f"fresh snapshot: {reason}", start)
        self.book.flush()
        self.dest.commit()
        self.committed = self.position = start

    def _abandon_open_batch(self) -> None:
        if self._txn_open or self.dest.in_transaction:
            self.dest.rollback()
        self._txn_open = False
        self.copier.close()  # its source connections may be dead
        self.batch = Batch()
        self._pending_changes = 0
        self._in_txn = False
        self._activity = {}
        # Statuses changed in memory since the last commit must be reloaded.
        self.book = TableBook(self.dest, self.progress)
        self.copier.book = self.book
        self.position = self.committed

    def _stream(self) -> bool:
        """Stream until stopped (False) or caught up (True). Raises on source errors."""
        assert self.committed is not None
        stream = ChangeStream(
            self.params,
            self.committed,
            server_id=self.settings.replica_server_id(self.integration_id),
            wanted=self.wanted,
            heartbeat_s=self.settings.heartbeat_s,
        )
        self.position = self.committed
        self._stream_obj = stream
        pump = Pump(stream)
        try:
            return self._loop(pump)
        finally:
            pump.close()

    def _loop(self, pump: Pump) -> bool:
        flush_s = self.settings.batch_ms / 1000.0
        resyncing = False  # a resync chunk was just copied: look for more work at once
        while not self.stop_event.is_set():
            if not self._txn_open and not self._pending_changes and not self._commands.empty():
                self._handle_commands()
            if self._caught_up():
                return True
            timeout = 0.0 if resyncing else 0.2
            if self._pending_changes:
                timeout = max(0.0, self._pending_since + flush_s - time.monotonic())
            item = pump.get(timeout)
            if item is not None and self.phase == "reconnecting":
                self.phase = "streaming"
            if item is None:
                if self._pending_changes and self._at_boundary():
                    self._commit()
                self.faults.watch()
                # Nothing to apply: spend the quiet time copying tables that need it.
                resyncing = self._work_on_resyncs()
                continue
            if isinstance(item, RowsItem):
                self._on_rows(item)
            elif isinstance(item, CommitItem):
                self.position = item.position
                self._last_source_ts = item.timestamp
                self._in_txn = False
                if self._should_commit(flush_s):
                    self._commit()
                self.faults.watch()
            elif isinstance(item, DdlItem):
                self._apply_batch()
                self._ensure_txn()
                self.ddl.apply(item)
                self._touch()
            elif isinstance(item, IdleItem):
                self.lag_ms = 0.0
                if not self.batch and not self._pending_changes:
                    self.position = item.position
                    if self.committed is None or item.position != self.committed:
                        self._commit()
                elif self._pending_changes:
                    self._commit()
                self.faults.watch()
                if not self._work_on_resyncs():
                    self.dest.checkpoint_if_idle()  # fold the WAL while nothing waits
            elif isinstance(item, TableErrorItem):
                self._ensure_txn()
                self.batch.drop_table(item.table)
                self.book.fail(item.table, item.reason, self.position)
                self._touch()
            elif isinstance(item, FaultItem):
                self.faults.apply(item)
        return False

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
        if self.target is None or self.committed is None or self._pending_changes:
            return False
        return self.committed >= self.target and not self.copier.pending()

    def _at_boundary(self) -> bool:
        return not self._in_txn

    def _should_commit(self, flush_s: float) -> bool:
        if not self._pending_changes:
            return False
        return (
            self.batch.entries >= self.settings.batch_rows
            or self._pending_changes >= self.settings.batch_rows
            or time.monotonic() - self._pending_since >= flush_s
        )

    def _touch(self, n: int = 0) -> None:
        if not self._pending_changes:
            self._pending_since = time.monotonic()
        self._pending_changes += max(n, 1)

    def _ensure_txn(self) -> None:
        if not self._txn_open:
            self.dest.begin()
            self._txn_open = True

    def _on_rows(self, item: RowsItem) -> None:
        self._in_txn = True
        st = self.book.get(item.table)
        if st is None:
            if self.wanted(item.table):
                self._ensure_txn()
                self.book.require_resync(item.table, "table appeared in the binlog", self.position)
                self._touch()
            return
        if st.state not in (TableState.SYNCED, TableState.RESYNC_INITIATED):
            return
        recorded = self.book.schemas.get(item.table)
        if (recorded is None or not item.schema.same_shape(recorded)) and not self.ddl.reconcile(
            item, recorded, st
        ):
            return
        tc = self.batch.tables.get(item.table)
        if tc is not None and not tc.schema.same_shape(item.schema):
            self._apply_batch()
        self.batch.add(item.table, item.schema, item.image)
        self._touch(item.image.num_rows)
        if self.batch.entries >= self.settings.batch_rows:
            self._apply_batch()

    def _apply_batch(self) -> None:
        """Apply the gathered changes inside the open warehouse transaction (no commit)."""
        if not self.batch:
            return
        self._ensure_txn()
        for table, tc in self.batch.tables.items():
            try:
                self.dest.apply_changes(tc.schema, tc.table())
            except (DestinationError, TableFailed) as exc:
                if isinstance(exc, TransientError):
                    raise  # disk full, I/O error: not this table's fault; retried with backoff
                self._fail_and_replay(table, getattr(exc, "reason", None) or str(exc))
        for table, tc in self.batch.tables.items():
            acc = self._activity.setdefault(table, [0, 0, 0, 0])
            acc[0] += tc.inserted
            acc[1] += tc.updated
            acc[2] += tc.deleted
            acc[3] += tc.nbytes
            if tc.zero_dates:
                self.book.count_zero_dates(table, tc.zero_dates)
        self.batch = Batch()

    def _fail_and_replay(self, table: TableId, reason: str) -> None:
        """One table's changes cannot be applied: the warehouse has aborted the transaction, so
        fail that table on its own, then replay everything else from the checkpoint."""
        self.dest.rollback()
        self._txn_open = False
        self.dest.begin()
        self.book = TableBook(self.dest, self.progress)
        self.book.fail(table, f"cannot apply changes: {reason}", self.committed)
        self.book.flush()
        self.dest.commit()
        raise _Replay(f"table {table} failed; replaying from {self.committed}")

    def _commit(self) -> None:
        """Apply what is pending and commit it with the checkpoint: one warehouse transaction."""
        assert self.position is not None
        started = datetime.now(UTC)
        self._apply_batch()
        self._ensure_txn()
        pos = self.position
        self.dest.save_checkpoint(pos)
        self.book.promote_synced(pos)
        activity = self._activity
        total = 0
        nbytes = 0
        source_time = (
            datetime.fromtimestamp(self._last_source_ts, UTC) if self._last_source_ts else None
        )
        for table, (ins, upd, dele, nb) in activity.items():
            self.dest.record_table_activity(
                checkpoint=pos,
                table=table,
                transaction_id=pos.gtid_set.rsplit(",", 1)[-1] or str(pos),
                inserted=ins,
                updated=upd,
                deleted=dele,
                bytes_ingested=nb,
            )
            total += ins + upd + dele
            nbytes += nb
        if activity:
            self.dest.record_activity(
                checkpoint=pos,
                checkpoint_type=CHECKPOINT_TYPE_CDC,
                checkpoint_bytes=nbytes,
                commit_ts=source_time,
                modified_tables=len(activity),
                start=started,
                end=datetime.now(UTC),
            )
        self.book.flush()
        self.dest.commit()
        self._txn_open = False
        self._activity = {}
        self.committed = pos
        self._pending_changes = 0
        if source_time is not None and total:
            self.lag_ms = max(0.0, (time.time() - source_time.timestamp()) * 1000.0)
        self.progress.committed(pos, total, self.current_lag_ms(), source_time)
        self._work_on_resyncs()

    def _work_on_resyncs(self) -> bool:
        """Between batches: start or continue one table's resync by one chunk. Returns whether
        there was such work."""
        if self._txn_open or self._pending_changes:
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
                    if self.copier.begin_resync(table, self.committed) and self._stream_obj:
                        self._stream_obj.forget_failure(table)
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
