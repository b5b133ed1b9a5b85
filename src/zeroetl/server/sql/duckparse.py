"""The exact text DuckDB will run, read by DuckDB's own parser: the guard's last word.

sqlglot's view of a statement (guard.py) may differ from DuckDB's: sqlglot passes text it does
not understand through as a command, and names functions its own way. So after translation the
DuckDB text goes through `json_serialize_sql`, DuckDB's parser serialising its parse tree, which
also refuses anything that is not a query. Every query node must be a SELECT (a data-modifying
CTE shows up as an UPDATE node), and every table function, function and table it names comes out
as a `Touch` under the name DuckDB will bind, for the policy to rule on.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import duckdb

from .errors import SqlError
from .policy import Kind, Touch

_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_FUNCTION_CLASSES = frozenset({"FUNCTION", "WINDOW", "AGGREGATE"})

_side_effects: frozenset[str] | None = None
_lock = threading.Lock()


def side_effect_functions(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Names of the functions DuckDB flags as having side effects (read once per process)."""
    global _side_effects
    with _lock:
        if _side_effects is None:
            rows = con.execute(
                "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE"
                " has_side_effects"
            ).fetchall()
            _side_effects = frozenset(r[0] for r in rows)
        return _side_effects


def inspect(con: duckdb.DuckDBPyConnection, text: str) -> list[Touch]:
    """What `text` touches, as DuckDB parses it; raises SqlError 42601 on a syntax error."""
    rows = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()
    row = rows[0] if rows else None
    doc: dict[str, Any] = json.loads(row[0]) if row and row[0] else {"error": True}
    if doc.get("error"):
        if doc.get("error_type") == "parser":
            raise SqlError("42601", str(doc.get("error_message") or "syntax error"))
        # "Only SELECT statements can be serialized": not a query (or not one statement).
        kinds = [st.type.name for st in con.extract_statements(text)]
        if len(kinds) != 1:
            return [Touch(Kind.STATEMENT, "MULTIPLE STATEMENTS")]
        return [Touch(Kind.STATEMENT, kinds[0].replace("_", " "))]
    statements = doc.get("statements") or []
    if len(statements) != 1:
        return [Touch(Kind.STATEMENT, "MULTIPLE STATEMENTS")]
    effects = side_effect_functions(con)
    touches: list[Touch] = []
    _walk(statements[0], touches, effects)
    return touches


def _names(*parts: Any) -> tuple[str, ...]:
    return tuple(str(p) for p in parts if p)


def _walk(node: Any, out: list[Touch], effects: frozenset[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, out, effects)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if isinstance(kind, str) and kind.endswith("_NODE") and kind not in _QUERY_NODES:
        verb = kind.removesuffix("_QUERY_NODE").removesuffix("_NODE").replace("_", " ")
        table = node.get("table") or {}
        path = _names(table.get("catalog_name"), table.get("schema_name"), table.get("table_name"))
        out.append(Touch(Kind.WRITE, verb.split()[0], path or _names(node.get("table_name"))))
    elif kind == "TABLE_FUNCTION":
        fn = node.get("function") or {}
        name = str(fn.get("function_name") or "")
        out.append(Touch(Kind.TABLE_FUNCTION, name, _names(fn.get("catalog"), fn.get("schema"))))
        for key, value in node.items():
            if key != "function":
                _walk(value, out, effects)
        for value in fn.values():  # its arguments (they may hold subqueries)
            _walk(value, out, effects)
        return
    elif kind == "BASE_TABLE":
        path = _names(node.get("catalog_name"), node.get("schema_name"), node.get("table_name"))
        out.append(Touch(Kind.READ, "SELECT", path))
    elif node.get("class") in _FUNCTION_CLASSES and "function_name" in node:
        name = str(node["function_name"])
        qualifier = _names(node.get("catalog"), node.get("schema"))
        out.append(Touch(Kind.FUNCTION, name, qualifier, side_effects=name.lower() in effects))
    for value in node.values():
        if isinstance(value, dict | list):
            _walk(value, out, effects)
