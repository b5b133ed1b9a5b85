"""What a Redshift expression is, told before translation (clickhouse_funcs.py rewrites by it):
an integer (so `/` truncates), a decimal or a float, a date or a timestamp; from literals,
casts, aggregates and the replicated tables' ClickHouse column types."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

# ClickHouse type names (as DESCRIBE shows them) of a column, by table alias and column name.
ColumnType = Callable[[exp.Column], str | None]

TEMPORAL = ("date", "timestamp")
_NUMBERS = {"int", "frac", "float"}


class Typer:
    """What an expression is: "int", "frac" (decimal), "float", "date", "timestamp", "other",
    or None (cannot tell)."""

    def __init__(self, column_type: ColumnType) -> None:
        self.column_type = column_type

    def kind(self, e: exp.Expr) -> str | None:
        if isinstance(e, exp.Paren | exp.Neg):
            return self.kind(e.this)
        if isinstance(e, exp.Literal):
            return None if e.is_string else ("int" if e.is_int else "frac")
        if isinstance(e, exp.Cast):
            return _type_kind(e.to)
        if isinstance(e, exp.Count | exp.Length | exp.StrPosition | exp.Extract):
            return "int"
        if isinstance(e, exp.DateDiff | exp.TsOrDsDiff):
            return "int"
        if isinstance(e, exp.Sum | exp.Min | exp.Max | exp.Abs):
            return self.kind(e.this)
        if isinstance(e, exp.Avg):
            kind = self.kind(e.this)
            return kind if kind in ("int", "float") else "frac"
        if isinstance(e, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.Div):
            left, right = self.kind(e.this), self.kind(e.expression)
            if left == right == "int":
                return "int"
            if {left, right} <= _NUMBERS:
                return "float" if "float" in (left, right) else "frac"
            return None
        if isinstance(e, exp.CurrentDate):
            return "date"
        if isinstance(e, exp.CurrentTimestamp | exp.TimestampTrunc | exp.DateTrunc):
            return "timestamp"
        if isinstance(e, exp.TsOrDsAdd | exp.DateAdd | exp.ConvertTimezone):
            return "timestamp"
        if isinstance(e, exp.Column):
            t = self.column_type(e)
            if t is None:
                return None
            base = t.removeprefix("Nullable(").removeprefix("LowCardinality(")
            if base.startswith(("Int", "UInt")):
                return "int"
            if base.startswith("Decimal"):
                return "frac"
            if base.startswith("Float"):
                return "float"
            if base.startswith(("DateTime", "Time")):
                return "timestamp"
            return "date" if base.startswith("Date") else "other"
        return None

    def decimal_scale(self, e: exp.Expr) -> int | None:
        """The scale of a DECIMAL column (AVG keeps it, as in Redshift), else None."""
        t = self.column_type(e) if isinstance(e, exp.Column) else None
        m = re.search(r"Decimal\(\d+, *(\d+)\)", t or "")
        return int(m.group(1)) if m else None


def _type_kind(to: exp.DataType) -> str:
    t = to.this
    if t in exp.DataType.INTEGER_TYPES:
        return "int"
    if t in (exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE):
        return "float"
    if t in exp.DataType.REAL_TYPES:
        return "frac"
    if t in (exp.DataType.Type.DATE, exp.DataType.Type.DATE32):
        return "date"
    return "timestamp" if t in exp.DataType.TEMPORAL_TYPES else "other"
