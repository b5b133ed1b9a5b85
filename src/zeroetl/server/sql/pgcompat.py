"""Rewrites of the catalog statements drivers send that DuckDB cannot take as written.

The session applies them beside the pg_catalog rewrites (rewrite.py), before any other AST
rewrite, so they see the statement as the driver wrote it:
- `information_schema.<view>` means the PostgreSQL-shaped views of the emulation (infoschema.py),
  not DuckDB's own (`data_type` 'INTEGER', no `udt_name`, keys nullable); views it does not
  emulate stay DuckDB's.
- `information_schema._pg_expandarray(a)` (pgJDBC's primary keys and index info) is a macro of
  the emulation: DuckDB cannot hold user functions in its built-in `information_schema`.
- `FROM current_database()` (redshift_connector's get_catalogs): a scalar function in FROM.
- `pg_get_late_binding_view_cols() AS t(col NAME, ...)`: a column definition list with types,
  which no parser here reads; the types are dropped (the table macro has the right ones).
- Subscripts of int2vector/oidvector columns (`i.indkey[n]`) count from 0 in PostgreSQL, and
  DuckDB lists from 1 (psqlODBC's SQLPrimaryKeys, pgJDBC's index info).
- ...and selected as they are, they read as PostgreSQL prints them: `1 2`, not a list (psqlODBC's
  SQLStatistics parses that text; given `{1,2}` it asks for index columns without end).
- `'pg_catalog.array_in'::regproc` compares with `pg_type.typinput`, which holds proc names.
- Unquoted result labels fold to lower case as in PostgreSQL and Redshift (`AS DEFAULT` is
  `default`: sqlalchemy-redshift reads its columns by those names).
- `pg_get_late_binding_view_cols()` in FROM: Redshift's late-binding views do not exist here (a
  DuckDB view is bound to its tables), so it is an empty subquery with the function's columns.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from .rewrite import segments

INFO_VIEWS = frozenset(
    {
        "columns",
        "tables",
        "views",
        "schemata",
        "table_constraints",
        "key_column_usage",
        "constraint_column_usage",
        "referential_constraints",
    }
)
INFO_PREFIX = "zeroetl_is_"  # the emulation's view for information_schema.X is zeroetl_is_X
ZERO_BASED = frozenset({"indkey", "indoption", "indclass", "indcollation", "proargtypes"})
# their wire types once selected as text (session.py hints the codec)
VECTOR_TYPES = {"indkey": "int2vector", "indoption": "int2vector", "indclass": "oidvector",
                "indcollation": "oidvector", "proargtypes": "oidvector"}  # fmt: skip

_LATE_BINDING = re.compile(
    r"(\bpg_get_late_binding_view_cols\s*\(\s*\)\s*(?:AS\s+)?[A-Za-z_]\w*\s*)\(([^()]*)\)", re.I
)


def normalize(sql: str) -> str:
    """Text rewrites (code only, never inside strings or comments)."""
    out = []
    for is_code, text in segments(sql):
        if is_code:
            text = _LATE_BINDING.sub(_names_only, text)
        out.append(text)
    return "".join(out)


def _names_only(m: re.Match[str]) -> str:
    names = [part.strip().split()[0] for part in m.group(2).split(",") if part.strip()]
    return f"{m.group(1)}({', '.join(names)})"


LATE_BINDING_COLUMNS = (
    "SELECT ''::VARCHAR AS schemaname, ''::VARCHAR AS tablename, ''::VARCHAR AS columnname,"
    " ''::VARCHAR AS columntype, 0 AS columnnum WHERE false"
)


def rewrite(tree: exp.Expression, *, database: str, home: str, schema: str) -> exp.Expression:
    _vectors_as_text(tree)
    _fold_labels(tree)
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Anonymous) and (
            str(table.this.this).lower() == "pg_get_late_binding_view_cols"
        ):
            names = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier("t"))
            late = exp.Subquery(this=sqlglot.parse_one(LATE_BINDING_COLUMNS, read="duckdb"))
            late.set("alias", names.copy())
            table.replace(late)
            continue
        if isinstance(table.this, exp.CurrentDatabase):
            one_row = exp.select(exp.alias_(exp.Literal.string(database), "current_database"))
            name = table.alias or "current_database"
            table.replace(exp.alias_(exp.Subquery(this=one_row), name, table=True))
            continue
        if (
            table.db.lower() == "information_schema"
            and table.name.lower() in INFO_VIEWS
            and table.catalog in ("", database)
        ):
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(INFO_PREFIX + table.name.lower()))
            table.set("db", exp.to_identifier(schema))
            table.set("catalog", exp.to_identifier(home, quoted=True))
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    for dot in list(tree.find_all(exp.Dot)):
        fn = dot.expression
        if (
            isinstance(dot.this, exp.Identifier)
            and dot.this.name.lower() == "information_schema"
            and isinstance(fn, exp.Anonymous)
            and str(fn.this).lower() == "_pg_expandarray"
        ):
            dot.replace(exp.Anonymous(this="zeroetl_pg_expandarray", expressions=fn.expressions))
    for br in list(tree.find_all(exp.Bracket)):
        target = br.this
        if (
            isinstance(target, exp.Column)
            and target.name.lower() in ZERO_BASED
            and len(br.expressions) == 1
            and not isinstance(br.expressions[0], exp.Slice)
        ):
            first = exp.Add(
                this=exp.Paren(this=br.expressions[0].copy()), expression=exp.Literal.number(1)
            )
            br.set("expressions", [first])
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.args.get("to")
        if (
            isinstance(to, exp.DataType | exp.ObjectIdentifier)
            and to.sql().lower() == "regproc"
            and isinstance(cast.this, exp.Literal)
            and cast.this.is_string
        ):
            name = cast.this.name
            cast.replace(exp.Literal.string(name.split(".", 1)[1] if "." in name else name))
    return tree


def _vectors_as_text(tree: exp.Expression) -> None:
    """Top-level `x.indkey` (and the other vectors) as PostgreSQL's text: `1 2`."""
    if not isinstance(tree, exp.Select):
        return
    items = []
    for item in tree.expressions:
        col = item.this if isinstance(item, exp.Alias) else item
        if isinstance(col, exp.Column) and col.name.lower() in ZERO_BASED:
            text = exp.Anonymous(
                this="array_to_string", expressions=[col.copy(), exp.Literal.string(" ")]
            )
            item = exp.alias_(text, item.alias_or_name)
        items.append(item)
    tree.set("expressions", items)


def _fold_labels(tree: exp.Expression) -> None:
    select = tree
    while isinstance(select, exp.Union):
        select = select.this  # the first branch names a union's columns
    if not isinstance(select, exp.Select):
        return
    for item in select.expressions:
        if isinstance(item, exp.Alias):
            ident = item.args.get("alias")
            if isinstance(ident, exp.Identifier) and not ident.quoted:
                item.set("alias", exp.to_identifier(ident.name.lower()))
