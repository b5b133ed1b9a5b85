"""MySQL/MariaDB as a `Source` (sources/base.py): the one place the engine's calls meet the
binlog reader, the snapshot reader, discovery and the DDL classifier.

The stream reads the binlog on a thread of its own (pump.py) and hands items over through a
bounded queue; `MySqlChangeStream.next` runs on the engine's thread, gathers the rows the engine
admits into the open batch (changes.py) and turns DDL text into `SchemaChange`s (ddl.py), so
nothing MySQL-shaped (row images, TABLE_MAPs, SQL text to classify) leaves this package.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from zeroetl.errors import TableFailed
from zeroetl.model import (
    ChangeBatch,
    Position,
    SchemaChange,
    TableId,
    TableSchema,
    Unknown,
)
from zeroetl.sources.base import (
    Admit,
    CheckReport,
    Commit,
    Idle,
    SnapshotChunk,
    StreamEvent,
    TableChunk,
    TableError,
    serial_table_chunks,
)
from zeroetl.sources.mysql import ddl as d
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.changes import Batch
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.discovery import list_tables, load_schemas, row_estimates
from zeroetl.sources.mysql.faults import FaultItem
from zeroetl.sources.mysql.prereq import check_source
from zeroetl.sources.mysql.pump import END, Pump
from zeroetl.sources.mysql.snapshot import SnapshotReader, decode_key, encode_key
from zeroetl.sources.mysql.snapshot_parallel import ParallelCopy
from zeroetl.sources.mysql.snapshot_procs import ProcessCopy
from zeroetl.sources.mysql.stream import (
    ChangeStream,
    CommitItem,
    DdlItem,
    IdleItem,
    RowsItem,
    TableErrorItem,
)

log = logging.getLogger(__name__)


class MySqlSource:
    """A MySQL-compatible server. Discovery calls share one connection, opened on first use
    and closed by `close()` (after a failure the engine closes it; the next call reopens)."""

    def __init__(self, params: SourceParams) -> None:
        self.params = params
        self._conn: Any = None

    def describe(self) -> str:
        return self.params.redacted_url()

    def _meta(self) -> Any:
        if self._conn is None:
            self._conn = self.params.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def check(self) -> CheckReport:
        return check_source(self.params)  # a connection of its own: any thread

    def position(self) -> Position:
        return server_binlog_position(self._meta())

    def list_tables(self) -> list[TableId]:
        return list_tables(self._meta())

    def load_schemas(self, tables: list[TableId]) -> dict[TableId, TableSchema]:
        return load_schemas(self._meta(), tables)

    def row_estimates(self, tables: list[TableId]) -> dict[TableId, int]:
        return row_estimates(self._meta(), tables)

    def snapshot(self, chunk_rows: int) -> MySqlSnapshot:
        return MySqlSnapshot(self, SnapshotReader(self.params, chunk_rows=chunk_rows))

    def stream(
        self,
        start: Position,
        *,
        replica_id: int,
        wanted: Callable[[TableId], bool],
        admit: Admit,
        heartbeat_s: float,
        batch_rows: int,
    ) -> MySqlChangeStream:
        raw = ChangeStream(
            self.params, start, server_id=replica_id, wanted=wanted, heartbeat_s=heartbeat_s
        )
        return MySqlChangeStream(raw, start, admit=admit, batch_rows=batch_rows)


class MySqlSnapshot:
    """Keyset-paginated chunks (snapshot.py) with their positions and JSON key cursors."""

    def __init__(self, source: MySqlSource, reader: SnapshotReader) -> None:
        self.source = source
        self.reader = reader

    def begin_consistent(self) -> Position | None:
        return self.reader.begin_consistent()

    def end(self) -> None:
        self.reader.end()

    def close(self) -> None:
        self.reader.close()

    def table_chunks(
        self,
        items: list[tuple[TableSchema, str | None]],
        *,
        at: Position | None = None,
        readers: int = 1,
        processes: bool = False,
    ) -> Iterator[TableChunk]:
        """In parallel when the snapshot has an exact position (MariaDB; snapshot_parallel.py),
        with `processes` in `readers` child processes (snapshot_procs.py), else one table after
        another."""
        if at is None or not self.reader.is_mariadb:
            return serial_table_chunks(self, items, at)
        if processes:
            return ProcessCopy(self.reader, items, at, readers).chunks()
        if readers <= 1:
            return self._serial(items, at)
        return ParallelCopy(self.reader, items, at, readers).chunks()

    def _serial(
        self, items: list[tuple[TableSchema, str | None]], at: Position
    ) -> Iterator[TableChunk]:
        """`serial_table_chunks`, each table's first chunk asked for while the one before it
        is written (SnapshotReader.read_range's `then`)."""
        for i, (schema, cursor) in enumerate(items):
            then = None
            if i + 1 < len(items):
                nschema, ncursor = items[i + 1]
                try:
                    then = (nschema, decode_key(ncursor, nschema) if ncursor else None)
                except (ValueError, KeyError):
                    then = None  # its own read reports the bad cursor
            try:
                for c in self.chunks(schema, cursor, at=at, then=then):
                    yield TableChunk(schema.id, c.rows, c.cursor, c.position, c.zero_dates)
            except TableFailed as exc:
                yield TableChunk(schema.id, None, None, None, error=exc)
                continue
            yield TableChunk(schema.id, None, None, None, done=True)

    def chunks(
        self,
        schema: TableSchema,
        cursor: str | None,
        *,
        at: Position | None = None,
        prefetch: bool = True,
        then: tuple[TableSchema, tuple | None] | None = None,
    ) -> Iterator[SnapshotChunk]:
        after = decode_key(cursor, schema) if cursor else None
        reader = self.reader
        seen = reader.zero_dates
        # Inside a consistent view with a known position (it may have been begun again since
        # `at`, snapshot.py: SnapshotReader.table_view), that position is the chunks' own.
        view = reader.table_view() if at is not None else None
        for rows, last_key in reader.read_chunks(schema, after, prefetch=prefetch, then=then):
            # Else read after the chunk: a position no earlier than the moment it was read.
            position = view or at or self.source.position()
            # Zero dates of this chunk (the reader converts a chunk before handing it over).
            zeros, seen = reader.zero_dates - seen, reader.zero_dates
            yield SnapshotChunk(rows, encode_key(last_key), position, zeros)


# Raw values an open batch gathers at most before it is sealed and applied (~50 MB of Python
# objects): 125k changes of 8 columns, 2k of 500.
MAX_BATCH_VALUES = 1_000_000
# A value the compiled decoder gathers stays in its event's bytes (~4-8 bytes, not a ~50-byte
# object), so it counts for this share of one: a 500-column table's batch grows to 8k inserts
# (4k updates, whose events carry both images). Fewer, larger statements: DuckDB spends
# ~25-45 ms a statement (and ~17 ms a COMMIT) on a 500-column table whatever its rows.
NATIVE_VALUE_SHARE = 4
# ... and at most this many bytes of row images: the compiled decoder's batch holds its events'
# bytes until sealed, and a few values can be large (1 MB BLOBs count as 1 value each).
MAX_BATCH_BYTES = 64 << 20
_NONE: list[object] = []  # no hand-over under way (never appended to)
_set_position = Commit.__dict__["position"].__set__  # the slots' descriptors
_set_timestamp = Commit.__dict__["timestamp"].__set__


def _commit(position: Position, timestamp: float) -> Commit:
    """`Commit(position, timestamp)` without the frozen dataclass's `__init__` (two
    `object.__setattr__` calls: ~0.5 us, once a source transaction)."""
    c = object.__new__(Commit)
    _set_position(c, position)
    _set_timestamp(c, timestamp)
    return c


def _run_end(items: list[object], start: int) -> int:
    """The index of the last commit in the run of rows and commits of a hand-over that begins
    at `start` (-1: none). The commits before it are passed over: the engine takes a run of
    whole source transactions as one, a loop turn (commit decision, position, lag) per run
    instead of per transaction. A run stops at any other item (a DDL, an idle point, a
    fault, a table error, the reader's end), so those still come between the commits around
    them (the commit after such an item comes on its own, except after an idle point, which
    stands between transactions); a hand-over that ends inside a transaction (the reader
    hands over before it waits) ends the run at the commit before that transaction's rows."""
    last = -1
    n = len(items)
    j = start
    while j < n:
        t = type(items[j])
        if t is CommitItem:
            last = j
        elif t is not RowsItem:
            break
        j += 1
    return last


class MySqlChangeStream:
    """The binlog from a position as `StreamEvent`s (sources/base.py)."""

    def __init__(self, raw: ChangeStream, start: Position, *, admit: Admit, batch_rows: int):
        self._raw = raw
        self._pump = Pump(raw)
        self._admit = admit
        self._batch_rows = batch_rows
        self._batch = Batch()
        self._held: RowsItem | None = None  # admitted; gathered once the sealed batch is out
        self._items: list[object] = _NONE  # the reader's latest hand-over (pump.py) ...
        self._i = 0  # ... and the next of its items to go through
        self._last = -1  # ... and the last commit of the run of transactions at _i (_run_end)
        self._at = start  # the last commit seen, for messages

    def close(self) -> None:
        self._pump.close()

    def forget_failure(self, table: TableId) -> None:
        self._raw.forget_failure(table)

    def discard(self, table: TableId) -> None:
        self._batch.drop_table(table)

    def quiet(self) -> bool:
        return self._held is None and self._i >= len(self._items) and self._pump.drained()

    def seal(self) -> ChangeBatch:
        batch, self._batch = self._batch.seal(), Batch()
        return batch

    def _gather(self, item: RowsItem) -> ChangeBatch | None:
        """Gather an admitted rows event; a sealed batch when it is full (or when the table's
        shape changed: the item is then held, and gathered into the next batch)."""
        batch = self._batch
        if not batch.add(item.table, item.schema, item.image):
            # Another shape of the table (a DDL we did not see, or one the engine resynced
            # around): what came before is sealed first.
            self._held = item
            return self.seal()
        # A large source transaction: applied, not yet committed. Wide rows count by their
        # values: 50k changes of a 500-column table held ~25M Python objects (~1 GB).
        native = batch.native_values
        held = batch.values - native + native // NATIVE_VALUE_SHARE
        if (
            batch.entries >= self._batch_rows
            or held >= MAX_BATCH_VALUES
            or batch.nbytes >= MAX_BATCH_BYTES
        ):
            return self.seal()
        return None

    def next(self, timeout: float) -> StreamEvent | None:
        if self._held is not None:
            held, self._held = self._held, None
            full = self._gather(held)  # into the batch begun by the seal that held it
            if full is not None:
                return full
        # Runs once per item the reader hands over (five a small source transaction): the
        # items of a hand-over are gone through in place, names looked up once, rows events
        # (the common case) tested first, and the clock read only between hand-overs (a
        # list holds at most pump.GROUP items: the engine still looks up in a long run).
        items, i = self._items, self._i
        admit, rows_cap = self._admit, self._batch_rows
        deadline = -1.0
        try:
            while True:
                if i >= len(items):
                    now = time.monotonic()
                    if deadline < 0:
                        deadline = now + timeout
                    elif now >= deadline:
                        return None
                    taken = self._pump.take(deadline - now)
                    if taken is None:
                        items, i = _NONE, 0
                        return None
                    items, i = taken, 0
                    self._last = _run_end(taken, 0)
                item = items[i]
                i += 1
                if type(item) is RowsItem:
                    image = item.image
                    if admit(item.table, item.schema, image.num_rows):
                        # `_gather` inline (one call fewer a rows event); the batch is read
                        # after `admit`, which may have sealed it (a schema reconciled)
                        batch = self._batch
                        if not batch.add(item.table, item.schema, image):
                            self._held = item
                            return self.seal()
                        native = batch.native_values
                        if (
                            batch.entries >= rows_cap
                            or batch.values - native + native // NATIVE_VALUE_SHARE
                            >= MAX_BATCH_VALUES
                            or batch.nbytes >= MAX_BATCH_BYTES
                        ):
                            return self.seal()
                    continue
                if type(item) is CommitItem:
                    if i <= self._last:
                        # Not the last commit of its run of whole transactions: the engine
                        # sees that one instead, once every row before it is gathered and
                        # none after it (its position is then the checkpoint of them all).
                        continue
                    self._last = _run_end(items, i)
                    self._at = item.position
                    return _commit(item.position, item.timestamp)
                if item is END:
                    i -= 1  # every later call says the same
                # Between transactions a run starts again; otherwise the next commit (this
                # item's transaction's: a DDL, a fault, a table error) comes on its own.
                self._last = _run_end(items, i) if type(item) is IdleItem else -1
                return self._event(item)
        finally:  # where the next call goes on (an item that raised is taken, as before)
            self._items, self._i = items, i

    def _event(self, item: object) -> StreamEvent:
        if isinstance(item, IdleItem):
            return Idle(item.position)
        if isinstance(item, DdlItem):
            return self._schema_change(item)
        if isinstance(item, TableErrorItem):
            self._batch.drop_table(item.table)
            return TableError(item.table, item.reason)
        if isinstance(item, FaultItem):
            return item
        Pump.check(item)  # the reader's exception or its end: raises
        raise AssertionError(item)

    def _schema_change(self, item: DdlItem) -> SchemaChange:
        try:
            actions = tuple(d.classify(item.sql, item.schema))
        except Exception:  # a classifier bug must neither stop the stream nor lose the change
            log.exception(
                "cannot classify the DDL in the transaction after binlog position %s: %r",
                self._at,
                item.sql[:300],
            )
            named = d.tables_named(item.sql, item.schema)
            actions = (Unknown(named, item.sql, what="could not be classified"),)
        # A statement we cannot read names its tables, or failing that its databases.
        actions = tuple(
            Unknown(a.tables, a.sql, frozenset(d.schemas_named(a.sql, item.schema)), a.what)
            if isinstance(a, Unknown) and not a.tables
            else a
            for a in actions
        )
        return SchemaChange(item.sql, actions, item.timestamp)
