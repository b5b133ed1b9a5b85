"""Redshift-dialect queries on a ClickHouse-backed target database: translation and refusals.

A target database replicated into ClickHouse (destinations/clickhouse) holds each MySQL database
as a ClickHouse database of the same name, and each table as a ReplacingMergeTree whose current
rows are `SELECT ... FINAL` (docs/clickhouse.md). A query an analyst writes against the target
database (`tickitdb.shop.orders`, `shop.orders`, or `orders` through the search path) reads:

    (SELECT <the source's columns> FROM `shop`.`orders` FINAL) AS orders

so FINAL hides superseded and deleted versions, and `select *` shows exactly the source's columns
(never `_version`, `_is_deleted`, `_synced_at`). Redshift's functions and integer division are
rewritten by clickhouse_funcs; the result's columns are named as PostgreSQL names them.

Only queries run here, and only over replicated tables: anything else is refused before
ClickHouse sees it (SQLSTATE 0A000 for statements, 42501 for what would reach outside the
replicated tables: table functions such as file(), url(), s3(), remote(), mysql(), executable(),
input(); ClickHouse's system tables and zeroetl's `_zeroetl` metadata; SETTINGS, FORMAT and
INTO OUTFILE clauses; functions that read files, dictionaries, settings or the host). The
translated text quotes every identifier, and runs with readonly=1 and time and memory limits
(clickhouse_run.py): the refusals here say why, readonly is the net below them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from . import clickhouse_funcs, clickhouse_types, dialect, rewrite, shapes
from .errors import SqlError

# zeroetl's own columns on every replicated table (destinations/clickhouse/types.py)
HIDDEN = ("_version", "_is_deleted", "_synced_at")
# ClickHouse databases that are never a replicated MySQL database
NOT_REPLICATED = ("system", "information_schema", "INFORMATION_SCHEMA", "_zeroetl", "default")

# ClickHouse table functions (and engines named like them) that read files, the network, other
# servers or processes; any other name that is not a replicated table is "does not exist" anyway.
TABLE_FUNCTIONS = frozenset(
    """file url urlcluster s3 s3cluster gcs azureblobstorage azureblobstoragecluster hdfs
    hdfscluster remote remotesecure cluster clusterallreplicas mysql postgresql sqlite odbc jdbc
    mongodb redis executable input format merge dictionary iceberg icebergs3 icebergazure
    icebergHDFS deltalake hudi view viewifpermitted loop fuzzjson fuzzquery null numbers
    generaterandom values zeros python""".lower().split()
)
# Scalar functions that would read outside the replicated tables or describe the server.
_FUNCTION_PREFIXES = ("dict", "file", "url", "s3", "remote", "cluster", "executable", "hdfs",
                      "azure", "mysql", "postgres", "getsetting", "getmacro", "getserver",
                      "filesystem", "joinget", "hostname", "fqdn", "getclient", "currentuser",
                      "currentprofiles", "currentroles", "enabledroles", "defaultroles",
                      "getoskernel", "displayname", "shardnum", "shardcount", "catboost",
                      "modelevaluate", "initialqueryid", "queryid", "uptime", "buildid",
                      "serveruuid", "zookeeper", "input", "throwif", "sleep",
                      "hascolumnintable", "currentquery", "python")  # fmt: skip
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_OUTSIDE = frozenset(
    [
        "file",
        "url",
        "s3",
        "gcs",
        "remote",
        "remotesecure",
        "cluster",
        "clusterallreplicas",
        "mysql",
        "postgresql",
        "sqlite",
        "odbc",
        "jdbc",
        "mongodb",
        "redis",
        "executable",
        "input",
        "hdfs",
        "azureblobstorage",
        "iceberg",
        "deltalake",
        "hudi",
        "dictionary",
        "python",
    ]
)
_CLAUSES = re.compile(r"\b(SETTINGS|INTO\s+OUTFILE|FORMAT\s+[A-Za-z]\w*\s*;?\s*\Z)", re.I)


@dataclass
class Catalog:
    """The replicated tables of one ClickHouse destination: (database, table) -> columns with
    their ClickHouse types, in table order (zeroetl's own columns left out)."""

    tables: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def find(self, schema: str, name: str) -> tuple[str, str] | None:
        if (schema, name) in self.tables:
            return (schema, name)
        # unquoted identifiers fold to lower case in Redshift; MySQL names keep theirs
        low = [
            (s, t)
            for s, t in self.tables
            if s.lower() == schema.lower() and t.lower() == name.lower()
        ]
        return low[0] if len(low) == 1 else None


@dataclass
class Translated:
    sql: str  # the ClickHouse text
    labels: dict[str, str]  # internal result column name -> the name the client sees
    tables: list[tuple[str, str]]  # replicated tables read (schema, table)


def refuse_clauses(code: str) -> None:
    """ClickHouse's own clauses (they would change settings or the output) and calls that
    would reach outside the replicated tables, refused by name before parsing."""
    text = "".join(t for is_code, t in rewrite.segments(code) if is_code)
    for call in _CALL.finditer(text):  # some of them are not even Redshift syntax
        low = call.group(1).lower()
        if low in _OUTSIDE or low.startswith(_FUNCTION_PREFIXES):
            _check_function(call.group(1), re.search(r"\b(FROM|JOIN)\s*$|,\s*$",
                            text[: call.start()], re.I) is not None)  # fmt: skip
    m = _CLAUSES.search(text)
    if m:
        word = " ".join(m.group(1).split()[:2]).upper()
        if word.startswith("FORMAT"):
            word = "FORMAT"
        raise SqlError(
            "42501",
            f"{word} clauses are not accepted: queries on a ClickHouse-backed database run with"
            " the endpoint's settings and PostgreSQL's result format",
        )


def translate(
    tree: exp.Expression, norm: str, *, database: str, schemas: list[str], catalog: Catalog
) -> Translated:
    """`tree` (parse() of `norm`) -> ClickHouse text over `catalog`'s tables.

    `database` is the target database (3-part names must name it); `schemas` the session's
    search path for unqualified names."""
    if not isinstance(tree, exp.Query) or tree.find(exp.Into) is not None:
        raise SqlError("0A000", "only queries are supported on a ClickHouse-backed database",
                       hint="the tables are replicated: change them at the source")  # fmt: skip
    for node in tree.walk():
        if isinstance(node, exp.DML | exp.DDL | exp.Command):
            raise SqlError("0A000", "only queries are supported on a ClickHouse-backed database")
        if isinstance(node, exp.Anonymous):
            _check_function(str(node.this), isinstance(node.parent, exp.Table))
    labelled = shapes.all_labels(tree, norm)
    top = shapes.top_select(tree)
    written = {id(e) for e in (top.expressions if top else []) if isinstance(e, exp.Alias)}
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    where: dict[str, tuple[str, str]] = {}  # alias in the query -> replicated table
    read: list[tuple[str, str]] = []
    for table in list(tree.find_all(exp.Table)):
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        found = _resolve(table, database, schemas, catalog)
        alias = table.alias_or_name
        where[alias] = found
        read.append(found)
        table.replace(_final(found, catalog, alias, table))
    for col in tree.find_all(exp.Column):  # `shop.orders.id`: the table's alias is `orders`
        if col.args.get("db") is not None:
            col.set("db", None)
            col.set("catalog", None)
    typer = clickhouse_types.Typer(lambda c: _column_type(c, where, catalog))
    clickhouse_funcs.translate(tree, typer)
    if not shapes.apply_all_labels(tree, labelled):
        rewrite.name_columns(tree)
    _order_by_outputs(tree)
    labels = _internal_names(shapes.top_select(tree), written)
    try:
        sql = tree.sql(
            dialect="clickhouse", identify=True, comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except UnsupportedError as e:
        raise SqlError("0A000", f"cannot translate this query to ClickHouse: {e}") from None
    return Translated(sql, labels, read)


def _check_function(name: str, in_from: bool) -> None:
    low = name.lower()
    if low.startswith(_FUNCTION_PREFIXES) or low in TABLE_FUNCTIONS or in_from:
        what = "table function" if in_from else "function"
        raise SqlError(
            "42501",
            f"{what} {name}() is not available on a ClickHouse-backed database: it would reach"
            " outside the replicated tables",
        )


def _resolve(
    table: exp.Table, database: str, schemas: list[str], catalog: Catalog
) -> tuple[str, str]:
    name, schema, cat = table.name, table.db, table.catalog
    if not isinstance(table.this, exp.Identifier) or not name:
        raise SqlError("42501", "table functions are not available on a ClickHouse-backed database")
    shown = ".".join(p for p in (cat, schema, name) if p)
    if cat and cat != database:
        raise SqlError(
            "0A000",
            f'cross-database reference "{shown}": this query reads database "{database}",'
            f" which is replicated into ClickHouse and runs there, and ClickHouse cannot read"
            f' database "{cat}" (the endpoint keeps it in DuckDB, or another destination'
            " does): one query reads one ClickHouse-backed database and nothing else",
            hint=f'query "{database}" and "{cat}" separately and combine the results in the client',
        )
    if schema.lower() in {s.lower() for s in NOT_REPLICATED} or (
        schema.lower() in ("pg_catalog",) and not cat
    ):
        raise SqlError(
            "42501",
            f'"{shown}" is not reachable on a ClickHouse-backed database: only replicated'
            " tables are (system views answer when connected to dev)",
        )
    if not schema and name.lower() in TABLE_FUNCTIONS and table.args.get("alias") is not None:
        raise SqlError(
            "42501",
            f"table function {name}() is not available on a ClickHouse-backed database",
        )
    candidates = [schema] if schema else list(schemas)
    for s in candidates:
        found = catalog.find(s, name)
        if found is not None:
            return found
    if not schema and name.lower() in TABLE_FUNCTIONS:
        raise SqlError(
            "42501", f"table function {name}() is not available on a ClickHouse-backed database"
        )
    raise SqlError("42P01", f'relation "{shown}" does not exist')


def _final(
    found: tuple[str, str], catalog: Catalog, alias: str, table: exp.Table
) -> exp.Expression:
    """The replicated table's current rows, under the name the query gives it."""
    cols = [exp.column(exp.to_identifier(c, quoted=True)) for c in catalog.tables[found]]
    source = exp.Table(
        this=exp.to_identifier(found[1], quoted=True), db=exp.to_identifier(found[0], quoted=True)
    )
    inner = exp.Select(expressions=cols, from_=exp.From(this=exp.Final(this=source)))
    columns = table.args["alias"].columns if table.args.get("alias") is not None else []
    sub_alias = exp.TableAlias(this=exp.to_identifier(alias, quoted=True), columns=columns)
    return exp.Subquery(this=inner, alias=sub_alias)


def _column_type(
    col: exp.Column, where: dict[str, tuple[str, str]], catalog: Catalog
) -> str | None:
    if col.table:
        tables = [where[col.table]] if col.table in where else []
    else:
        tables = list(where.values())
    found = {catalog.tables[t][col.name] for t in tables if col.name in catalog.tables[t]}
    return found.pop() if len(found) == 1 else None


def _order_by_outputs(tree: exp.Expression) -> None:
    """ORDER BY a bare name means the result column of that name first (PostgreSQL), while the
    session prefers columns to aliases inside expressions (`sum(x) AS x`): such keys become
    positions."""
    order = tree.args.get("order")
    top = shapes.top_select(tree)
    if not isinstance(order, exp.Order) or top is None:
        return
    names = [item.alias_or_name for item in top.expressions]
    for key in order.expressions:
        col = key.this
        if (
            isinstance(col, exp.Column)
            and not col.table
            and names.count(col.name) == 1
            and isinstance(top.expressions[names.index(col.name)], exp.Alias)
        ):
            col.replace(exp.Literal.number(names.index(col.name) + 1))


def _internal_names(top: exp.Select | None, written: set[int]) -> dict[str, str]:
    """ClickHouse refuses two result columns of one name, and PostgreSQL allows them (`select 1,
    1` answers two `?column?`): labels the user did not write, and repeated ones, become unique
    internal names, mapped back on the result."""
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for i, item in enumerate(top.expressions if top is not None else []):
        if isinstance(item, exp.Column) and not isinstance(item.this, exp.Star):
            # ClickHouse names `t.c` "t.c"; PostgreSQL names it c
            item = item.replace(exp.alias_(item.copy(), item.name, quoted=True))
            written.add(id(item))
        if not isinstance(item, exp.Alias):
            continue
        name = item.alias
        if id(item) in written and name not in seen:
            seen.add(name)
            continue
        internal = f"_zq_{i}"
        labels[internal] = name
        item.set("alias", exp.to_identifier(internal, quoted=True))
    return labels


def parse(norm: str) -> exp.Expression:
    """`norm` parsed as Redshift, ClickHouse's own clauses refused by name first."""
    refuse_clauses(norm)
    return dialect.parse(norm)
