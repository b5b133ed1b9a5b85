"""Redshift's integration statements, read-only target databases, and table-state gating.

- CREATE DATABASE name FROM INTEGRATION 'id' [DATABASE 'src_db'] [SET QUERY_ALL_STATES = TRUE|FALSE]
- ALTER DATABASE name INTEGRATION REFRESH {ALL TABLES | INERROR TABLES | TABLE s.t [, ...]}
- ALTER DATABASE name SET QUERY_ALL_STATES = TRUE|FALSE is not offered (the Backend has no call)
- DROP DATABASE name
Replicated databases refuse writes (SQLSTATE 25006, as PostgreSQL's read-only transactions do);
the sandbox's policy (policy.py) says so.
A query that reads a table whose state is not Synced fails unless the database was created with
QUERY_ALL_STATES = TRUE, with the state and the reason in the message (the reference behaves so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from zeroetl.errors import ZeroEtlError

from .backend import Backend
from .errors import SqlError
from .rewrite import strip_comments

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_CREATE = re.compile(
    rf"^CREATE\s+DATABASE\s+({_IDENT})\s+FROM\s+INTEGRATION\s+'((?:[^']|'')*)'"
    rf"(?:\s+DATABASE\s+(?:'((?:[^']|'')*)'|({_IDENT})))?"
    r"(?:\s+SET\s+QUERY_ALL_STATES\s*=\s*(TRUE|FALSE))?\s*;?\s*$",
    re.I | re.S,
)
_ALTER = re.compile(
    rf"^ALTER\s+DATABASE\s+({_IDENT})\s+INTEGRATION\s+REFRESH\s+"
    r"(ALL\s+TABLES|INERROR\s+TABLES|TABLES?\s+(.+?))\s*;?\s*$",
    re.I | re.S,
)
_DROP = re.compile(rf"^DROP\s+DATABASE\s+(IF\s+EXISTS\s+)?({_IDENT})\s*;?\s*$", re.I | re.S)
_TABLE_NAME = re.compile(rf"^\s*({_IDENT})\s*\.\s*({_IDENT})\s*$")


def ident_value(text: str) -> str:
    """An identifier as written: quoted keeps case and characters, unquoted is kept as typed
    (case-sensitive identifiers are the only mode, PRODUCT.md section 2)."""
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text


@dataclass(frozen=True)
class Done:
    tag: str


def run(kind: str, sql: str, backend: Backend) -> Done:
    text = strip_comments(sql).strip()
    try:
        if kind == "create_db":
            return _create(text, backend)
        if kind == "alter_db":
            return _alter(text, backend)
        return _drop(text, backend)
    except ZeroEtlError as e:
        raise SqlError(_SQLSTATES.get(e.code, "55000"), e.message, hint=e.hint) from None


# The service's refusals as PostgreSQL classes them; the rest (an integration not in a state
# that allows it) is 55000 object_not_in_prerequisite_state, with the service's hint.
_SQLSTATES = {
    "InvalidParameter": "22023", "InvalidDataFilter": "22023", "IntegrationNotFound": "42704",
    "TableNotFound": "42P01", "TargetDatabaseNotFound": "3D000",
    "TargetDatabaseAlreadyExists": "42P04", "IntegrationAlreadyExists": "42710",
    "SourceNotAuthorized": "42501",
}  # fmt: skip


def _create(text: str, backend: Backend) -> Done:
    m = _CREATE.match(text)
    if not m:
        raise SqlError(
            "42601",
            "CREATE DATABASE needs FROM INTEGRATION: CREATE DATABASE name FROM INTEGRATION 'id'"
            " [DATABASE 'source_db'] [SET QUERY_ALL_STATES = TRUE|FALSE]",
            hint="a zeroetl warehouse holds only replicated target databases",
        )
    name = ident_value(m.group(1))
    integration_id = m.group(2).replace("''", "'")
    source_db = m.group(3).replace("''", "'") if m.group(3) is not None else None
    if source_db is None and m.group(4):
        source_db = ident_value(m.group(4))
    all_states = (m.group(5) or "FALSE").upper() == "TRUE"
    if name in backend.databases():
        raise SqlError("42P04", f'database "{name}" already exists')
    backend.create_database(
        name, integration_id, source_database=source_db, query_all_states=all_states
    )
    return Done("CREATE DATABASE")


def _alter(text: str, backend: Backend) -> Done:
    m = _ALTER.match(text)
    if not m:
        raise SqlError(
            "42601",
            "unsupported ALTER DATABASE; use ALTER DATABASE name INTEGRATION REFRESH"
            " {ALL TABLES | INERROR TABLES | TABLE schema.table [, ...]}",
        )
    name = ident_value(m.group(1))
    _known(name, backend)
    what = m.group(2).upper().split()[0]
    if what == "ALL":
        backend.refresh(name, tables=None, in_error=False)
    elif what == "INERROR":
        backend.refresh(name, tables=None, in_error=True)
    else:
        tables = []
        for part in _split_commas(m.group(3)):
            t = _TABLE_NAME.match(part)
            if not t:
                raise SqlError("42601", f"REFRESH TABLE needs schema.table names, got {part!r}")
            tables.append(f"{ident_value(t.group(1))}.{ident_value(t.group(2))}")
        backend.refresh(name, tables=tables, in_error=False)
    return Done("ALTER DATABASE")


def _drop(text: str, backend: Backend) -> Done:
    m = _DROP.match(text)
    if not m:
        raise SqlError("42601", "syntax: DROP DATABASE name")
    name = ident_value(m.group(2))
    if name not in backend.databases():
        if m.group(1):
            return Done("DROP DATABASE")
        raise SqlError("3D000", f'database "{name}" does not exist')
    backend.drop_database(name)
    return Done("DROP DATABASE")


def _known(name: str, backend: Backend) -> None:
    if name not in backend.databases():
        raise SqlError("3D000", f'database "{name}" does not exist')


def _split_commas(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


# --- table states ------------------------------------------------------------------------

Resolve = Callable[[exp.Table], tuple[str, str, str] | None]


def check_states(
    tree: exp.Expression,
    resolve: Resolve,
    states: Callable[[str], dict[tuple[str, str], tuple[str | None, str]]],
    query_all_states: Callable[[str], bool],
) -> None:
    """Refuse a query that reads a replicated table not in state Synced (see module doc)."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    cache: dict[str, dict[tuple[str, str], tuple[str | None, str]]] = {}
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        found = resolve(table)
        if found is None:
            continue
        db, schema, name = found
        if db not in cache:
            cache[db] = states(db)
        state = cache[db].get((schema, name))
        if state is None:
            continue  # not a replicated table (or not known yet): DuckDB answers
        table_state, reason = state
        if table_state == "Synced" or query_all_states(db):
            continue
        raise not_queryable(db, schema, name, table_state, reason)


def _q_ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def not_queryable(db: str, schema: str, name: str, state: str | None, reason: str) -> SqlError:
    """55000 for a replicated table not in state Synced, saying what the user can do about it:
    waiting helps a table being copied, never a Failed one (that one needs a refresh)."""
    shown = state or "not yet replicated"
    why = f" ({reason})" if reason else ""
    table = f"{_q_ident(schema)}.{_q_ident(name)}"
    refresh = f"ALTER DATABASE {_q_ident(db)} INTEGRATION REFRESH TABLE {table}"
    if state == "Failed":
        what = "replication of this table stopped and will not resume on its own"
        hint = (
            f"fix the cause, then copy the table again: {refresh} (or every table in error:"
            f" ALTER DATABASE {_q_ident(db)} INTEGRATION REFRESH INERROR TABLES)"
        )
    elif state == "Deleted":
        what = "the table was dropped at the source or left the integration's data filter"
        hint = (
            f"if it exists at the source again and the data filter includes it, copy it: {refresh}"
        )
    elif state == "ResyncRequired":
        what = "a new copy of the table is queued and starts automatically"
        hint = "retry when svv_integration_table_state shows the table Synced"
    else:  # ResyncInitiated, or no state yet: being copied
        what = "the table is being copied (initial snapshot or refresh)"
        hint = "retry when svv_integration_table_state shows the table Synced"
    return SqlError(
        "55000",
        f'table "{db}.{schema}.{name}" is not queryable: its state is {shown}{why}; {what}',
        hint=hint + "; a database created with SET QUERY_ALL_STATES = TRUE reads tables in every"
        " state",
    )


def table_states(
    con: duckdb.DuckDBPyConnection, db: str
) -> dict[tuple[str, str], tuple[str | None, str]]:
    quoted = '"' + db.replace('"', '""') + '"'
    try:
        rows = con.execute(
            f"SELECT schema_name, table_name, table_state, coalesce(reason, '') FROM"
            f" {quoted}._zeroetl.tables WHERE table_schema IS NOT NULL OR table_state IS NOT NULL"
        ).fetchall()
    except duckdb.Error:
        return {}
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def source_types(con: duckdb.DuckDBPyConnection, db: str) -> dict[tuple[str, str], dict[str, str]]:
    """The source's own column types of every replicated table of `db` (`varchar(30)` ...), in
    column order, from the recorded table schemas."""
    quoted = '"' + db.replace('"', '""') + '"'
    try:
        rows = con.execute(
            f"SELECT schema_name, table_name, table_schema FROM {quoted}._zeroetl.tables"
            " WHERE table_schema IS NOT NULL"
        ).fetchall()
    except duckdb.Error:
        return {}
    out: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, doc in rows:
        try:
            cols = json.loads(doc)["columns"]
            out[(schema, table)] = {str(c["name"]): str(c.get("source_type") or "") for c in cols}
        except (ValueError, KeyError, TypeError):
            continue
    return out
