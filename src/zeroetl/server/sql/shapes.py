"""Result columns shaped as Redshift gives them: their labels, aggregate types and string lengths.

Labels are read from the statement as the user wrote it (before any rewrite), the way
PostgreSQL's FigureColname does, so internal names never leak (`getdate()` was labelled
`zeroetl_getdate`, `datediff` `ts_or_ds_diff`): a function call is labelled with its name, a cast
with its operand's label or else the type name, `CASE` `case`, an expression `?column?`; Redshift's
own spellings where its documentation shows them (`sysdate` -> `timestamp`, `datediff` ->
`date_diff`, `dateadd` -> `date_add`, `datepart`/`date_part`/`extract` -> `pgdate_part`, `nvl` ->
`coalesce`).

Aggregates: DuckDB's SUM of integers is HUGEINT and its AVG a DOUBLE; Redshift's SUM of
SMALLINT/INTEGER/BIGINT is BIGINT, its AVG of integers BIGINT (the fraction dropped) and of
DECIMAL(p,s) DECIMAL(38,s). The argument's type decides, so it is asked of DuckDB (a bind, no
execution) and the aggregate cast accordingly.

String lengths: DuckDB keeps no VARCHAR(n). A top-level cast to VARCHAR(n)/CHAR(n), or a column of
a replicated table whose source type is varchar(n)/char(n), is announced with that type and
length (RowDescription's type OID and typmod), as Redshift does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

UNNAMED = "?column?"

# Redshift's labels for functions it renames (its documentation's examples show them).
_REDSHIFT_LABELS = {
    "zeroetl_getdate": "getdate",
    "zeroetl_sysdate": "timestamp",
    "sysdate": "timestamp",
    "datediff": "date_diff",
    "date_diff": "date_diff",
    "dateadd": "date_add",
    "date_add": "date_add",
    "datepart": "pgdate_part",
    "date_part": "pgdate_part",
    "nvl": "coalesce",
}

# sqlglot type -> PostgreSQL type name, for the label of a cast of an unnamed operand (`1::int`).
_TYPE_LABELS = {
    exp.DataType.Type.INT: "int4", exp.DataType.Type.BIGINT: "int8",
    exp.DataType.Type.SMALLINT: "int2", exp.DataType.Type.TINYINT: "int2",
    exp.DataType.Type.VARCHAR: "varchar", exp.DataType.Type.NVARCHAR: "varchar",
    exp.DataType.Type.CHAR: "bpchar", exp.DataType.Type.NCHAR: "bpchar",
    exp.DataType.Type.TEXT: "text", exp.DataType.Type.DECIMAL: "numeric",
    exp.DataType.Type.DOUBLE: "float8", exp.DataType.Type.FLOAT: "float4",
    exp.DataType.Type.BOOLEAN: "bool", exp.DataType.Type.DATE: "date",
    exp.DataType.Type.TIMESTAMP: "timestamp", exp.DataType.Type.TIMESTAMPTZ: "timestamptz",
    exp.DataType.Type.TIME: "time", exp.DataType.Type.INTERVAL: "interval",
    exp.DataType.Type.JSON: "json", exp.DataType.Type.UUID: "uuid",
}  # fmt: skip

# Nodes sqlglot builds without keeping the spelling (SQL value functions, special syntax).
_CLASS_LABELS: dict[type, str] = {
    exp.CurrentDate: "current_date", exp.CurrentTimestamp: "current_timestamp",
    exp.CurrentTime: "current_time", exp.CurrentUser: "current_user",
    exp.Coalesce: "coalesce", exp.Greatest: "greatest", exp.Least: "least",
    exp.Case: "case", exp.If: "case", exp.Exists: "exists", exp.Array: "array",
    exp.Substring: "substring", exp.Extract: "pgdate_part", exp.Trim: "btrim",
    exp.ApproxDistinct: "count",  # APPROXIMATE COUNT(DISTINCT x)
}  # fmt: skip

_SQL_VALUE_COLUMNS = ("current_user", "session_user", "user", "current_schema", "current_catalog")


def top_select(tree: exp.Expr) -> exp.Select | None:
    """The SELECT whose items name the result (the first branch of a set operation)."""
    node = tree
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def created_query(tree: exp.Expr) -> exp.Query | None:
    """The query of CREATE TABLE ... AS / CREATE VIEW ... AS, whose columns it names."""
    if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
        return tree.expression
    return None


# --- labels -----------------------------------------------------------------------------------


def labels(tree: exp.Expr, text: str) -> list[str | None] | None:
    """One label per top-level select item of `tree` (parsed from `text`, not yet rewritten);
    None for an item that already has its name (an alias, a star)."""
    select = top_select(tree)
    if select is None:
        return None
    return [_item_label(item, text) for item in select.expressions]


Labelled = list[tuple[exp.Select, list[str | None]]]


def all_labels(tree: exp.Expr, text: str) -> Labelled:
    """Labels of the items of every SELECT in `tree` (not yet rewritten): a derived table's or a
    CTE's columns are named as PostgreSQL names them too (`select * from (select count(*) ...)`
    answers a column `count`)."""
    return [
        (sel, [_item_label(item, text) for item in sel.expressions])
        for sel in tree.find_all(exp.Select)
    ]


def apply_all_labels(tree: exp.Expr, labelled: Labelled) -> bool:
    """`apply_labels` on every SELECT labelled before the rewrites; whether the top-level one
    (which names the result) could be labelled."""
    top = top_select(tree)
    done = False
    for sel, names in labelled:
        ok = apply_labels(sel, names)
        done = done or (ok and sel is top)
    return done


def _item_label(item: exp.Expr, text: str) -> str | None:
    if isinstance(item, exp.Alias | exp.Star) or (
        isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
    ):
        return None
    name, _strong = _label(item, text)
    return name


def _label(node: exp.Expr, text: str) -> tuple[str, bool]:
    """(label, strong): strong labels come from a name; weak ones (`?column?`) let a cast use its
    type name instead."""
    if isinstance(node, exp.Paren):
        return _label(node.this, text)
    if isinstance(node, exp.Column):
        name = node.name
        if not node.table and name.lower() in _SQL_VALUE_COLUMNS:
            name = name.lower()
        return name, True
    if isinstance(node, exp.Cast):
        inner, strong = _label(node.this, text)
        if strong:
            return inner, True
        kind = node.to.this  # a DataType.Type, or the plain name of an ObjectIdentifier (oid)
        # weak, as in PostgreSQL (FigureColname): an outer cast names it by its own type
        return _TYPE_LABELS.get(kind, getattr(kind, "value", str(kind)).lower()), False
    if isinstance(node, exp.Subquery | exp.Select):
        sub = top_select(node)
        if sub is None or not sub.expressions:
            return UNNAMED, False
        first = sub.expressions[0]
        if isinstance(first, exp.Alias):
            return first.alias, True
        return _label(first, text)
    if isinstance(node, exp.Window):
        return _label(node.this, text)
    if isinstance(node, exp.Filter | exp.WithinGroup | exp.IgnoreNulls | exp.RespectNulls):
        return _label(node.this, text)
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        return _label(node.expression, text)
    if isinstance(node, exp.Boolean):
        return "bool", True
    if isinstance(node, exp.Func):
        name = _spelled(node, text) or _CLASS_LABELS.get(type(node)) or _func_name(node)
        name = name.lower()
        return _REDSHIFT_LABELS.get(name, name), True
    return UNNAMED, False


_NAME = re.compile(r'^\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))\s*$')


def _spelled(node: exp.Func, text: str) -> str | None:
    """The function name as written (sqlglot records where it started and ended)."""
    meta = node.meta
    start, end = meta.get("start"), meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start <= end < len(text):
        return None
    m = _NAME.match(text[start : end + 1])
    if not m:
        return None
    return m.group(1).replace('""', '"') if m.group(1) else m.group(2)


def _func_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this)
    return node.sql_name()


def apply_labels(tree: exp.Expr, names: list[str | None] | None) -> bool:
    """Alias the top-level select items with `names` (from `labels`, before the rewrites);
    False when the items changed shape meanwhile (the caller then names them otherwise)."""
    select = top_select(tree)
    if select is None or names is None or len(select.expressions) != len(names):
        return False
    items = []
    for item, name in zip(select.expressions, names, strict=True):
        if name is None or isinstance(item, exp.Alias):
            items.append(item)
        elif isinstance(item, exp.Column) and item.name == name:
            items.append(item)  # DuckDB names a column after itself
        else:
            items.append(exp.alias_(item, name, quoted=True))
    select.set("expressions", items)
    return True


# --- aggregates -------------------------------------------------------------------------------

INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")

# DuckDB type names of the arguments of one SELECT's aggregates, or None when they cannot be told
ArgTypes = Callable[[exp.Select], list[str] | None]


def shape_aggregates(tree: exp.Expr, arg_types: Callable[[str], list[str] | None],
                     generate: Callable[[exp.Expr], str]) -> bool:  # fmt: skip
    """Cast SUM/AVG as Redshift types them (module doc); True when something changed.

    `arg_types(sql)` answers the DuckDB types of the columns of the probe query `sql`."""
    by_select: dict[int, tuple[exp.Select, list[exp.Expr]]] = {}
    for agg in tree.find_all(exp.Sum, exp.Avg):
        select = agg.find_ancestor(exp.Select)
        if select is None:
            continue
        by_select.setdefault(id(select), (select, []))[1].append(agg)
    changed = False
    for select, aggs in by_select.values():
        probe = _probe(tree, select, [_argument(a) for a in aggs])
        if probe is None:
            continue
        types = arg_types(generate(probe))
        if types is None or len(types) != len(aggs):
            continue
        for node, t in zip(aggs, types, strict=True):
            changed |= _cast_aggregate(node, t.upper())
    return changed


def _argument(agg: exp.Expr) -> exp.Expr:
    arg = agg.this
    if isinstance(arg, exp.Distinct) and arg.expressions:
        arg = arg.expressions[0]
    return arg


def _probe(tree: exp.Expr, select: exp.Select, args: list[exp.Expr]) -> exp.Select | None:
    """SELECT <the arguments> FROM <the same FROM> (with the statement's CTEs): its column types
    are the arguments' types."""
    if any(a.find(exp.Star) or a.find(exp.AggFunc) for a in args):
        return None
    probe = select.copy()
    for key in ("where", "group", "having", "order", "limit", "offset", "qualify", "distinct",
                "windows", "into", "locks"):  # fmt: skip
        probe.set(key, None)
    probe.set("expressions", [exp.alias_(a.copy(), f"zq_a{i}") for i, a in enumerate(args)])
    root_with = tree.args.get("with_")
    if probe.args.get("with_") is None and root_with is not None and select is not tree:
        probe.set("with_", root_with.copy())
    return probe


def _cast_aggregate(agg: exp.Expr, arg_type: str) -> bool:
    target = agg
    while isinstance(target.parent, exp.Window | exp.Filter) and target.parent.this is target:
        target = target.parent
    if isinstance(agg, exp.Sum) and arg_type in INTEGERS:
        new: exp.Expr = exp.cast(target.copy(), exp.DataType.Type.BIGINT)
    elif isinstance(agg, exp.Avg) and arg_type in INTEGERS:
        trunc = exp.Anonymous(this="trunc", expressions=[target.copy()])
        new = exp.cast(trunc, exp.DataType.Type.BIGINT)
    elif isinstance(agg, exp.Avg) and (m := _DECIMAL.match(arg_type)):
        new = exp.cast(target.copy(), exp.DataType.build(f"DECIMAL(38, {m.group(2)})"))
    else:
        return False
    target.replace(new)
    return True


# --- string lengths ---------------------------------------------------------------------------

_SOURCE_STRING = re.compile(r"^\s*(n?varchar|n?char|character varying|character)\s*\((\d+)\)", re.I)

# (database, schema, table) of a replicated table, or None
Resolve = Callable[[exp.Table], tuple[str, str, str] | None]
# the source types of a replicated table's columns, by name
SourceTypes = Callable[[tuple[str, str, str]], dict[str, str]]


def pg_string_type(source_type: str) -> str:
    """`varchar(30)` -> 'varchar(30)', `char(4)` -> 'bpchar(4)'; '' for anything else."""
    m = _SOURCE_STRING.match(source_type)
    if not m:
        return ""
    kind = m.group(1).lower()
    base = "bpchar" if kind in ("char", "nchar", "character") else "varchar"
    return f"{base}({m.group(2)})"


def string_hints(tree: exp.Expr, resolve: Resolve, source_types: SourceTypes) -> list[str] | None:
    """Per result column (top-level items, a star expanded over a single table): the
    PostgreSQL string type with its length when known ('' otherwise); None when the result
    columns cannot be matched to items."""
    select = top_select(tree)
    if select is None:
        return None
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    # a CTE may share a replicated table's name: its columns are its own
    tables = [t for t in _from_tables(select) if t.args.get("db") or t.name not in ctes]
    if len(tables) != len(_from_tables(select)):
        return None
    hints: list[str] = []
    for item in select.expressions:
        if isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        ):
            qualifier = item.table if isinstance(item, exp.Column) else ""
            pool = [t for t in tables if not qualifier or t.alias_or_name == qualifier]
            if len(pool) != 1:
                return None
            found = resolve(pool[0])
            if found is None:
                return None
            hints.extend(pg_string_type(s) for s in source_types(found).values())
            continue
        hints.append(_item_hint(item, tables, resolve, source_types))
    return hints


def _item_hint(
    item: exp.Expr, tables: list[exp.Table], resolve: Resolve, source_types: SourceTypes
) -> str:
    node = item.this if isinstance(item, exp.Alias) else item
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Cast):
        to = node.to
        if to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR) and to.expressions:
            length = to.expressions[0].this
            if isinstance(length, exp.Literal) and not length.is_string:
                base = "bpchar" if to.this == exp.DataType.Type.CHAR else "varchar"
                return f"{base}({int(length.this)})"
        return ""
    if not isinstance(node, exp.Column) or not node.name:
        return ""
    pool = [t for t in tables if not node.table or t.alias_or_name == node.table]
    found_types = []
    for t in pool:
        where = resolve(t)
        if where is None:
            if not node.table:
                continue
            return ""
        columns = source_types(where)
        if node.name in columns:
            found_types.append(columns[node.name])
    return pg_string_type(found_types[0]) if len(found_types) == 1 else ""


def _from_tables(select: exp.Select) -> list[exp.Table]:
    out: list[exp.Table] = []
    source = select.args.get("from_")
    if source is not None and isinstance(source.this, exp.Table):
        out.append(source.this)
    for join in select.args.get("joins") or []:
        if isinstance(join.this, exp.Table):
            out.append(join.this)
    return out
