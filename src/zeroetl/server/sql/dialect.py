"""Redshift / PostgreSQL -> DuckDB translation of one parsed statement (sqlglot).

sqlglot's Redshift reader does most of the work (NVL, NVL2, DECODE, TOP n, DATEADD, DATEDIFF,
CHARINDEX, LEN, CONVERT_TIMEZONE, LISTAGG ... WITHIN GROUP, APPROXIMATE COUNT). This module fixes
what it gets wrong or leaves out (FACTS.md), and refuses what would silently differ:
- `7/2` is 3 in Redshift: sessions run with DuckDB's `integer_division` on, which divides integer
  by integer exactly like Redshift (truncation toward zero, error on zero) at run time with the
  real column types; sqlglot's own answer needs every type annotated and casts the quotient to
  BIGINT, which rounds (7/2 -> 4).
- GETDATE()/SYSDATE are UTC timestamps whatever the session time zone (macros in catalog.py).
- LISTAGG without a delimiter concatenates with '' (sqlglot supplies ','); LISTAGG(DISTINCT ...)
  would otherwise become a row-valued aggregate.
- TRUNC(x) of one argument is a date for timestamps and a number for numbers: decided from the
  argument's real type, refused when it cannot be told.
- DATEPART(dow, ts) and RATIO_TO_REPORT(x) OVER (...) are rewritten; STRTOL maps to a macro.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from .errors import SqlError

TEMPORAL = {"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
            "TIMESTAMP_S"}  # fmt: skip
_TEMPORAL_TYPES = {
    exp.DataType.Type.DATE,
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.DATETIME,
}

# Functions DuckDB would accept with a different meaning, or sqlglot cannot express: refused.
REFUSED: dict[str, str] = {
    "ISNULL": "ISNULL(a, b) is not Redshift SQL; use NVL(a, b) or COALESCE(a, b)",
    "GETUTCDATE": "use GETDATE() (UTC)",
    "PG_LAST_COPY_ID": "there is no COPY on a replicated warehouse",
}

ColumnType = Callable[[exp.Column], str | None]


def translate(tree: exp.Expression, column_type: ColumnType) -> exp.Expression:
    """Rewrite `tree` (parsed as Redshift) in place into something DuckDB runs the same way."""
    for node in list(tree.walk()):
        if isinstance(node, exp.Anonymous):
            _anonymous(node)
        elif isinstance(node, exp.GroupConcat):
            _listagg(node)
        elif isinstance(node, exp.Window) and _name(node.this) == "RATIO_TO_REPORT":
            _ratio_to_report(node)
    for node in list(tree.find_all(exp.Func)):
        if _name(node) == "TRUNC" and _arg_count(node) == 1:
            _trunc(node, column_type)
    _call_value_functions(tree)
    _bounded_string_casts(tree)
    return tree


_BOUNDED = (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.NVARCHAR,
            exp.DataType.Type.NCHAR)  # fmt: skip


def _bounded_string_casts(tree: exp.Expression) -> None:
    """`x::varchar(3)` and `x::char(3)` keep 3 characters, as an explicit cast does in Redshift
    and PostgreSQL (DuckDB keeps no length: its VARCHAR(3) is any VARCHAR). CHAR's blank padding
    is not added (values read as the source stores them)."""
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.args.get("to")
        if not isinstance(to, exp.DataType) or to.this not in _BOUNDED or not to.expressions:
            continue
        length = to.expressions[0].this
        if not (isinstance(length, exp.Literal) and not length.is_string):
            continue
        inner = exp.cast(cast.this.copy(), exp.DataType.Type.VARCHAR)
        cut = exp.Anonymous(this="left", expressions=[inner, exp.Literal.number(int(length.this))])
        cast.replace(exp.cast(cut, exp.DataType.Type.VARCHAR))


# DuckDB binds a bare CURRENT_DATE/CURRENT_TIMESTAMP/CURRENT_TIME as a column first, so a select
# item labelled with its own name (`current_date AS "current_date"`) was refused: call the
# functions behind them instead (same values: the transaction's start, session time zone).
_VALUE_FUNCTIONS: dict[type, str] = {
    exp.CurrentTimestamp: "get_current_timestamp",
    exp.CurrentDate: "current_date",
    exp.CurrentTime: "get_current_time",
}


def _call_value_functions(tree: exp.Expression) -> None:
    node: exp.Expr
    for node in list(tree.find_all(*_VALUE_FUNCTIONS)):
        args: list[object] = list(node.args.values())
        if not any(v is not None for v in args):
            node.replace(exp.Anonymous(this=_VALUE_FUNCTIONS[type(node)], expressions=[]))


def generate(tree: exp.Expr) -> str:
    try:
        return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        raise SqlError("0A000", f"cannot translate this statement to DuckDB: {e}") from None


def parse(sql: str) -> exp.Expression:
    """Parse one statement as Redshift, falling back to PostgreSQL."""
    last: Exception | None = None
    for dialect in ("redshift", "postgres"):
        try:
            tree = sqlglot.parse_one(sql, read=dialect)
        except sqlglot.errors.ParseError as e:
            last = e
            continue
        if tree is not None:
            return tree  # type: ignore[return-value]
    raise syntax_error(sql, last)


def syntax_error(sql: str, err: Exception | None) -> SqlError:
    """PostgreSQL's wording (`syntax error at or near "x"`, `at end of input`); sqlglot's own
    description, which names its classes (`<class 'sqlglot.expressions...'>`), never shows."""
    found = getattr(err, "errors", None) or []
    if not found:
        return SqlError("42601", "syntax error")
    first = found[0]
    near, col, line = str(first.get("highlight") or ""), first.get("col"), first.get("line")
    description = str(first.get("description") or "")
    lines = sql.rstrip().splitlines() or [""]
    at_end = (
        isinstance(col, int)
        and isinstance(line, int)
        and line >= len(lines)
        and col >= len(lines[-1])
        and (description.startswith(("Expecting", "Required keyword")) or not near)
    )
    where = "at end of input" if at_end or not near else f'at or near "{near}"'
    if description.startswith("Required keyword"):
        detail = "an argument or a clause is missing"
    elif description.startswith("Expecting"):
        detail = description[0].lower() + description[1:]
    else:
        detail = ""
    return SqlError("42601", f"syntax error {where}", detail=detail)


def _name(node: object) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).upper()
    if isinstance(node, exp.Func):
        return node.sql_name().upper()
    return ""


def _arg_count(node: exp.Func) -> int:
    if isinstance(node, exp.Anonymous):
        return len(node.expressions)
    return sum(1 for k, v in node.args.items() if v is not None and k != "safe")


def _anonymous(node: exp.Anonymous) -> None:
    name = str(node.this).upper()
    if name in REFUSED:
        raise SqlError("0A000", f"{name} is not supported: {REFUSED[name]}")
    if name in ("DATEPART", "DATE_PART") and node.expressions:
        part = node.expressions[0]
        if isinstance(part, exp.Column) and not part.table:
            node.set("this", "date_part")
            part.replace(exp.Literal.string(part.name.lower()))


def _listagg(node: exp.GroupConcat) -> None:
    arg = node.this
    if isinstance(arg, exp.Distinct):
        values = arg.expressions
        if len(values) == 2 and node.args.get("separator") is None:
            node.set("separator", values[1])
            arg.set("expressions", [values[0]])
        elif len(values) > 2:
            raise SqlError("0A000", "LISTAGG(DISTINCT ...) takes one value and one delimiter")
    if node.args.get("separator") is None:
        node.set("separator", exp.Literal.string(""))  # Redshift's default delimiter is none


def _ratio_to_report(win: exp.Window) -> None:
    fn = win.this
    args = fn.expressions if isinstance(fn, exp.Anonymous) else [fn.this]
    if len(args) != 1:
        raise SqlError("0A000", "RATIO_TO_REPORT takes exactly one argument")
    value = args[0]
    if win.args.get("order"):
        raise SqlError("0A000", "RATIO_TO_REPORT does not take ORDER BY in its window")
    total = exp.Window(
        this=exp.Sum(this=value.copy()),
        partition_by=[p.copy() for p in win.args.get("partition_by") or []],
    )
    ratio = exp.Div(this=exp.cast(value.copy(), exp.DataType.Type.DOUBLE), expression=total)
    win.replace(exp.Paren(this=ratio))


def _trunc(node: exp.Func, column_type: ColumnType) -> None:
    arg = node.expressions[0] if isinstance(node, exp.Anonymous) else node.this
    kind = _kind(arg, column_type)
    if kind == "temporal":
        node.replace(exp.cast(arg.copy(), exp.DataType.Type.DATE))
    elif kind is None:
        raise SqlError(
            "0A000",
            f"TRUNC({arg.sql('redshift')}): cannot tell whether the argument is a timestamp or a"
            " number here; write CAST(x AS DATE) to truncate a timestamp, or TRUNC(x, 0)",
        )


def _kind(arg: exp.Expression, column_type: ColumnType) -> str | None:
    if isinstance(arg, exp.Cast):
        return "temporal" if arg.to.this in _TEMPORAL_TYPES else "number"
    if isinstance(arg, exp.Literal):
        return "number" if not arg.is_string else None
    if isinstance(arg, exp.CurrentTimestamp | exp.CurrentDate | exp.DateTrunc | exp.DateAdd):
        return "temporal"
    if isinstance(arg, exp.Anonymous) and str(arg.this).lower() in (
        "zeroetl_getdate",
        "zeroetl_sysdate",
        "dateadd",
    ):
        return "temporal"
    if isinstance(arg, exp.Column):
        t = column_type(arg)
        if t is None:
            return None
        base = t.split("(")[0].upper()
        return "temporal" if base in TEMPORAL else "number"
    return None
