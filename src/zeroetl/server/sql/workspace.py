"""Writes and DDL in the workspace `dev`: what a session does for them besides running them.

An analyst may CREATE/ALTER/DROP schemas, tables and views, CREATE TABLE AS, SELECT ... INTO,
INSERT/UPDATE/DELETE/MERGE/TRUNCATE and COMMENT ON in `dev` (workspace_store.py), and nowhere
else. For such a statement `plan` (on the parsed tree, before the sandbox guard looks at it):
- resolves every target to `dev.<schema>.<name>` and writes that name into the statement, so the
  policy rules on, and DuckDB acts on, the same object (an unqualified CREATE goes to the first
  schema of the search path that exists in dev, as in PostgreSQL; never to the hub's catalog);
  targets outside dev are left as written and refused by the policy (25006 for replicas);
- refuses what the workspace does not offer: temporary objects, indexes, functions, macros,
  sequences and types (a function in dev would be found before the catalog emulation's on every
  session's search path), names that would shadow the system views or the pg_catalog emulation
  (`pg_*`, `svv_*`, `sys_*`, `stl_*`, `stv_*`, `svl_*`, `information_schema`, DuckDB's own
  prefixes), and direct changes to a materialized view's contents;
- reads the owners the policy needs (`Touch.owner`), and the bookkeeping to do once the
  statement ran (owners recorded, renamed, forgotten) in the same transaction.
After translation, `inner_queries` gives every query, function call and table reference inside
the statement as a SELECT text, for DuckDB's own parser to check (duckparse.py only serialises
SELECTs), and `check_kind` that DuckDB sees one statement of the expected kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from . import workspace_store as ws
from .errors import SqlError

CHANGES = (exp.Create, exp.Drop, exp.Alter, exp.Insert, exp.Update, exp.Delete,
           exp.TruncateTable, exp.Merge, exp.Comment)  # fmt: skip
OBJECT_KINDS = ("TABLE", "VIEW")

RESERVED_PREFIXES = ("pg_", "svv_", "sys_", "stl_", "stv_", "svl_", "zeroetl_", "duckdb_",
                     "pragma_", "_zeroetl")  # fmt: skip
RESERVED_NAMES = frozenset({"information_schema", "pg_catalog", "temp", "system"})

# What DuckDB must see for each kind of statement (duckdb.StatementType names).
_DUCK_KIND: dict[type, str] = {
    exp.Create: "CREATE", exp.Select: "CREATE", exp.Insert: "INSERT", exp.Update: "UPDATE",
    exp.Delete: "DELETE", exp.TruncateTable: "DELETE", exp.Drop: "DROP", exp.Alter: "ALTER",
    exp.Merge: "MERGE_INTO", exp.Comment: "ALTER",
}  # fmt: skip
_TAGS: dict[type, str] = {exp.Insert: "INSERT 0", exp.Update: "UPDATE", exp.Delete: "DELETE",
                          exp.Merge: "MERGE", exp.TruncateTable: "TRUNCATE TABLE"}  # fmt: skip


def is_change(tree: exp.Expression) -> bool:
    """A statement that creates, changes or drops something (wherever it lands)."""
    return isinstance(tree, CHANGES) or (
        isinstance(tree, exp.Select) and tree.args.get("into") is not None
    )


def reserved(name: str) -> bool:
    low = name.lower()
    return low in RESERVED_NAMES or low.startswith(RESERVED_PREFIXES)


@dataclass
class Effect:
    """Bookkeeping to do once the statement ran: record | forget | rename."""

    action: str
    kind: str
    schema: str
    name: str = ""
    new: str = ""


@dataclass
class Plan:
    tag: str  # the command tag (row counts are added for DML)
    counts: bool  # DuckDB answers with a row count
    owners: dict[tuple[str, ...], str | None] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    duck_kind: str = ""

    def owner(self, path: tuple[str, ...]) -> str | None:
        return self.owners.get(path)


@dataclass(frozen=True)
class Context:
    con: duckdb.DuckDBPyConnection
    user: str
    schemas: list[str]  # the session's search path (schema names)
    in_workspace: bool  # the session's own database is dev
    replicated: Callable[[str], bool]  # is this name a replicated target database


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _targets(node: exp.Expression) -> list[exp.Table]:
    if isinstance(node, exp.Select):
        into = node.args["into"].this
        return [into] if isinstance(into, exp.Table) else []
    this = node.this if isinstance(node.this, exp.Table) else None
    if this is not None:
        return [this]
    if isinstance(node.this, exp.Schema) and isinstance(node.this.this, exp.Table):
        return [node.this.this]
    return [t for t in node.args.get("tables") or node.expressions if isinstance(t, exp.Table)]


def _kind(node: exp.Expression) -> str:
    return str(node.args.get("kind") or "").upper()


class _Resolver:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.schemas = ws.schemas(ctx.con)

    def schema_target(self, table: exp.Table) -> str | None:
        """The dev schema a CREATE/DROP SCHEMA names, or None when it lands elsewhere."""
        catalog, schema = table.catalog, table.db or table.name
        if catalog:
            return schema if catalog == ws.WORKSPACE else None
        return schema if self.ctx.in_workspace else None

    def object_target(self, table: exp.Table, creating: bool) -> tuple[str, str] | None:
        """(schema, name) in dev of a table or view target, or None when it lands elsewhere."""
        catalog, schema, name = table.catalog, table.db, table.name
        if catalog:
            return (schema or ws.DEFAULT_SCHEMA, name) if catalog == ws.WORKSPACE else None
        if not self.ctx.in_workspace:
            return None
        if schema:
            return None if self.ctx.replicated(schema) else (schema, name)
        path = [s for s in self.ctx.schemas if s in self.schemas]
        if not creating:
            for s in path:
                if ws.existing(self.ctx.con, s, name) is not None:
                    return (s, name)
        if not path:
            raise SqlError(
                "3F000",
                "no schema has been selected to create in" if creating
                else f'relation "{name}" does not exist',
                hint=f"name the schema (e.g. {ws.DEFAULT_SCHEMA}.{name}) or SET search_path",
            )  # fmt: skip
        return (path[0], name)


def _qualify(table: exp.Table, schema: str, name: str | None = None) -> None:
    table.set("catalog", _ident(ws.WORKSPACE))
    table.set("db", _ident(schema))
    if name is not None:
        table.set("this", _ident(name))


def check_new_name(name: str, verb: str) -> None:
    """A table, view or materialized view name must not shadow a system object."""
    _check_name(name, verb)


def _check_name(name: str, verb: str) -> None:
    if reserved(name):
        raise SqlError(
            "42501",
            f'permission denied for {verb} "{name}": the name is reserved for the system views,'
            " the pg_catalog emulation and internal objects, which no object may shadow",
            hint="choose a name that does not start with pg_, svv_, sys_, stl_, stv_, svl_,"
            " zeroetl_, duckdb_ or pragma_",
        )


def _unsupported(verb: str, what: str, hint: str = "") -> SqlError:
    return SqlError(
        "42501", f"permission denied for {verb}: {what} are not offered in the workspace", hint=hint
    )


def _verb(tree: exp.Expression) -> str:
    if isinstance(tree, exp.Select):
        return "SELECT INTO"
    kind = _kind(tree)
    word = {exp.TruncateTable: "TRUNCATE", exp.Merge: "MERGE"}.get(type(tree))
    return word or f"{type(tree).__name__.upper()}{' ' + kind if kind else ''}"


def plan(tree: exp.Expression, ctx: Context, is_mview: Callable[[str, str], bool]) -> Plan | None:
    """The workspace's reading of a change statement (module doc); None when `tree` is not a
    change. Raises SqlError for what the workspace refuses."""
    if not is_change(tree):
        return None
    res = _Resolver(ctx)
    root = type(tree)
    kind = _kind(tree)
    tag = _TAGS.get(root, "")
    p = Plan(tag=tag, counts=root in _TAGS and root is not exp.TruncateTable)
    p.duck_kind = _DUCK_KIND[root]
    temporary = (
        tree.find(exp.TemporaryProperty) is not None
        if isinstance(tree, exp.Create)
        else bool(isinstance(tree, exp.Select) and tree.args["into"].args.get("temporary"))
    )
    verb = _verb(tree)
    if temporary:
        raise _unsupported(
            verb, "temporary objects", hint="create it in a schema of dev (e.g. public) instead"
        )
    if isinstance(tree, exp.Create | exp.Drop) and kind == "SCHEMA":
        return _schema_plan(tree, res, p)
    if isinstance(tree, exp.Create | exp.Drop | exp.Alter) and kind not in OBJECT_KINDS:
        named_dev = any(t.catalog == ws.WORKSPACE for t in tree.find_all(exp.Table))
        if ctx.in_workspace or named_dev:
            raise _unsupported(
                verb,
                "indexes, functions, macros, sequences, types and secrets",
                hint="the workspace holds schemas, tables, views and materialized views",
            )
        return p  # lands outside dev: the policy refuses it
    creating = isinstance(tree, exp.Create | exp.Select)
    for table in _targets(tree):
        found = res.object_target(table, creating)
        if found is None:
            continue
        schema, name = found
        _check_name(schema, verb)  # pg_catalog, information_schema, _zeroetl ... of dev
        _check_name(name, verb)
        _qualify(table, schema)
        path = (ws.WORKSPACE, schema, name)
        now = ws.existing(ctx.con, schema, name)
        if is_mview(schema, name):
            raise SqlError(
                "42809",
                f'"{schema}.{name}" is a materialized view',
                hint="use REFRESH MATERIALIZED VIEW or DROP MATERIALIZED VIEW",
            )
        if creating:
            obj_kind = "view" if kind == "VIEW" else "table"
            replacing = now is not None and bool(tree.args.get("replace"))
            p.owners[path] = (
                ws.owner_of(ctx.con, schema, name) if replacing else ws.owner_of(ctx.con, schema)
            )
            skip = now is not None and bool(tree.args.get("exists"))
            if not skip and not replacing:
                p.effects.append(Effect("record", obj_kind, schema, name))
            # CREATE TABLE AS and SELECT INTO answer `SELECT n`, as in PostgreSQL
            ctas = isinstance(tree, exp.Select) or (
                obj_kind == "table" and tree.args.get("expression") is not None
            )
            p.tag = "SELECT" if ctas else f"CREATE {obj_kind.upper()}"
            p.counts = ctas
            continue
        p.owners[path] = ws.owner_of(ctx.con, schema, name)
        if isinstance(tree, exp.Drop):
            p.effects.append(Effect("forget", kind.lower(), schema, name))
            p.tag = f"DROP {kind}"
        elif isinstance(tree, exp.Alter):
            p.tag = f"ALTER {kind}"
            for action in tree.args.get("actions") or []:
                if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
                    new = action.this.name
                    _check_name(new, verb)
                    if action.this.db or action.this.catalog:
                        raise SqlError("42601", "RENAME TO takes a name without a schema")
                    action.set("this", exp.Table(this=_ident(new)))
                    p.effects.append(Effect("rename", "", schema, name, new))
        elif isinstance(tree, exp.Comment):
            p.tag = "COMMENT"
    return p


def _schema_plan(tree: exp.Create | exp.Drop, res: _Resolver, p: Plan) -> Plan:
    for table in _targets(tree):
        schema = res.schema_target(table)
        if schema is None:
            continue
        table.set("catalog", _ident(ws.WORKSPACE))
        table.set("db", _ident(schema))
        table.set("this", None)
        path = (ws.WORKSPACE, schema)
        _check_name(schema, "CREATE SCHEMA" if isinstance(tree, exp.Create) else "DROP SCHEMA")
        if isinstance(tree, exp.Create):
            p.tag = "CREATE SCHEMA"
            if schema not in res.schemas:
                p.effects.append(Effect("record", "schema", schema))
            p.owners[path] = None
        else:
            if schema in (ws.DEFAULT_SCHEMA, ws.BOOK, "main"):
                raise SqlError("42501", f'schema "{schema}" belongs to the workspace itself')
            p.tag = "DROP SCHEMA"
            p.owners[path] = ws.owner_of(res.ctx.con, schema)
            p.effects.append(Effect("forget", "schema", schema))
    return p


def apply_effects(con: duckdb.DuckDBPyConnection, p: Plan, user: str) -> None:
    """The bookkeeping of a statement that ran (same transaction)."""
    from . import mviews

    for e in p.effects:
        if e.action == "record":
            ws.record(con, e.kind, e.schema, e.name, user)
        elif e.action == "forget":
            ws.forget(con, e.schema, e.name)
            if not e.name:
                mviews.forget_schema(con, e.schema)
        elif e.action == "rename":
            ws.rename(con, e.schema, e.name, e.new)


# --- what DuckDB's parser must also see ----------------------------------------------------


def inner_queries(tree: exp.Expression) -> list[str]:
    """Every query, function call and table reference inside a change statement, each as a
    SELECT that DuckDB's parser can serialise (duckparse.py rules on what they touch)."""
    out: list[str] = []
    if isinstance(tree, exp.Select):  # SELECT ... INTO: the query without its INTO
        q = tree.copy()
        q.set("into", None)
        return [q.sql(dialect="duckdb")]

    def visit(node: exp.Expression) -> None:
        for child in node.iter_expressions():
            if isinstance(child, exp.Subquery):
                out.append(child.this.sql(dialect="duckdb"))
            elif isinstance(child, exp.Query):
                out.append(child.sql(dialect="duckdb"))
            elif isinstance(child, exp.Table):
                out.append("SELECT * FROM " + child.sql(dialect="duckdb"))
            elif isinstance(child, exp.Func):
                out.append("SELECT " + child.sql(dialect="duckdb"))
            elif not isinstance(child, exp.DataType | exp.Identifier):
                visit(child)

    visit(tree)
    return out


def check_kind(con: duckdb.DuckDBPyConnection, duck: str, expected: str) -> None:
    """DuckDB must read the text as exactly one statement of the expected kind."""
    kinds = [st.type.name for st in con.extract_statements(duck)]
    if kinds != [expected]:
        raise SqlError(
            "42601", f"the workspace runs one {expected} statement here, not {', '.join(kinds)}"
        )
