"""Several tables, and key ranges of a big table, read at once over several connections.

Consistency: every reader runs `START TRANSACTION WITH CONSISTENT SNAPSHOT` and MariaDB reports
the binlog position its view is exact at (`binlog_snapshot_file/_position`; snapshot.py). The
first reader's position is the snapshot's start (the checkpoint the stream begins at); the
others begin after it. A reader whose position differs from the first one's begins again (a few
times) so that, on a source without writes in between, all of them see the same view. When a
busy source keeps them apart, each chunk still carries the exact position of the view it was
read in: every key lies in one range read by one reader, so no row is read twice, and the copy
rule (engine/copier.py) holds per chunk: the stream replays every change from the start, and a
table becomes Synced only once the stream has passed the latest position any of its chunks
was read at. MySQL gives no such position: there the copy stays serial (snapshot.py).

Work: tables are taken in order by whichever reader is free. A table with a one-column integer
key whose key span holds several chunks is split into ranges (from MIN/MAX of the key inside
the snapshot) that the readers take first. The engine's thread writes what the readers send,
through a queue bounded in chunks, so memory stays bounded whatever the number of tables.

Resuming: a table's cursor only moves past keys every one of which is written (the end of the
gapless part of its ranges); after a crash the chunks beyond it are read again and replace
their rows (the resumed copy writes with replace, engine/snapshot_phase.py).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from zeroetl.errors import SourceError, TableFailed
from zeroetl.model import INTEGER_KINDS, Position, TableId, TableSchema
from zeroetl.sources.base import TableChunk
from zeroetl.sources.mysql.snapshot import SnapshotReader, decode_key, encode_key
from zeroetl.sources.mysql.textcast import quote_ident

log = logging.getLogger(__name__)

_INT_KINDS = INTEGER_KINDS
_ALIGN_TRIES = 5  # times a reader begins again to get the first reader's position
_PUT_WAIT_S = 0.2


@dataclass
class KeyRange:
    schema: TableSchema
    index: int  # of the table's ranges; -1: the whole table, not split yet
    after: tuple | None
    upto: tuple | None


@dataclass
class TableRanges:
    """The engine-side view of one table's ranges: which are complete, how far each got."""

    bounds: list[tuple | None] = field(default_factory=lambda: [None])  # upper bound per range
    start: tuple | None = None
    done: set[int] = field(default_factory=set)
    last: dict[int, tuple] = field(default_factory=dict)
    failed: bool = False

    def cursor(self) -> tuple | None:
        """The key every key up to which is written: the end of the gapless ranges."""
        j = 0
        while j in self.done:
            j += 1
        if j in self.last:
            return self.last[j]
        return self.start if j == 0 else self.bounds[j - 1]

    def complete(self) -> bool:
        return len(self.done) == len(self.bounds)

    def wrote(self, index: int, last: tuple) -> str | None:
        """Range `index` is handed out up to key `last`: the new cursor, if it moved."""
        before = self.cursor()
        self.last[index] = last
        now = self.cursor()
        return encode_key(now) if now is not None and now != before else None

    def range_done(self, index: int) -> str | None:
        """Range `index` is complete: the new cursor, if it moved (check `complete()` first)."""
        before = self.cursor()
        self.done.add(index)
        now = self.cursor()
        return encode_key(now) if now is not None and now != before else None

    def finished(self, table: TableId, index: int) -> TableChunk | None:
        """Range `index` is read whole: what the engine hears of it (the table done, or its
        cursor moved), or nothing (the table failed, or the cursor waits on another range)."""
        if self.failed:
            return None
        cursor = self.range_done(index)
        if self.complete():
            return TableChunk(table, None, None, None, done=True)
        if cursor is not None:
            return TableChunk(table, None, cursor, None)
        return None


def initial_ranges(items: list[tuple[TableSchema, str | None]]) -> list[KeyRange]:
    """One range per table, from its committed cursor on; the first table last, so that
    `pop()` takes it first."""
    work = [
        KeyRange(schema, -1, decode_key(cursor, schema) if cursor else None, None)
        for schema, cursor in items
    ]
    work.reverse()
    return work


class ParallelCopy:
    """Reads `items` over `first` (already in its consistent snapshot at `at`) and up to
    `readers - 1` more readers of its own."""

    def __init__(
        self,
        first: SnapshotReader,
        items: list[tuple[TableSchema, str | None]],
        at: Position,
        readers: int,
    ) -> None:
        self.first = first
        self.at = at
        self.readers_wanted = max(1, readers)
        self._work = initial_ranges(items)
        self._lock = threading.Lock()
        # One chunk waits for the writer while each reader holds the one it reads: the writer
        # is the slower side, and every chunk held is memory (about 3x its bytes as read).
        self._out: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._extra: list[SnapshotReader] = []

    # -- readers ---------------------------------------------------------------------------------

    def _open_readers(self) -> list[tuple[SnapshotReader, Position]]:
        readers = [(self.first, self.at)]
        for _ in range(self.readers_wanted - 1):
            r = SnapshotReader(
                self.first.params,
                chunk_rows=self.first.chunk_rows,
                chunk_bytes=self.first.chunk_bytes,
            )
            self._extra.append(r)
            pos = r.begin_consistent()
            for _ in range(_ALIGN_TRIES):
                if pos is None or pos == self.at:
                    break
                r.end()
                pos = r.begin_consistent()
            if pos is None:  # binary log gone meanwhile: no exact position, stay serial
                break
            if pos != self.at:
                log.info("snapshot reader consistent at %s, the first at %s", pos, self.at)
            readers.append((r, pos))
        return readers

    def _take(self) -> KeyRange | None:
        with self._lock:
            return self._work.pop() if self._work else None

    def _put(self, item: tuple[Any, ...]) -> bool:
        while not self._stop.is_set():
            try:
                self._out.put(item, timeout=_PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, reader: SnapshotReader, pos: Position) -> None:
        try:
            while not self._stop.is_set():
                r = self._take()
                if r is None:
                    break
                pos = reader.table_view() or pos  # begun again every VIEW_TABLES tables
                if r.index < 0:
                    r = self._split(reader, r)
                table = r.schema.id
                try:
                    seen = reader.zero_dates
                    for rows, last in reader.read_range(r.schema, r.after, r.upto, prefetch=False):
                        zeros, seen = reader.zero_dates - seen, reader.zero_dates
                        if not self._put(("rows", table, r.index, rows, last, pos, zeros)):
                            return
                except TableFailed as exc:
                    if not self._put(("failed", table, r.index, exc)):
                        return
                    continue
                if not self._put(("range", table, r.index)):
                    return
        except BaseException as exc:  # a lost connection, a bug: the engine raises it
            self._put(("error", exc))
        finally:
            self._put(("quit",))

    def _split(self, reader: SnapshotReader, r: KeyRange) -> KeyRange:
        """Split a table into key ranges when it is big enough; announce them first."""
        schema = r.schema
        key = schema.primary_key
        col = schema.column(key[0]) if len(key) == 1 else None
        n = 0
        bounds: list[tuple | None] = [None]
        if col is not None and col.type is not None and col.type.kind in _INT_KINDS:
            lo_hi = self._key_span(reader, schema, r.after)
            if lo_hi is not None:
                lo, hi = lo_hi
                n = min(4 * self.readers_wanted, (hi - lo) // reader.chunk_rows)
                if n >= 2:
                    cuts = [lo + (hi - lo) * j // n for j in range(1, n)]
                    bounds = [(c,) for c in cuts] + [None]
        count = len(bounds)
        self._put(("split", schema.id, bounds, r.after))
        if count == 1:
            return KeyRange(schema, 0, r.after, None)
        ranges = [
            KeyRange(schema, j, r.after if j == 0 else bounds[j - 1], bounds[j])
            for j in range(count)
        ]
        with self._lock:
            self._work.extend(reversed(ranges[1:]))  # taken next, before other tables
        return ranges[0]

    def _key_span(
        self, reader: SnapshotReader, schema: TableSchema, after: tuple | None
    ) -> tuple[int, int] | None:
        k = quote_ident(schema.primary_key[0])
        name = f"{quote_ident(schema.id.schema)}.{quote_ident(schema.id.table)}"
        where = f" WHERE {k} > {int(after[0])}" if after else ""
        try:
            row = reader.query_one(f"SELECT MIN({k}), MAX({k}) FROM {name}{where}")
        except SourceError:
            raise
        except Exception:  # no split: reading the range reports a real failure
            return None
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    # -- the engine's side ------------------------------------------------------------------------

    def chunks(self) -> Iterator[TableChunk]:
        readers = self._open_readers()
        for reader, pos in readers:
            t = threading.Thread(
                target=self._run, args=(reader, pos), name="zeroetl-snapshot", daemon=True
            )
            self._threads.append(t)
            t.start()
        tables: dict[TableId, TableRanges] = {}
        running = len(readers)
        try:
            while running:
                msg = self._out.get()
                kind = msg[0]
                if kind == "quit":
                    running -= 1
                elif kind == "error":
                    raise msg[1]
                elif kind == "split":
                    _, table, bounds, start = msg
                    tables[table] = TableRanges(bounds=bounds, start=start)
                elif kind == "failed":
                    st = tables[msg[1]]
                    if not st.failed:
                        st.failed = True
                        yield TableChunk(msg[1], None, None, None, error=msg[3])
                elif kind == "rows":
                    _, table, index, rows, last, pos, zeros = msg
                    st = tables[table]
                    if st.failed:
                        continue
                    yield TableChunk(table, rows, st.wrote(index, last), pos, zeros)
                else:  # a range is complete
                    _, table, index = msg
                    if (chunk := tables[table].finished(table, index)) is not None:
                        yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        while any(t.is_alive() for t in self._threads):
            with contextlib.suppress(queue.Empty):
                self._out.get(timeout=_PUT_WAIT_S)  # unblock a reader waiting to put
        self._threads = []
        for r in self._extra:
            r.close()
        self._extra = []
