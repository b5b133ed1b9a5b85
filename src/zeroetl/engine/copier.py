"""Copying tables from the source, chunk by chunk, each chunk committed with its progress.

Why it is correct without locks: the stream applies every change after the checkpoint in order,
and each change is a full row image applied idempotently (delete key, insert image). A chunk is
read at a moment no earlier than the stream's applied position (the source is always ahead of
the stream) and written before the stream applies anything else, so for every key the last
write is either the chunk's value (if nothing changed it since) or a later change from the
stream. A table is Synced once the stream has passed the position its last chunk was read at
(`snapshot_hw`); until then it is ResyncInitiated. The same rule covers the first snapshot, a
resumed snapshot after a crash (new chunks read later than old ones) and a resync while
streaming.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pyarrow as pa

from zeroetl.destinations.base import Destination, ReleasesMemory
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.engine.tables import TableBook
from zeroetl.errors import TableChanged, TableFailed
from zeroetl.model import Position, TableId, TableState
from zeroetl.sources.base import Snapshot, Source

log = logging.getLogger(__name__)


class Copier:
    def __init__(
        self,
        source: Source,
        dest: Destination,
        book: TableBook,
        settings: EngineSettings,
        progress: Progress,
    ) -> None:
        self.source = source
        self.dest = dest
        self.book = book
        self.settings = settings
        self.progress = progress
        self._reader: Snapshot | None = None
        self._zero_dates = 0  # of the chunk `chunks()` handed out last

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def reader(self) -> Snapshot:
        if self._reader is None:
            self._reader = self.source.snapshot(self.settings.chunk_rows)
        return self._reader

    def pending(self) -> list[TableId]:
        """Tables waiting for a (re)copy or in the middle of one."""
        return [
            s.id
            for s in self.book.status.values()
            if s.state is TableState.RESYNC_REQUIRED
            or (s.state is TableState.RESYNC_INITIATED and not s.snapshot_done)
        ]

    def next_pending(
        self, applied: Position, held: Callable[[TableId], bool] = lambda _t: False
    ) -> TableId | None:
        """The table to copy a chunk of next, with the stream at `applied`: a copy under way,
        else a queued one whose `not_before` position the stream has reached. Tables `held`
        (their source still logs changes we cannot read) wait."""
        ready = None
        for table in self.pending():
            if held(table):
                continue
            st = self.book.status[table]
            if st.state is TableState.RESYNC_INITIATED:
                return table
            if ready is None and (st.snapshot_hw is None or applied >= st.snapshot_hw):
                ready = table
        return ready

    def begin_resync(self, table: TableId, checkpoint: Position | None) -> bool:
        """Recreate `table` empty with its current source schema. Call inside a transaction.

        Returns False when the table cannot be copied (gone, no key, unsupported type)."""
        schema = self.source.load_schemas([table]).get(table)
        if schema is None:
            self.book.drop(table, "table no longer exists on the source", checkpoint)
            return False
        problem = schema.problem()
        if problem:
            if table in self.book.schemas:
                self.book.drop(table, problem, checkpoint)
            self.book.fail(table, problem, checkpoint)
            return False
        return self.book.start_copy(schema, "", checkpoint) is not None

    def _changed(self, table: TableId) -> bool:
        """Whether the source table is gone or no longer has the shape being copied."""
        now = self.source.load_schemas([table]).get(table)
        recorded = self.book.schemas.get(table)
        return now is None or recorded is None or not now.same_shape(recorded)

    def chunks(
        self, table: TableId, session_hw: Position | None, prefetch: bool = True
    ) -> Iterator[tuple[pa.Table, Position]]:
        """Chunks of `table` after its saved cursor, each with the position it is consistent at."""
        st = self.book.status[table]
        schema = self.book.schemas[table]
        chunks = self.reader().chunks(schema, st.snapshot_cursor, at=session_hw, prefetch=prefetch)
        for chunk in chunks:
            st.snapshot_cursor = chunk.cursor
            self._zero_dates = chunk.zero_dates
            yield chunk.rows, chunk.position

    def write_chunk(
        self, table: TableId, rows: pa.Table, hw: Position, fresh: bool = False
    ) -> None:
        """Write one chunk and its progress. Call inside a transaction. `fresh`: nothing but
        earlier chunks was ever written to the table (a plain insert is enough)."""
        st = self.book.status[table]
        self.dest.write_chunk(self.book.schemas[table], rows, replace=not fresh)
        self.book.count_zero_dates(table, self._zero_dates)
        self._zero_dates = 0
        st.rows_copied += rows.num_rows
        st.snapshot_hw = hw if st.snapshot_hw is None or hw > st.snapshot_hw else st.snapshot_hw
        self.book.dirty.add(table)

    def finish(self, table: TableId, report: bool = True) -> None:
        st = self.book.status[table]
        st.snapshot_done = True
        st.snapshot_cursor = None
        self.book.dirty.add(table)
        if report:
            self.progress.snapshot_table_done(table, st.rows_copied)

    def copy_tables(
        self,
        tables: list[TableId],
        session_hw: Position | None,
        checkpoint: Position,
        stop: threading.Event | None = None,
        fresh: bool = False,
    ) -> None:
        """Copy whole tables (the first snapshot, or its resumption after a crash). Returns
        early, between chunks, once `stop` is set. `fresh`: the tables were just created and no
        change was ever applied to them.

        Chunks are committed together until a commit holds `snapshot_commit_rows` rows (or
        `chunk_rows`, if larger), `COMMIT_BYTES` of rows or `GROUP_S` seconds of work. Thousands
        of small tables share commits (a DuckDB commit and a status write per table made a
        many-table snapshot's cost per table several milliseconds), and a big table commits
        whole DuckDB row groups: DuckDB writes those straight into the database file, while a
        commit of fewer rows goes to the WAL first and is written again by the checkpoint
        (3M rows: 10.2 s of CPU at 50k rows a commit, 4.1 s at 500k; bench/README.md). A failure to read a table writes
        nothing of it, so the tables before it in the open group keep their chunks; anything
        else that fails abandons the open group, and the engine reloads its book from the last
        commit (EngineContext.abandon_open_batch)."""
        group = _Group(self, max(self.settings.chunk_rows, self.settings.snapshot_commit_rows))
        items = [(self.book.schemas[t], self.book.status[t].snapshot_cursor) for t in tables]
        chunks = self.reader().table_chunks(
            items,
            at=session_hw,
            readers=self.settings.snapshot_readers,
            processes=self.settings.snapshot_processes,
        )
        started: dict[TableId, float] = {}
        try:
            for c in chunks:
                if stop is not None and stop.is_set():
                    break
                table = c.table
                started.setdefault(table, time.monotonic())
                group.open()
                if c.error is not None:
                    reason = getattr(c.error, "reason", str(c.error))
                    if isinstance(c.error, TableChanged):
                        # Changed after the snapshot began: copied again while streaming,
                        # after the DDL that changed it.
                        self.book.require_resync(table, reason, checkpoint)
                    else:
                        self.book.fail(table, reason, checkpoint)
                    group.wrote(table, 0)
                    continue
                st = self.book.status[table]
                if c.cursor is not None:
                    st.snapshot_cursor = c.cursor
                    self.book.dirty.add(table)
                rows = 0
                if c.rows is not None and c.position is not None:
                    self._zero_dates = c.zero_dates
                    self.write_chunk(table, c.rows, c.position, fresh)
                    rows = c.rows.num_rows
                    group.nbytes += c.rows.nbytes
                if c.done:
                    self.finish(table, report=False)
                    group.finished(table, time.monotonic() - started[table])
                else:
                    group.wrote(table, rows)
            group.commit()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # stops the readers of a parallel copy

    def copy_one_chunk(self, table: TableId, checkpoint: Position) -> bool:
        """Copy the next chunk of a table being resynced while streaming (no commit here).

        Returns True when the table is finished."""
        try:
            for rows, hw in self.chunks(table, None, prefetch=False):
                self.write_chunk(table, rows, hw)
                self.progress.snapshot_chunk(table, rows.num_rows)
                return False
        except TableChanged as exc:
            if self._changed(table):
                self.book.require_resync(table, exc.reason, checkpoint)
            else:  # the same shape still fails: not a concurrent change, do not loop
                self.book.fail(table, exc.reason, checkpoint)
            return True
        except TableFailed as exc:
            self.book.fail(table, exc.reason, checkpoint)
            return True
        self.finish(table)
        return True


GROUP_S = 5.0  # at most this much copying work waits for one commit (or is lost in a crash)
# At most this much row data (Arrow) per snapshot commit: wide or BLOB rows commit sooner. What
# DuckDB holds of an open transaction beyond its memory limit spills to its temp directory.
COMMIT_BYTES = 64 * 2**20
# Rows of at least WIDE_ROW_BYTES (BLOBs) commit every WIDE_COMMIT_BYTES: DuckDB's COMMIT holds
# a few copies of the rows it appends besides the values of their vector (bench/README.md,
# "BLOB rows and DuckDB's vectors": 500 rows of 1 MiB in 16-row commits peaked at 945 MB, in
# 64-row commits at 1,129 MB); the destination puts off its checkpoints meanwhile.
WIDE_ROW_BYTES = 64 * 1024
WIDE_COMMIT_BYTES = 16 * 2**20
# The destination gives back the memory of the tables written so far (ReleasesMemory) every
# this many tables copied: DuckDB's memory otherwise grows ~25-30 KB with each table written.
RELEASE_TABLES = 1_000


class _Group:
    """The open warehouse transaction of `copy_tables` and what to report once it commits."""

    def __init__(self, copier: Copier, max_rows: int) -> None:
        self.copier = copier
        self.max_rows = max_rows
        self.rows = 0
        self.nbytes = 0
        self.since = 0.0
        self.is_open = False
        self.chunks: list[tuple[TableId, int]] = []
        self.done: list[tuple[TableId, float]] = []
        self.tables = 0  # copied since the destination last gave back memory

    def open(self) -> None:
        if not self.is_open:
            self.copier.dest.begin()
            self.is_open = True
            self.since = time.monotonic()

    def wrote(self, table: TableId, rows: int) -> None:
        self.chunks.append((table, rows))
        self.rows += rows
        wide = self.nbytes >= WIDE_ROW_BYTES * max(1, self.rows)
        if (
            self.rows >= self.max_rows
            or self.nbytes >= (WIDE_COMMIT_BYTES if wide else COMMIT_BYTES)
            or time.monotonic() - self.since >= GROUP_S
        ):
            self.commit()

    def finished(self, table: TableId, seconds: float) -> None:
        self.done.append((table, seconds))
        if self.tables + len(self.done) >= RELEASE_TABLES:
            # Commit now so that the memory is given back after RELEASE_TABLES tables, not
            # after the next commit's GROUP_S: DuckDB's catalog grows with every table written
            # until then, and the checkpoint that gives it back peaks on top of it.
            self.commit()
        else:
            self.wrote(table, 0)

    def commit(self) -> None:
        if not self.is_open:
            return
        c = self.copier
        c.book.flush()
        c.dest.commit()
        self.is_open, self.rows, self.nbytes = False, 0, 0
        for table, rows in self.chunks:
            if rows:
                c.progress.snapshot_chunk(table, rows)
        for table, seconds in self.done:
            st = c.book.status[table]
            c.progress.snapshot_table_done(table, st.rows_copied)
            log.info("copied %s: %d rows in %.1fs", table, st.rows_copied, seconds)
        self.tables += len(self.done)
        self.chunks, self.done = [], []
        if self.tables >= RELEASE_TABLES and isinstance(c.dest, ReleasesMemory):
            c.dest.release_memory()
            self.tables = 0
