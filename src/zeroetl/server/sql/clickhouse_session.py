"""The session's route to a ClickHouse-backed target database (clickhouse_query.py).

A backend may implement `query_destination(database) -> object | None`: the open ClickHouse
destination of a ClickHouse-backed target database, None for one in DuckDB (backend.py). A query
goes to ClickHouse when it reads a table of such a database: unqualified or 2-part names when
the session is connected to it, 3-part names from anywhere. Everything else (system views,
pg_catalog, information_schema, SET/SHOW, queries of no table) stays on the DuckDB hub.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp

from zeroetl.errors import ZeroEtlError
from zeroetl.model import TableId, TableState

from . import clickhouse_query as chq
from . import clickhouse_run, dialect, pgcompat, redshift, rewrite
from .errors import SqlError
from .policy import Kind, Policy, Principal, Touch
from .results import Column, Result

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


def query_destination(backend: object, database: str) -> Any:
    """The ClickHouse destination behind `database`, or None (DuckDB, or a backend without
    ClickHouse)."""
    get: Callable[[str], Any] | None = getattr(backend, "query_destination", None)
    if get is None or not database:
        return None
    try:
        return get(database)
    except Exception:  # a database being dropped: the DuckDB path answers "does not exist"
        return None


class Route:
    """One statement routed to ClickHouse: the destination, the tree and the target database."""

    def __init__(self, dest: Any, database: str, tree: exp.Expression, norm: str) -> None:
        self.dest, self.database, self.tree, self.norm = dest, database, tree, norm


def route(
    backend: object,
    sql: str,
    *,
    session_database: str,
    session_dest: Any,
    pinned: frozenset[str] | set[str],
    databases: Callable[[], list[str]],
) -> Route | None:
    """The ClickHouse route of `sql`, or None when the DuckDB hub runs it. `databases`: the
    target databases, asked (a statement naming none of the ClickHouse-backed ones is not parsed
    here: DuckDB sessions pay nothing)."""
    if getattr(backend, "query_destination", None) is None:
        return None
    if session_dest is None:
        low = sql.lower()
        named = [d for d in databases() if d.lower() in low]
        if not any(query_destination(backend, d) is not None for d in named):
            return None
    norm = pgcompat.normalize(rewrite.normalize(sql))
    code = rewrite.strip_comments(norm).strip()
    if not code:
        return None
    if session_dest is not None and code[:7].upper() == "EXPLAIN":
        raise SqlError("0A000", "EXPLAIN is not supported on a ClickHouse-backed database")
    try:
        tree = chq.parse(norm) if session_dest is not None else dialect.parse(norm)
    except SqlError:
        if session_dest is not None:
            raise
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    target: tuple[Any, str] | None = None
    for table in tree.find_all(exp.Table):
        name, db, cat = table.name.lower(), table.db.lower(), table.catalog
        if db in _SYSTEM_SCHEMAS or (not db and (name in pinned or name in ctes)):
            continue
        if cat:
            dest = query_destination(backend, cat)
            if dest is not None:
                target = (dest, cat)
        elif session_dest is not None:
            target = (session_dest, session_database)
        if target is not None:
            break
    if target is None:
        return None
    return Route(target[0], target[1], tree, norm)


def _check_states(r: Route, tables: list[tuple[str, str]], query_all_states: bool) -> None:
    """A replicated table not Synced is refused as on DuckDB (redshift.not_queryable), unless
    the database was created with QUERY_ALL_STATES."""
    if query_all_states or not tables:
        return
    try:
        statuses = r.dest.load_table_statuses()
    except ZeroEtlError as e:
        raise clickhouse_run.error(str(e)) from None
    for schema, name in tables:
        status = statuses.get(TableId(schema, name))
        if status is not None and status.state is not TableState.SYNCED:
            raise redshift.not_queryable(
                r.database, schema, name, status.state.value, status.reason
            )


def bind(tree: exp.Expr, values: list[object]) -> None:
    """`$n` becomes the n-th value as a literal (a value never becomes SQL text of its own:
    strings are quoted literals, numbers are checked numbers); a `$n` without a value is NULL
    (Describe before Bind)."""
    for node in list(tree.find_all(exp.Parameter, exp.Placeholder)):
        ref = node.this.this if isinstance(node.this, exp.Literal) else node.this
        try:
            n = int(str(ref))
        except ValueError:
            raise SqlError("42601", f"unsupported parameter {node.sql()}") from None
        if n < 1 or (values and n > len(values)):
            raise SqlError("08P01", f"there is no parameter ${n}")
        node.replace(_literal(values[n - 1] if values else None))


def _literal(v: object) -> exp.Expr:
    if v is None:
        return exp.null()
    if isinstance(v, bool):
        return exp.true() if v else exp.false()
    if isinstance(v, int | float | decimal.Decimal):
        if isinstance(v, float) and not math.isfinite(v):
            raise SqlError("22023", f"parameter value {v} is not supported on ClickHouse")
        return exp.Literal.number(str(v))
    if isinstance(v, datetime.datetime):
        text = v.astimezone(datetime.UTC).replace(tzinfo=None) if v.tzinfo else v
        return exp.cast(exp.Literal.string(text.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    if isinstance(v, datetime.date):
        return exp.cast(exp.Literal.string(v.isoformat()), exp.DataType.Type.DATE)
    if isinstance(v, str | uuid.UUID | datetime.time):
        return exp.Literal.string(str(v))
    raise SqlError(
        "22023", f"a parameter of type {type(v).__name__} is not supported on ClickHouse"
    )


def run(
    r: Route,
    *,
    schemas: list[str],
    policy: Policy,
    who: Principal,
    timeout_ms: int,
    params: Sequence[object] | None,
    query_all_states: bool = False,
    describe: bool = False,
) -> tuple[Result | None, list[Column]]:
    """Translate, check grants on every replicated table read, and run (or describe) it.

    The column lists are kept between queries (clickhouse_run.catalog_of). A table or column
    they do not know (DDL from outside this process, or in the instant before this process
    says so) gets one more try with lists read afresh; the statement is parsed again for it,
    as translation rewrites the tree in place."""
    bind(r.tree, list(params or ()))
    catalog, kept = clickhouse_run.catalog_of(r.dest)
    try:
        return _run(
            r, r.tree, catalog, schemas, policy, who, timeout_ms, query_all_states, describe
        )
    except SqlError as e:
        if not kept or e.sqlstate not in _UNKNOWN:
            raise
    catalog, _kept = clickhouse_run.catalog_of(r.dest, fresh=True)
    tree = dialect.parse(r.norm)  # as route() parsed it (its refusals passed already)
    bind(tree, list(params or ()))
    return _run(r, tree, catalog, schemas, policy, who, timeout_ms, query_all_states, describe)


_UNKNOWN = ("42P01", "42703")  # undefined table, undefined column


def _run(
    r: Route,
    tree: exp.Expression,
    catalog: chq.Catalog,
    schemas: list[str],
    policy: Policy,
    who: Principal,
    timeout_ms: int,
    query_all_states: bool,
    describe: bool,
) -> tuple[Result | None, list[Column]]:
    done = chq.translate(tree, r.norm, database=r.database, schemas=schemas, catalog=catalog)
    policy.check(
        [Touch(Kind.READ, "SELECT", (r.database, s, t), r.database) for s, t in done.tables], who
    )
    _check_states(r, done.tables, query_all_states)
    if describe:
        return None, clickhouse_run.describe(r.dest, done)
    result = clickhouse_run.run(r.dest, done, timeout_ms=timeout_ms)
    return result, result.columns or []
