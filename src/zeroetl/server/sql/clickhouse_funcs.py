"""Redshift functions and operators -> ClickHouse, on a parsed (Redshift) tree, in place.

sqlglot's ClickHouse generator covers what both spell alike; what it gets wrong for Redshift's
meaning is rewritten here into ClickHouse's own functions (parsed from ClickHouse text, so the
generator writes them back unchanged):
- `a / b` of two integers truncates in Redshift (7/2 = 3, -7/2 = -3): `intDiv`, which truncates
  toward zero and refuses zero; ClickHouse's `/` is always a float division. Integer-ness comes
  from the replicated tables' column types and the expression's shape (clickhouse_types).
- Strings are characters in Redshift, bytes in ClickHouse: LEN, SUBSTRING, CHARINDEX/POSITION,
  UPPER/LOWER, LEFT/RIGHT use the UTF-8 variants.
- TRUNC(timestamp) is a date; DATE_TRUNC, DATEADD are timestamps (ClickHouse answers Date32);
  DATEDIFF counts boundaries crossed (ClickHouse's dateDiff does too); DATEPART/EXTRACT(dow) is
  0 = Sunday; CONVERT_TIMEZONE converts a wall-clock value between zones.
- LISTAGG(x, d) WITHIN GROUP (ORDER BY k) keeps k's order and skips NULLs; RATIO_TO_REPORT;
  STRTOL; GETDATE/SYSDATE/CURRENT_DATE in UTC.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from . import dialect
from .clickhouse_types import TEMPORAL, Typer
from .errors import SqlError

_DATEPART = {
    "year": "toYear({x})", "y": "toYear({x})", "yr": "toYear({x})", "years": "toYear({x})",
    "quarter": "toQuarter({x})", "qtr": "toQuarter({x})",
    "month": "toMonth({x})", "mon": "toMonth({x})", "mons": "toMonth({x})",
    "week": "toISOWeek({x})", "w": "toISOWeek({x})",
    "day": "toDayOfMonth({x})", "d": "toDayOfMonth({x})", "days": "toDayOfMonth({x})",
    "dow": "toDayOfWeek({x}, 2)", "dayofweek": "toDayOfWeek({x}, 2)",
    "doy": "toDayOfYear({x})", "dayofyear": "toDayOfYear({x})",
    "hour": "toHour({x})", "h": "toHour({x})", "hours": "toHour({x})",
    "minute": "toMinute({x})", "m": "toMinute({x})", "min": "toMinute({x})",
    "second": "toSecond({x})", "s": "toSecond({x})", "sec": "toSecond({x})",
    "epoch": "toUnixTimestamp({x})",
}  # fmt: skip

_UNITS = {"year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond",
          "microsecond"}  # fmt: skip
_UNIT_ALIASES = {"y": "year", "yr": "year", "years": "year", "qtr": "quarter", "mon": "month",
                 "mons": "month", "months": "month", "w": "week", "weeks": "week", "d": "day",
                 "days": "day", "h": "hour", "hours": "hour", "m": "minute", "min": "minute",
                 "minutes": "minute", "s": "second", "sec": "second", "seconds": "second",
                 "ms": "millisecond", "us": "microsecond"}  # fmt: skip


def ch(template: str, **args: exp.Expr) -> exp.Expr:
    """ClickHouse text with `{name}` placeholders filled by expressions (copied)."""
    marks = {k: f"__zq_arg_{k}" for k in args}
    tree = sqlglot.parse_one(template.format(**marks), read="clickhouse")
    for col in list(tree.find_all(exp.Column)):
        for k, mark in marks.items():
            if col.name == mark and not col.table:
                col.replace(args[k].copy())
    return tree


def _unit(node: exp.Expr | None, default: str = "day") -> str:
    if node is None:
        return default
    name = (
        node.name if isinstance(node, exp.Column | exp.Var | exp.Literal) else str(node)
    ).lower()
    name = _UNIT_ALIASES.get(name, name)
    if name not in _UNITS:
        raise SqlError("22023", f'unit "{name}" not recognized for a date/time function')
    return name


# a DECIMAL quotient keeps this many digits after the point (Redshift widens the scale;
# ClickHouse would keep the dividend's: sum(price)/count(*) of DECIMAL(8,2) gave 119.66)
QUOTIENT_SCALE = 10


def translate(tree: exp.Expr, typer: Typer) -> None:
    """Rewrite every Redshift-only construct of `tree` (parsed as Redshift) for ClickHouse."""
    for node in list(tree.walk()):
        if isinstance(node, exp.Anonymous):
            _anonymous(node)
        elif isinstance(node, exp.Window) and dialect._name(node.this) == "RATIO_TO_REPORT":
            dialect._ratio_to_report(node)
    # types are told from the tree as written, before any rewrite hides them
    for node in list(tree.find_all(exp.Div, exp.Sub, exp.Trunc, exp.Avg, exp.Cast)):
        if isinstance(node, exp.Div):  # 7/2 = 3; a decimal quotient keeps its digits
            kinds = {typer.kind(node.this), typer.kind(node.expression)}
            node.meta["zq_int"] = kinds == {"int"}
            node.meta["zq_decimal"] = "frac" in kinds and kinds <= {"int", "frac"}
        elif isinstance(node, exp.Sub):  # date - date = days
            node.meta["zq_days"] = typer.kind(node.this) == typer.kind(node.expression) == "date"
        elif isinstance(node, exp.Avg):  # AVG of integers is an integer (truncated)
            node.meta["zq_int"] = typer.kind(node.this) == "int"
            node.meta["zq_scale"] = typer.decimal_scale(node.this)  # of DECIMAL(p, s): s
        elif isinstance(node, exp.Cast):  # 53.55::int = 54; a timestamp's text
            kind = typer.kind(node.this)
            node.meta["zq_round"] = node.to.this in exp.DataType.INTEGER_TYPES and kind in (
                "frac",
                "float",
            )
            node.meta["zq_timestamp"] = kind == "timestamp"
        else:
            node.meta["zq_kind"] = typer.kind(node.this)
    # innermost first: a rewrite copies its arguments, which must already be rewritten
    for node in reversed(list(tree.walk())):
        new = _rewrite(node, typer)
        if new is not None and new is not node:
            node.replace(new)


def _anonymous(node: exp.Anonymous) -> None:
    name = str(node.this).upper()
    if name in dialect.REFUSED:
        raise SqlError("0A000", f"{name} is not supported: {dialect.REFUSED[name]}")


def _rewrite(node: exp.Expr, typer: Typer) -> exp.Expr | None:
    if isinstance(node, exp.Div):
        if node.meta.get("zq_int"):
            return ch("intDiv({a}, {b})", a=node.this, b=node.expression)
        if node.meta.get("zq_decimal"):
            return ch(
                f"toDecimal128({{a}}, {QUOTIENT_SCALE}) / {{b}}", a=node.this, b=node.expression
            )
        return None
    if isinstance(node, exp.Sub) and node.meta.get("zq_days"):
        return ch("dateDiff('day', {b}, {a})", a=node.this, b=node.expression)
    if isinstance(node, exp.Avg) and node.meta.get("zq_int"):
        return ch("toInt64(avg({x}))", x=node.this)
    if isinstance(node, exp.Avg) and node.meta.get("zq_scale") is not None:
        scale = node.meta["zq_scale"]
        return ch(f"toDecimal128(round(avg({{x}}), {scale}), {scale})", x=node.this)
    if isinstance(node, exp.SplitPart):
        return ch(
            "arrayElement(splitByString({d}, {s}), {n})",
            s=node.this,
            d=node.args["delimiter"],
            n=node.args["part_index"],
        )
    if isinstance(node, exp.Length):
        return ch("lengthUTF8({s})", s=node.this)
    if isinstance(node, exp.Upper):
        return ch("upperUTF8({s})", s=node.this)
    if isinstance(node, exp.Lower):
        return ch("lowerUTF8({s})", s=node.this)
    if isinstance(node, exp.Left):
        return ch("leftUTF8({s}, {n})", s=node.this, n=node.expression)
    if isinstance(node, exp.Right):
        return ch("rightUTF8({s}, {n})", s=node.this, n=node.expression)
    if isinstance(node, exp.Substring):
        start, length = node.args.get("start") or exp.Literal.number(1), node.args.get("length")
        if length is None:
            return ch("substringUTF8({s}, {i})", s=node.this, i=start)
        return ch("substringUTF8({s}, {i}, {n})", s=node.this, i=start, n=length)
    if isinstance(node, exp.StrPosition):
        return ch("positionUTF8({s}, {sub})", s=node.this, sub=node.args["substr"])
    if isinstance(node, exp.Trunc):
        return _trunc(node)
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
        unit = _unit(node.args.get("unit"))
        return ch(f"toDateTime64(dateTrunc('{unit}', {{x}}), 6, 'UTC')", x=node.this)
    if isinstance(node, exp.TsOrDsAdd | exp.DateAdd):
        unit = _unit(node.args.get("unit"))
        return ch(
            f"date_add({unit.upper()}, {{n}}, {{x}})", n=node.expression, x=_timestamp(node.this)
        )
    if isinstance(node, exp.TsOrDsDiff | exp.DateDiff):
        unit = _unit(node.args.get("unit"))
        a, b = _timestamp_text(node.expression), _timestamp_text(node.this)
        return ch(f"dateDiff('{unit}', {{a}}, {{b}})", a=a, b=b)
    if isinstance(node, exp.ConvertTimezone):
        src = node.args.get("source_tz") or exp.Literal.string("UTC")
        return ch(
            "toDateTime64(toString(toTimeZone(toDateTime64(toString({x}), 6, {src}), {dst})), 6,"
            " 'UTC')",
            x=node.args["timestamp"],
            src=src,
            dst=node.args["target_tz"],
        )
    if isinstance(node, exp.Extract):
        return _datepart(node.this, node.expression)
    if isinstance(node, exp.Anonymous) and str(node.this).upper() in ("DATEPART", "DATE_PART"):
        if len(node.expressions) != 2:
            raise SqlError("42883", "DATEPART takes a part and a date/time")
        return _datepart(node.expressions[0], node.expressions[1])
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.GroupConcat):
        return _listagg(node.this, node.expression)
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
        return _percentile(node.this.this, node.expression)
    if isinstance(node, exp.Median):  # exact, as Redshift's (ClickHouse's median samples)
        return ch("quantileExactInclusive(0.5)(toFloat64({x}))", x=node.this)
    if isinstance(node, exp.LogicalAnd):
        return ch("toBool(min({x}))", x=node.this)
    if isinstance(node, exp.LogicalOr):
        return ch("toBool(max({x}))", x=node.this)
    if isinstance(node, exp.GroupConcat) and not isinstance(node.parent, exp.WithinGroup):
        return _listagg(node, None)
    if isinstance(node, exp.FromBase):
        return _strtol(node.this, node.expression)
    if isinstance(node, exp.CurrentTimestamp):
        precision = 6 if node.args.get("sysdate") else 0
        return ch(f"toDateTime64(now64({precision}, 'UTC'), 6, 'UTC')")
    if isinstance(node, exp.CurrentDate):
        return ch("toDate32(now('UTC'))")
    if isinstance(node, exp.Cast):
        return _cast(node)
    return None


def _timestamp(x: exp.Expr) -> exp.Expr:
    return ch("toDateTime64({x}, 6, 'UTC')", x=x)


def _timestamp_text(x: exp.Expr) -> exp.Expr:
    """A string literal where a date/time is expected ('2008-01-01') is read as one."""
    return _timestamp(x) if isinstance(x, exp.Literal) and x.is_string else x


def _percentile(fraction: exp.Expr, order: exp.Expr) -> exp.Expr:
    keys = order.expressions if isinstance(order, exp.Order) else []
    if len(keys) != 1:
        raise SqlError("0A000", "PERCENTILE_CONT ... WITHIN GROUP takes one ORDER BY key")
    if not (isinstance(fraction, exp.Literal) and not fraction.is_string):
        raise SqlError("0A000", "PERCENTILE_CONT takes a constant fraction here")
    p = float(fraction.this)
    if keys[0].args.get("desc"):
        p = 1 - p
    return ch(f"quantileExactInclusive({p!r})(toFloat64({{x}}))", x=keys[0].this)


def _trunc(node: exp.Trunc) -> exp.Expr | None:
    if node.args.get("decimals") is not None:
        return ch("trunc({x}, {n})", x=node.this, n=node.args["decimals"])
    kind = node.meta.get("zq_kind")
    if kind in TEMPORAL:
        return ch("toDate32({x})", x=node.this)
    if kind is None:
        raise SqlError(
            "0A000",
            f"TRUNC({node.this.sql('redshift')}): cannot tell whether the argument is a timestamp"
            " or a number here; write CAST(x AS DATE) to truncate a timestamp, or TRUNC(x, 0)",
        )
    return ch("trunc({x})", x=node.this)


def _datepart(part: exp.Expr, value: exp.Expr) -> exp.Expr:
    name = part.name.lower() if isinstance(part, exp.Column | exp.Var | exp.Literal) else ""
    template = _DATEPART.get(name)
    if template is None:
        raise SqlError("22023", f'date part "{name or part.sql()}" is not supported here')
    return ch(template.format(x="{x}"), x=value)


def _listagg(node: exp.GroupConcat, order: exp.Expr | None) -> exp.Expr:
    value = node.this
    separator = node.args.get("separator") or exp.Literal.string("")
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        values = value.expressions
        if len(values) == 2 and node.args.get("separator") is None:
            separator = values[1]
        elif len(values) != 1:
            raise SqlError("0A000", "LISTAGG(DISTINCT ...) takes one value and one delimiter")
        value = values[0]
    keys = order.expressions if isinstance(order, exp.Order) else []
    if distinct:
        if keys and not (len(keys) == 1 and keys[0].this == value):
            raise SqlError("0A000", "LISTAGG(DISTINCT x) can only be ordered by x")
        sort = "arrayReverseSort" if keys and keys[0].args.get("desc") else "arraySort"
        return _joined(ch(f"{sort}(groupUniqArray(toString({{v}})))", v=value), separator)
    if not keys:
        return _joined(ch("groupArray(toString({v}))", v=value), separator)
    descs = {bool(k.args.get("desc")) for k in keys}
    if len(descs) > 1:
        raise SqlError("0A000", "LISTAGG ... WITHIN GROUP: mixed ASC/DESC keys are not supported")
    sort = "arrayReverseSort" if descs.pop() else "arraySort"
    key = keys[0].this if len(keys) == 1 else exp.Tuple(expressions=[k.this for k in keys])
    items = ch(
        f"arrayMap(t -> t.1, {sort}(t -> t.2, groupArrayIf((toString({{v}}), {{k}}),"
        " {v} IS NOT NULL)))",
        v=value,
        k=key,
    )
    return _joined(items, separator)


def _joined(items: exp.Expr, separator: exp.Expr) -> exp.Expr:
    """The values joined; NULL when there are none (no rows, or only NULLs), as in Redshift."""
    return ch("if(empty({a}), NULL, arrayStringConcat({a}, {d}))", a=items, d=separator)


def _strtol(text: exp.Expr, base: exp.Expr) -> exp.Expr:
    return ch(
        "arrayFold((acc, c) -> acc * {b} + (position('0123456789abcdefghijklmnopqrstuvwxyz',"
        " lower(c)) - 1), splitByString('', {s}), toInt64(0))",
        s=text,
        b=base,
    )


def _cast(node: exp.Cast) -> exp.Expr | None:
    """DATE is Date32 (MySQL's years 1000-9999), TIMESTAMP DateTime64(6); VARCHAR(n) keeps n
    characters as an explicit cast does in Redshift."""
    to = node.to
    if node.meta.get("zq_round"):
        node.set("this", ch("round({x})", x=node.this))
        return None
    if to.this == exp.DataType.Type.DATE:
        return ch("toDate32({x})", x=node.this)
    if to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME):
        return ch("toDateTime64({x}, 6, 'UTC')", x=node.this)
    if to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.TEXT):
        length = to.expressions[0].this if to.expressions else None
        text = ch("toString({x})", x=node.this)
        if node.meta.get("zq_timestamp"):  # '2008-01-05 10:00:00', fraction only when not 0
            text = ch(r"replaceRegexpOne({t}, '(\\.[0-9]*[1-9])0+$|\\.0+$', '\\1')", t=text)
        if isinstance(length, exp.Literal) and not length.is_string:
            return ch("leftUTF8({t}, {n})", t=text, n=length)
        return text
    return None
