"""What a statement touches, read from its whole parse tree (sqlglot), for the policy to rule on.

A statement is judged by everything in it, never by its first node alone: a data-modifying CTE
(`WITH x AS (UPDATE ... RETURNING ...) SELECT ...`) parses as a SELECT at the top, and
`SELECT ... INTO t` creates a table. This layer finds the statement's kind from its first word
(DuckDB statements that sqlglot cannot parse included), every INSERT/UPDATE/DELETE/MERGE/
TRUNCATE/COPY/CREATE/ALTER/DROP anywhere in the tree with the database it lands in, SELECT INTO,
and every table read. The DuckDB layer (duckparse.py) then checks the exact text DuckDB will run
with DuckDB's own parser: node types, table functions and functions by their real names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from .policy import Kind, Touch

# Statements analysts run (SHOW, SET and the transaction statements are intercepted before).
QUERY_WORDS = frozenset(
    {"SELECT", "WITH", "VALUES", "TABLE", "FROM", "EXPLAIN", "DESCRIBE", "DESC"}
)
WRITE_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "UPSERT", "REPLACE"})
DDL_WORDS = frozenset({"CREATE", "ALTER", "DROP", "COMMENT", "REFRESH"})
# Statements that act on the server rather than on data; refused whatever follows them.
SERVER_WORDS = frozenset(
    {
        "ATTACH",
        "DETACH",
        "EXPORT",
        "IMPORT",
        "INSTALL",
        "LOAD",
        "PRAGMA",
        "CALL",
        "CHECKPOINT",
        "FORCE",
        "VACUUM",
        "ANALYZE",
        "ANALYSE",
        "USE",
        "PREPARE",
        "EXECUTE",
        "UNLOAD",
        "LOCK",
        "GRANT",
        "REVOKE",
        "SET",
        "RESET",
        "PIVOT",
        "UNPIVOT",
        "SUMMARIZE",
    }
)

_WORD = re.compile(r"[\s(]*([A-Za-z_]+)(?:\s+([A-Za-z_]+))?")

DatabaseOf = Callable[[exp.Table], str | None]


def statement_words(sql: str) -> tuple[str, str]:
    """The first two words of a statement (comments already stripped), upper-cased."""
    m = _WORD.match(sql)
    if not m:
        return "", ""
    return m.group(1).upper(), (m.group(2) or "").upper()


def server_statement(first: str, second: str) -> Touch | None:
    """A statement refused by its first words alone (COPY and DDL need the tree)."""
    if first == "UPDATE" and second == "EXTENSIONS":
        return Touch(Kind.STATEMENT, "UPDATE EXTENSIONS")
    if first == "FORCE":
        return Touch(Kind.STATEMENT, "CHECKPOINT")
    if first == "ANALYSE":
        return Touch(Kind.STATEMENT, "ANALYZE")
    if first == "SET" and second == "VARIABLE":
        return Touch(Kind.STATEMENT, "SET VARIABLE")
    if first in SERVER_WORDS:
        return Touch(Kind.STATEMENT, first)
    return None


def _path(table: exp.Table) -> tuple[str, ...]:
    return tuple(p for p in (table.catalog, table.db, table.name) if p)


def _kind_name(node: exp.Expr) -> str:
    kind = node.args.get("kind")
    word = {exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.Comment: "COMMENT"}
    base = next(w for cls, w in word.items() if isinstance(node, cls))
    return f"{base} {str(kind).upper()}" if kind else base


def _targets(node: exp.Expr) -> list[exp.Table]:
    this = node.this if isinstance(node.this, exp.Table) else None
    if this is not None:
        return [this]
    if isinstance(node.this, exp.Schema) and isinstance(node.this.this, exp.Table):
        return [node.this.this]  # CREATE TABLE t (columns ...)
    return [t for t in node.args.get("tables") or node.expressions if isinstance(t, exp.Table)]


def inspect(tree: exp.Expression, database_of: DatabaseOf) -> list[Touch]:
    """Every write, object change and table read anywhere in `tree`, in tree order."""
    touches: list[Touch] = []
    written: set[int] = set()
    for node in tree.walk():
        change: tuple[Kind, str] | None = None
        if isinstance(node, exp.Insert | exp.Update | exp.Delete | exp.Merge):
            change = (Kind.WRITE, type(node).__name__.upper())
        elif isinstance(node, exp.TruncateTable):
            change = (Kind.WRITE, "TRUNCATE")
        elif isinstance(node, exp.Copy):
            if node.args.get("kind"):  # COPY t FROM ...: a write into t
                change = (Kind.WRITE, "COPY")
            else:
                touches.append(Touch(Kind.STATEMENT, "COPY"))
                continue
        elif isinstance(node, exp.Create | exp.Drop | exp.Alter | exp.Comment):
            change = (Kind.DDL, _kind_name(node))
        elif isinstance(node, exp.Select) and node.args.get("into") is not None:
            into = node.args["into"].this
            if isinstance(into, exp.Table):
                written.add(id(into))
                touches.append(Touch(Kind.DDL, "SELECT INTO", _path(into), database_of(into)))
        elif isinstance(node, exp.Command | exp.Pragma | exp.Use | exp.Set | exp.Grant):
            name = str(node.this).upper() if isinstance(node, exp.Command) else ""
            name = name or type(node).__name__.upper()
            touches.append(Touch(Kind.STATEMENT, name.split()[0] if name else "COMMAND"))
            continue
        if change is not None:
            for table in _targets(node):
                written.add(id(table))
                touches.append(Touch(change[0], change[1], _path(table), database_of(table)))
            if not _targets(node):
                touches.append(Touch(change[0], change[1]))
        elif (
            isinstance(node, exp.Table)
            and id(node) not in written
            and isinstance(node.this, exp.Identifier)
            and node.name
        ):
            touches.append(Touch(Kind.READ, "SELECT", _path(node)))
    return touches
