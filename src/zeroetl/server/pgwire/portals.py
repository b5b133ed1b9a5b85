"""Portals and SQL-level cursors: row sources that can be read a slice at a time.

A protocol portal (Bind) and a SQL cursor (`DECLARE c CURSOR FOR ...`) are the same thing in
PostgreSQL; psycopg's server-side cursors even DECLARE a cursor and then Describe it as a portal.
So the wire layer owns both: DECLARE / FETCH / MOVE / CLOSE are recognised here and never reach
the SQL layer (which sees only the cursor's query).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from zeroetl.server.pgwire.copyout import CopyOut
from zeroetl.server.pgwire.types import ColumnCodec, codec_for

# a result of at most this many values, read already, is encoded on the event loop itself
INLINE_CELLS = 2048


class ConformError(Exception):
    """A value does not fit the result type the statement was described with."""

    sqlstate = "22003"

    @property
    def message(self) -> str:
        return str(self)


class RowSource:
    """The rows of one result, handed out in slices; reads the lazy batches only as needed."""

    def __init__(self, columns: Sequence[Any], batches: Iterator[pa.RecordBatch]) -> None:
        self.columns = list(columns)
        self.codecs: list[ColumnCodec] = [
            codec_for(c.type, getattr(c, "pg_type", "")) for c in self.columns
        ]
        self._batches = iter(batches)
        self._pending: pa.RecordBatch | None = None
        self._casts: list[pa.DataType | None] = [None] * len(self.columns)
        self.exhausted = False
        self.position = 0  # rows handed out so far
        self.memo: dict[object, object] | None = None  # a kept result's encodings (session.py)

    def conform(self, described: Sequence[Any]) -> None:
        """Hand rows out as the statement's Describe promised them: PostgreSQL's Execute never
        differs from it, and clients (redshift_connector) decode by that description. DuckDB's
        result type can follow a parameter's value (`select $1` is NULL when described, INTEGER
        for 1, BIGINT for 2**40), so such a column is cast to the described type."""
        if len(described) != len(self.columns):
            return
        for i, (want, have) in enumerate(zip(described, self.columns, strict=True)):
            target = pa.string() if pa.types.is_null(want.type) else want.type
            if not target.equals(have.type):
                self._casts[i] = target
                self.codecs[i] = codec_for(target, getattr(want, "pg_type", ""))

    def _cast(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not any(self._casts):
            return batch
        arrays = []
        for i, target in enumerate(self._casts):
            col = batch.column(i)
            try:
                arrays.append(col if target is None else col.cast(target))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ConformError(
                    f"result column {self.columns[i].name} does not fit the type it was described"
                    f" with ({target}): {exc}"
                ) from None
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

    def next_slice(self, limit: int) -> pa.RecordBatch | None:
        """Up to `limit` rows (> 0), or None once every row has been handed out."""
        while self._pending is None or self._pending.num_rows == 0:
            if self.exhausted:
                return None
            try:
                self._pending = next(self._batches)
            except StopIteration:
                self.exhausted = True
                self._pending = None
                return None
        batch = self._pending
        if batch.num_rows <= limit:
            self._pending = None
            out = batch
        else:
            out, self._pending = batch.slice(0, limit), batch.slice(limit)
        self.position += out.num_rows
        return self._cast(out)

    def shape(self) -> tuple[object, ...]:
        """How rows are encoded: the codecs and casts (conform may change them)."""
        pairs = zip(self.codecs, self._casts, strict=True)
        return tuple((k.pg.oid, k.typmod, str(c)) for k, c in pairs)

    def skip_all(self) -> None:
        """Every row counts as handed out (their encoding was kept)."""
        n = 0 if self._pending is None else self._pending.num_rows
        for batch in self._batches:
            n += batch.num_rows
        self._pending, self.exhausted = None, True
        self.position += n

    def read_ahead(self) -> None:
        """Worker thread, as the statement runs: its first batch, and whether another follows.
        A result that fits in one batch is then encoded on the event loop with no further trip
        to the worker (`inline`). An error is left for `next_slice` to raise."""
        try:
            if self.drained():
                return
            try:
                more = next(self._batches)
            except StopIteration:
                self.exhausted = True  # the pending batch is the last
                return
            self._batches = itertools.chain([more], self._batches)
        except Exception:
            return

    def inline(self, limit: int) -> bool:
        """Whether the rest is small and already read: encoding it costs less than a trip."""
        if not self.exhausted:
            return False
        rows = 0 if self._pending is None else self._pending.num_rows
        return rows <= limit and rows * max(1, len(self.columns)) <= INLINE_CELLS

    def drained(self) -> bool:
        """Whether every row has been handed out: reads the next batch ahead when none is
        pending, so that a small result ends without another trip to the worker thread. An
        error reading ahead is left for the next `next_slice` to raise."""
        try:
            while self._pending is None or self._pending.num_rows == 0:
                if self.exhausted:
                    return True
                try:
                    self._pending = next(self._batches)
                except StopIteration:
                    self.exhausted = True
                    self._pending = None
                    return True
        except Exception:
            return False
        return False

    def close(self) -> None:
        closer = getattr(self._batches, "close", None)
        if callable(closer):
            closer()
        self.exhausted = True
        self._pending = None


class LimitedSource:
    """A FETCH: at most `count` rows (None = all) of a cursor's source."""

    def __init__(self, source: RowSource, count: int | None) -> None:
        self.inner = source
        self.columns = source.columns
        self.codecs = source.codecs
        self.remaining = count

    def next_slice(self, limit: int) -> pa.RecordBatch | None:
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            limit = min(limit, self.remaining)
        out = self.inner.next_slice(limit)
        if out is not None and self.remaining is not None:
            self.remaining -= out.num_rows
        return out

    def drained(self) -> bool:
        return (self.remaining is not None and self.remaining <= 0) or self.inner.drained()

    @property
    def exhausted(self) -> bool:
        return False  # closing a FETCH is free anyway

    def close(self) -> None:  # a FETCH does not own its cursor
        pass


@dataclass
class Outcome:
    """What running one statement produced: rows to stream, or just a command tag."""

    tag: str
    source: RowSource | LimitedSource | None = None
    parameter_status: dict[str, str] = field(default_factory=dict)
    copy: CopyOut | None = None  # COPY ... TO STDOUT: rows go out as CopyData

    @property
    def columns(self) -> list[Any] | None:
        return None if self.source is None else self.source.columns


@dataclass
class Portal:
    name: str
    sql: str
    params: list[object]
    result_formats: tuple[int, ...]
    outcome: Outcome | None = None  # set when first described or executed
    holdable: bool = False  # a WITH HOLD cursor survives its transaction
    is_cursor: bool = False
    described: list[Any] | None = None  # the columns its statement's Describe reported
    rows_sent: int = 0
    done: bool = False

    def close(self) -> None:
        if self.outcome is not None and self.outcome.source is not None:
            self.outcome.source.close()


# --------------------------------------------------------------------------- cursor statements

_IDENT = r'(?P<name>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_DECLARE = re.compile(
    r"^\s*DECLARE\s+"
    + _IDENT
    + r"\s+(?P<opts>(?:BINARY|ASENSITIVE|INSENSITIVE|NO\s+SCROLL|SCROLL|\s)*)"
    r"CURSOR\s+(?:(?P<hold>WITH|WITHOUT)\s+HOLD\s+)?FOR\s+(?P<query>.+?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FETCH = re.compile(
    r"^\s*(?P<verb>FETCH|MOVE)\s+(?:(?P<dir>NEXT|FORWARD|ALL|FORWARD\s+ALL)\s+)?"
    r"(?:(?P<count>\d+)\s+)?(?:(?:FROM|IN)\s+)?" + _IDENT + r"\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CLOSE = re.compile(r"^\s*CLOSE\s+(?:(?P<all>ALL)|" + _IDENT + r")\s*;?\s*$", re.IGNORECASE)


def _ident(raw: str) -> str:
    if raw.startswith('"'):
        return raw[1:-1].replace('""', '"')
    return raw.lower()


@dataclass(frozen=True)
class Declare:
    name: str
    query: str
    hold: bool
    binary: bool


@dataclass(frozen=True)
class Fetch:
    name: str
    count: int | None  # None = ALL
    move: bool


@dataclass(frozen=True)
class CloseCursor:
    name: str | None  # None = ALL


CursorStatement = Declare | Fetch | CloseCursor


def parse_cursor_statement(sql: str) -> CursorStatement | None:
    """Recognise DECLARE ... CURSOR, FETCH, MOVE and CLOSE; anything else gives None."""
    head = sql.lstrip()[:8].upper()
    if head.startswith("DECLARE"):
        m = _DECLARE.match(sql)
        if m:
            opts = m.group("opts").upper()
            return Declare(
                _ident(m.group("name")),
                m.group("query"),
                (m.group("hold") or "").upper() == "WITH",
                "BINARY" in opts,
            )
    elif head.startswith(("FETCH", "MOVE")):
        m = _FETCH.match(sql)
        if m and m.group("name").upper() not in ("FROM", "IN"):
            direction = (m.group("dir") or "").upper()
            count: int | None = int(m.group("count")) if m.group("count") else 1
            if "ALL" in direction:
                count = None
            return Fetch(_ident(m.group("name")), count, m.group("verb").upper() == "MOVE")
    elif head.startswith("CLOSE"):
        m = _CLOSE.match(sql)
        if m:
            return CloseCursor(None if m.group("all") else _ident(m.group("name")))
    return None
