"""MySQL text-protocol values (raw bytes per column) -> Arrow arrays of the column's logical type.

Every conversion is a vectorised pyarrow compute call over the whole column; no Python call per
value. The results must equal what the binlog decoder gives for the same rows (the type
mapping's conventions, docs/sql.md "Types"): TIMESTAMP read under session time zone +00:00 is
the UTC instant; zero dates become NULL and are counted; TIME outside 00:00:00..23:59:59.999999
fails the table.

Some columns are selected through an expression so the text is exact (see `select_expr`):
FLOAT's own text has only 6 significant digits, so it is widened to DOUBLE (exact) whose text
round-trips; BIT's text is its raw bytes, so it is selected as an unsigned integer.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from zeroetl.errors import TableFailed
from zeroetl.model import INTEGER_KINDS, ColumnSchema, Kind, TableId
from zeroetl.sources.mysql.types import GEOMETRY_TYPES

_CAST_KINDS = INTEGER_KINDS | {Kind.DECIMAL, Kind.FLOAT64}
_TIME_OK = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$"


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def base_type(column: ColumnSchema) -> str:
    """'decimal(10,2) unsigned' -> 'decimal'."""
    return column.source_type.lower().split("(")[0].split(" ")[0]


def is_geometry(column: ColumnSchema) -> bool:
    return base_type(column) in GEOMETRY_TYPES


def select_expr(column: ColumnSchema) -> str:
    """The SELECT-list expression whose text converts exactly into the column's Arrow type."""
    q = quote_ident(column.name)
    bt = base_type(column)
    if bt == "bit":
        return f"CAST({q} AS UNSIGNED)"
    if bt == "float":
        return f"CAST({q} AS DOUBLE)"
    return q


class Converter:
    """Converts raw columns of one table; counts zero dates across calls."""

    def __init__(self, table: TableId) -> None:
        self.table = table
        self.zero_dates = 0

    def convert(self, column: ColumnSchema, raw: pa.Array) -> pa.Array:
        if column.type is None:
            raise TableFailed(str(self.table), f"column {column.name!r}: unsupported type")
        kind = column.type.kind
        target = column.type.arrow()
        if kind is Kind.BINARY:
            # Drop MySQL's 4-byte SRID prefix. An explicit stop: pyarrow 26's binary_slice
            # with no stop fails ("Negative buffer resize") on some arrays.
            return pc.binary_slice(raw, 4, 1 << 31) if is_geometry(column) else raw
        text = raw.cast(pa.string())  # validates UTF-8 (the connection is utf8mb4)
        if kind in (Kind.STRING, Kind.JSON, Kind.DECIMAL_TEXT):
            return text
        if kind in _CAST_KINDS:
            return text.cast(target)
        if kind is Kind.FLOAT32:
            # The text is a round-trip DOUBLE of a float value: parse as double, then narrow
            # (exact, since the double holds a float32 value).
            return text.cast(pa.float64()).cast(pa.float32())
        if kind is Kind.DATE or kind is Kind.TIMESTAMP:
            return self._temporal(text, target)
        if kind is Kind.TIMESTAMPTZ:
            wall = self._temporal(text, pa.timestamp("us"))
            # Session time zone is +00:00, so the text is already the UTC instant.
            return wall.cast(pa.int64()).cast(target)
        if kind is Kind.TIME:
            return self._time(column, text)
        raise TableFailed(str(self.table), f"column {column.name!r}: no text conversion for {kind}")

    def _temporal(self, text: pa.Array, target: pa.DataType) -> pa.Array:
        """Dates and timestamps. A zero date fails the cast, so the common case (none) costs one
        cast; only a column that has one pays for finding them (half the convert time before)."""
        try:
            return text.cast(target)
        except pa.ArrowInvalid:
            return self._zero_dates_to_null(text).cast(target)

    def _zero_dates_to_null(self, text: pa.Array) -> pa.Array:
        """'0000-00-00...' and dates with a zero month or day (allowed by lax sql_modes) -> NULL."""
        month = pc.utf8_slice_codeunits(text, 5, 7)
        day = pc.utf8_slice_codeunits(text, 8, 10)
        zero = pc.or_(pc.equal(month, "00"), pc.equal(day, "00"))
        count = pc.sum(zero.cast(pa.int64())).as_py() or 0
        if not count:
            return text
        self.zero_dates += count
        return pc.if_else(zero, pa.scalar(None, pa.string()), text)

    def _time(self, column: ColumnSchema, text: pa.Array) -> pa.Array:
        ok = pc.match_substring_regex(text, _TIME_OK)
        bad = pc.invert(pc.fill_null(ok, True))
        if pc.any(bad).as_py():
            sample = pc.filter(text, bad)[0].as_py()
            raise TableFailed(
                str(self.table),
                f"TIME value out of range: {sample} in column {column.name!r} "
                "(only 00:00:00..23:59:59.999999 maps to TIME)",
            )

        def part(a: int, b: int) -> pa.Array:
            return pc.utf8_slice_codeunits(text, a, b).cast(pa.int64())

        seconds = pc.add(
            pc.multiply(pc.add(pc.multiply(part(0, 2), 60), part(3, 5)), 60), part(6, 8)
        )
        frac = pc.utf8_rpad(pc.utf8_slice_codeunits(text, 9, 15), 6, "0").cast(pa.int64())
        micros = pc.add(pc.multiply(seconds, 1_000_000), frac)
        return micros.cast(pa.time64("us"))
