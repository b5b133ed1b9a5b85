"""Consistent, chunked table snapshots from MySQL/MariaDB into Arrow.

Chunks are read by keyset pagination on the primary key (`WHERE key > last ORDER BY key LIMIT n`),
so each chunk costs one index range scan and a resumed snapshot starts where it stopped. Rows
come over the text protocol and are turned into Arrow column by column (`resultset`, `textcast`):
no Python call per value, one chunk in memory at a time.

On MariaDB, `begin_consistent` pins the read view and returns the exact binlog position it
corresponds to, so the stream can start there; every `VIEW_TABLES` tables the view is begun
again (`table_view`), and each chunk carries the exact position of the view it was read in. On
MySQL 8 there is no such status; the caller brackets chunks with watermarks instead (and may
read chunks outside a transaction).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pymysql

from zeroetl.errors import SourceError, SourceUnavailable, TableChanged, TableFailed
from zeroetl.model import Kind, Position, TableSchema
from zeroetl.sources.mysql.connection import SourceParams, scrub
from zeroetl.sources.mysql.resultset import RawResult, query_raw
from zeroetl.sources.mysql.textcast import Converter, is_geometry, quote_ident, select_expr

log = logging.getLogger(__name__)

_LOST = {2006, 2013, 2055}  # server gone / lost connection during query
_NO_TABLE = 1146
# No such column / table definition changed (a consistent snapshot older than an ALTER).
_CHANGED = {1054, 1412}


# A consistent view is begun again after this many tables (MariaDB, where the new view's
# position is exact). MariaDB's cost of opening a table grows with the tables one transaction
# has already opened: 10,000 one-chunk SELECTs took 58.6 s in one consistent-snapshot
# transaction, 5.7 s with a new one every 1,000 tables and 4.7 s outside any (the `mariadb`
# CLI, 10-row tables).
VIEW_TABLES = 500

# A chunk holds at most this many bytes of row data (as read; the Arrow columns are about as
# large): with rows of 1 MB BLOBs or of 500 columns, a chunk of `chunk_rows` took gigabytes.
CHUNK_BYTES = 16 * 2**20
_LOB_TYPES = ("blob", "text", "json", "longtext", "mediumtext", "longblob", "mediumblob")


def first_chunk_rows(schema: TableSchema, chunk_rows: int, chunk_bytes: int) -> int:
    """Rows of a table's first chunk, from its column types: later chunks are sized by the
    bytes per row the first one had. A table with BLOB/TEXT/JSON columns starts small (values
    up to 4 GB each); otherwise the declared widths bound a row."""
    width = 16
    for c in schema.columns:
        t = c.source_type.lower()
        if t.split("(")[0].split(" ")[0].endswith(_LOB_TYPES) or is_geometry(c):
            return max(1, min(chunk_rows, chunk_bytes // 2**20))
        if t.startswith(("varchar", "char", "varbinary", "binary")) and "(" in t:
            width += 4 * int(t.split("(")[1].split(")")[0] or 1)  # utf8mb4: 4 bytes a char
        else:
            width += 24
    return max(1, min(chunk_rows, chunk_bytes // width))


def next_chunk_rows(raw_bytes: int, rows: int, chunk_rows: int, chunk_bytes: int) -> int:
    """Rows of the next chunk, from the bytes per row of the last one."""
    per_row = max(1, raw_bytes // max(1, rows))
    return max(1, min(chunk_rows, chunk_bytes // per_row))


class SnapshotReader:
    """Reads tables in primary-key order, inside one consistent-snapshot transaction if begun."""

    def __init__(
        self, params: SourceParams, *, chunk_rows: int = 50_000, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        if chunk_rows < 1 or chunk_bytes < 1:
            raise ValueError("chunk_rows and chunk_bytes must be positive")
        self.params = params
        self.chunk_rows = chunk_rows
        self.chunk_bytes = chunk_bytes
        self.zero_dates = 0  # zero dates/datetimes read as NULL, all tables so far
        self._conn = params.connect()
        with _lost_as_unavailable(params), self._conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            self.version: str = cur.fetchone()[0]
        self.is_mariadb = "mariadb" in self.version.lower()
        self._in_snapshot = False
        self.view: Position | None = None  # the exact position of the open consistent view
        self._view_tables = 0  # tables begun in it (table_view)
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: Future[RawResult] | None = None
        self._ahead: tuple[str, Future[RawResult]] | None = None  # read_range's `then`

    # -- transaction ---------------------------------------------------------------------------

    def begin_consistent(self) -> Position | None:
        """Start a consistent-snapshot transaction; on MariaDB return the binlog position it is at.

        MariaDB reports `binlog_snapshot_file/_position` for the snapshot exactly; the GTID set for
        that file/offset comes from BINLOG_GTID_POS() (exact too, unlike @@gtid_binlog_pos, which
        may already include commits made after the snapshot was taken). MySQL 8 gives no position
        (returns None): the caller uses watermarks.
        """
        self._drain()
        self.view, self._view_tables = None, 0
        with self._cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            self._in_snapshot = True
            if not self.is_mariadb:
                return None
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%%'")
            status = {_text(k).lower(): _text(v) for k, v in cur.fetchall()}
            file = status.get("binlog_snapshot_file", "")
            offset = int(status.get("binlog_snapshot_position", "0") or 0)
            if not file:
                return None  # binary log disabled: nothing to stream from
            gtid = ""
            try:
                cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, offset))
                gtid = _text(cur.fetchone()[0] or "")
            except pymysql.err.MySQLError:
                gtid = ""  # purged file or no GTIDs: file/offset alone is still exact
        self.view = Position(file, offset, gtid)
        return self.view

    def table_view(self) -> Position | None:
        """Call before reading a table: the exact position of the view its chunks are read in
        (None: no view with a known position is open).

        Every `VIEW_TABLES` tables the view is begun again. On a source without writes in
        between it is the same view; otherwise the later one's position is returned, and the
        copy rule (engine/copier.py) holds as for the readers of a parallel copy: the stream
        replays every change from the start, and a table is Synced only once the stream has
        passed the position its chunks were read at."""
        if self.view is None or not self._in_snapshot:
            return None
        if self._view_tables >= VIEW_TABLES:
            before = self.view
            self.end()
            if self.begin_consistent() is None:
                raise SourceUnavailable(
                    f"{self.params.redacted_url()}: no binary log position for a new snapshot view"
                )
            if self.view != before:
                log.info("snapshot view begun again at %s (was %s)", self.view, before)
        self._view_tables += 1
        return self.view

    def end(self) -> None:
        """Commit (end) the snapshot transaction, if one is open."""
        self._drain()
        if self._in_snapshot:
            with self._cursor() as cur:
                cur.execute("COMMIT")
            self._in_snapshot = False
            self.view = None

    def close(self) -> None:
        try:
            self.end()
        except SourceError:
            pass
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._conn.close()

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query_one(self, sql: str) -> tuple | None:
        """One row of `sql`, inside the snapshot (the connection must be idle)."""
        self._drain()
        with self._cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
        return None if row is None else tuple(row)

    # -- reading -------------------------------------------------------------------------------

    def read_chunks(
        self,
        schema: TableSchema,
        after: tuple | None,
        *,
        prefetch: bool = True,
        then: tuple[TableSchema, tuple | None] | None = None,
    ) -> Iterator[tuple[pa.Table, tuple]]:
        """Chunks in key order, each at most `chunk_rows` rows, strictly after key `after`.

        With `prefetch` the next chunk is fetched while the caller works on this one; turn it
        off when only one chunk will be taken (it would be read for nothing). `then`: see
        read_range."""
        return self.read_range(schema, after, None, prefetch=prefetch, then=then)

    def read_range(
        self,
        schema: TableSchema,
        after: tuple | None,
        upto: tuple | None,
        *,
        prefetch: bool = True,
        then: tuple[TableSchema, tuple | None] | None = None,
    ) -> Iterator[tuple[pa.Table, tuple]]:
        """Like `read_chunks`, stopping at key `upto` (inclusive; None = the end of the table).

        `then`: the table (and key) read next. Its first chunk is asked for as soon as this
        table's last one has arrived, so MariaDB reads it while this one is converted and
        written (with many small tables, one round trip a table otherwise waited)."""
        problem = schema.problem()
        if problem:
            self._discard_ahead()
            raise TableFailed(str(schema.id), problem)
        conv = Converter(schema.id)
        key = list(schema.primary_key)
        key_idx = [schema.names.index(k) for k in key]
        target = schema.arrow_schema()
        paged = _paged(schema)
        limit = first_chunk_rows(schema, self.chunk_rows, self.chunk_bytes)

        def sql(lo: tuple | None) -> str:
            return self._page_sql(schema, lo, upto, limit if paged else None)

        # Pipelined: while this chunk is converted (pyarrow releases the GIL), the worker thread
        # already fetches the next one, keyed on this chunk's last key (converted first).
        first = sql(after)
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == first:
            pending: Future[RawResult] | None = ahead[1]
            self._inflight = pending
        else:
            if ahead is not None:
                with contextlib.suppress(Exception):
                    ahead[1].result()
            pending = self._submit(schema, first)
        try:
            while pending is not None:
                raw = pending.result()
                self._inflight = pending = None
                if raw.num_rows == 0:
                    self._send_ahead(then)
                    return
                arrays: list[pa.Array | None] = [None] * len(schema.columns)
                for i in key_idx:
                    arrays[i] = conv.convert(schema.columns[i], raw.columns[i])
                last = tuple(arrays[i][-1].as_py() for i in key_idx)  # type: ignore[index]
                if any(v is None for v in last):
                    raise TableFailed(str(schema.id), f"primary key has a zero date: {last}")
                full = raw.num_rows >= limit
                limit = next_chunk_rows(raw.nbytes, raw.num_rows, self.chunk_rows, self.chunk_bytes)
                nxt = sql(last) if paged and full else None
                if nxt is None:
                    self._send_ahead(then)
                elif prefetch:
                    pending = self._submit(schema, nxt)
                before = conv.zero_dates
                for i, c in enumerate(schema.columns):
                    if arrays[i] is None:
                        arrays[i] = conv.convert(c, raw.columns[i])
                self.zero_dates += conv.zero_dates - before
                yield pa.Table.from_arrays(arrays, schema=target), last
                if nxt is not None and not prefetch:
                    pending = self._submit(schema, nxt)
        finally:
            self._drain(ahead=False)

    def _page_sql(
        self, schema: TableSchema, lo: tuple | None, upto: tuple | None, limit: int | None
    ) -> str:
        key = list(schema.primary_key)
        conds = []
        if lo is not None:
            conds.append(self._keyset(schema, key, lo, ">"))
        if upto is not None:
            conds.append(self._keyset(schema, key, upto, "<="))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return (
            f"SELECT {', '.join(select_expr(c) for c in schema.columns)} "
            f"FROM {quote_ident(schema.id.schema)}.{quote_ident(schema.id.table)}"
            + where
            + f" ORDER BY {', '.join(quote_ident(k) for k in key)}"
            + (f" LIMIT {limit}" if limit is not None else "")
        )

    def _send_ahead(self, then: tuple[TableSchema, tuple | None] | None) -> None:
        """Ask for the first chunk of the table read next (read_range's `then`), unless it is
        to be read in a view begun again (table_view) or cannot be read at all."""
        if then is None or (self.view is not None and self._view_tables >= VIEW_TABLES):
            return
        schema, after = then
        if schema.problem():
            return
        try:
            limit = first_chunk_rows(schema, self.chunk_rows, self.chunk_bytes)
            sql = self._page_sql(schema, after, None, limit if _paged(schema) else None)
        except (ValueError, KeyError):  # a key that does not fit: read_range reports it
            return
        assert self._pool is not None  # this table's own queries made it
        self._ahead = (sql, self._pool.submit(self._query, schema, sql))

    def _discard_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            with contextlib.suppress(Exception):
                ahead[1].result()

    def _submit(self, schema: TableSchema, sql: str) -> Future[RawResult]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="zeroetl-snapshot")
        self._inflight = self._pool.submit(self._query, schema, sql)
        return self._inflight

    def _drain(self, *, ahead: bool = True) -> None:
        """Wait for a prefetch still using the connection (the consumer stopped early), and
        with `ahead` for a next table's first chunk asked for (dropped)."""
        if ahead:
            self._discard_ahead()
        if self._inflight is not None:
            with contextlib.suppress(Exception):
                self._inflight.result()
            self._inflight = None

    def _keyset(self, schema: TableSchema, key: list[str], values: tuple, op: str) -> str:
        """`(k1, k2) op (v1, v2)` in the expanded form, which MariaDB serves by an index range
        (it scans the whole index for the row-constructor form); a leading `k1 >= v1` (or `<=`)
        bounds the range."""
        if len(values) != len(key):
            raise ValueError(f"key {values!r} does not match primary key {key}")
        lits = [self._literal(schema, k, v) for k, v in zip(key, values, strict=True)]
        cols = [quote_ident(k) for k in key]
        strict = op[0]  # '>' or '<'
        expr = f"{cols[-1]} {op} {lits[-1]}"
        for c, lit in zip(reversed(cols[:-1]), reversed(lits[:-1]), strict=True):
            expr = f"({c} {strict} {lit} OR ({c} = {lit} AND {expr}))"
        if len(key) > 1:
            expr = f"{cols[0]} {strict}= {lits[0]} AND {expr}"
        return f"({expr})"

    def _literal(self, schema: TableSchema, name: str, value: Any) -> str:
        col = schema.column(name)
        kind = col.type.kind if col.type else None
        if isinstance(value, bool) or value is None:
            raise ValueError(f"bad key value {value!r} for {name}")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, float):
            r = repr(value)
            return r if "e" in r else r + "e0"  # a DOUBLE literal, not a DECIMAL one
        if isinstance(value, bytes | bytearray):
            return "X'" + bytes(value).hex() + "'" if value else "''"
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:  # TIMESTAMP: the session time zone is UTC
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return "'" + value.strftime("%Y-%m-%d %H:%M:%S.%f") + "'"
        if isinstance(value, dt.date):
            return "'" + value.isoformat() + "'"
        if isinstance(value, dt.time):
            return "'" + value.strftime("%H:%M:%S.%f") + "'"
        if isinstance(value, str):
            if kind is Kind.DECIMAL_TEXT:
                Decimal(value)  # validates: it goes into the SQL unquoted
                return value
            return str(self._conn.escape(value))
        raise ValueError(f"unsupported key value {value!r} for {name}")

    def _query(self, schema: TableSchema, sql: str) -> RawResult:
        try:
            return query_raw(self._conn, sql)
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            msg = scrub(str(exc.args[-1]) if exc.args else str(exc), self.params.password)
            if (
                code in _LOST
                or (isinstance(exc, pymysql.err.OperationalError) and code >= 2000)
                or (isinstance(exc, pymysql.err.InternalError) and code == 0)  # bad packet seq
            ):
                raise SourceUnavailable(
                    f"lost {self.params.redacted_url()} while reading {schema.id}: {msg}"
                ) from None
            if code == _NO_TABLE:
                raise TableChanged(
                    str(schema.id), f"table is gone from the source: {msg}"
                ) from None
            if code in _CHANGED:
                raise TableChanged(str(schema.id), f"table changed on the source: {msg}") from None
            raise TableFailed(str(schema.id), f"snapshot query failed ({code}): {msg}") from None
        except OSError as exc:  # the socket itself failed (reset, timeout) mid-result
            raise SourceUnavailable(
                f"lost {self.params.redacted_url()} while reading {schema.id}: {exc}"
            ) from None

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor whose connection-level failures (the server gone, the network cut mid-packet,
        which pymysql reports as OperationalError, InternalError or a bare OSError) surface as
        SourceUnavailable, so the engine retries instead of failing a table."""
        with _lost_as_unavailable(self.params):
            self._conn.ping(reconnect=False)
            with self._conn.cursor() as cur:
                yield cur


@contextlib.contextmanager
def _lost_as_unavailable(params: SourceParams) -> Iterator[None]:
    try:
        yield
    except (pymysql.err.Error, OSError) as exc:  # Error: "Already closed" has no subclass
        server_code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if 0 < server_code < 2000:
            raise  # the server answered with an error: not a lost connection
        msg = scrub(str(exc.args[-1]) if exc.args else str(exc), params.password)
        raise SourceUnavailable(f"lost {params.redacted_url()}: {msg}") from None


def _paged(schema: TableSchema) -> bool:
    """Whether a table is read in keyset pages. ENUM/SET keys sort by their index but compare
    with a string literal as text, so pages over them would skip or repeat rows: such tables
    (small lookup tables in practice) are read in one piece."""
    return not any(
        schema.column(k).source_type.lower().startswith(("enum", "set")) for k in schema.primary_key
    )


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes | bytearray) else str(v)


# -- persistable key cursors ---------------------------------------------------------------------


def encode_key(key: tuple) -> str:
    """JSON text of a key cursor; exact for every key type (decode with the table's schema)."""
    out: list[Any] = []
    for v in key:
        if isinstance(v, bool) or v is None:
            raise ValueError(f"bad key value {v!r}")
        if isinstance(v, int | str):
            out.append(v)
        elif isinstance(v, Decimal):
            out.append(format(v, "f"))
        elif isinstance(v, float):
            out.append(repr(v))
        elif isinstance(v, bytes | bytearray):
            out.append(base64.b64encode(bytes(v)).decode("ascii"))
        elif isinstance(v, dt.datetime | dt.date | dt.time):
            out.append(v.isoformat())
        else:
            raise ValueError(f"unsupported key value {v!r}")
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def decode_key(text: str, schema: TableSchema) -> tuple:
    """Inverse of `encode_key` for `schema`'s primary key."""
    raw = json.loads(text)
    if not isinstance(raw, list) or len(raw) != len(schema.primary_key):
        raise ValueError(f"key cursor {text!r} does not match the key of {schema.id}")
    out: list[Any] = []
    for name, v in zip(schema.primary_key, raw, strict=True):
        t = schema.column(name).type
        kind = t.kind if t else None
        if kind is Kind.DECIMAL:
            out.append(Decimal(v))
        elif kind in (Kind.FLOAT32, Kind.FLOAT64):
            out.append(float(v))
        elif kind is Kind.BINARY:
            out.append(base64.b64decode(v))
        elif kind is Kind.DATE:
            out.append(dt.date.fromisoformat(v))
        elif kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
            out.append(dt.datetime.fromisoformat(v))
        elif kind is Kind.TIME:
            out.append(dt.time.fromisoformat(v))
        else:
            out.append(v)
    return tuple(out)
