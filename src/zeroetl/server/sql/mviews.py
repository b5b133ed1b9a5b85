"""Materialized views in the workspace `dev`, as on Redshift.

```
CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [BACKUP YES|NO] [AUTO REFRESH YES|NO] AS query
REFRESH MATERIALIZED VIEW name
ALTER MATERIALIZED VIEW name RENAME TO new_name
DROP MATERIALIZED VIEW [IF EXISTS] name [CASCADE | RESTRICT]
```

A materialized view is a table `dev.<schema>.<name>` holding the query's result, plus a row in
`dev._zeroetl.mviews`: the DuckDB query (translated and checked by the sandbox when the view was
created, never taken from a session afterwards), the search path it was written under, the
replicated tables it reads, and how fresh it is. A refresh rebuilds the table with
`CREATE OR REPLACE TABLE ... AS` and updates that row in ONE transaction: readers keep seeing the
previous contents until it commits (DuckDB's snapshots), and a failed refresh leaves them and
records the error. The replication checkpoint and last source commit time of every input
database are read in the same transaction as the rows, so `svv_mv_info` says exactly which
source position the contents reflect.

With AUTO REFRESH YES the service's refresher (service/mv_refresher.py) rebuilds a view after
replication applied changes to one of its inputs (`input_version` compares the inputs' change
marks in each target database's `_zeroetl` tables).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

import duckdb

from zeroetl.sqltext import ident, literal

from . import workspace_store as ws
from .errors import SqlError

VIEW = "svv_mv_info"
PINNED = frozenset({VIEW})
_T = f"{ident(ws.WORKSPACE)}.{ws.BOOK}.mviews"

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QNAME = rf"({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})"
_CREATE = re.compile(
    rf"^\s*CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?{_QNAME}\s*"
    r"((?:(?:BACKUP\s+(?:YES|NO)|AUTO\s+REFRESH\s+(?:YES|NO)|DISTSTYLE\s+\w+|DISTKEY\s*\(\s*[^)]*\)"
    r"|(?:COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*\([^)]*\))\s*)*)"
    r"AS\s+(.+?)\s*;?\s*$",
    re.I | re.S,
)
_REFRESH = re.compile(rf"^\s*REFRESH\s+MATERIALIZED\s+VIEW\s+{_QNAME}\s*;?\s*$", re.I | re.S)
_RENAME = re.compile(
    rf"^\s*ALTER\s+MATERIALIZED\s+VIEW\s+{_QNAME}\s+RENAME\s+TO\s+({_NAME})\s*;?\s*$",
    re.I | re.S,
)
_DROP = re.compile(
    rf"^\s*DROP\s+MATERIALIZED\s+VIEW\s+(IF\s+EXISTS\s+)?{_QNAME}\s*(?:CASCADE|RESTRICT)?\s*;?\s*$",
    re.I | re.S,
)
_PART = re.compile(_NAME)


@dataclass(frozen=True)
class Statement:
    kind: str  # create | refresh | rename | drop
    name: tuple[str, ...]  # as written (1 to 3 parts)
    query: str = ""
    autorefresh: bool = False
    if_exists: bool = False
    if_not_exists: bool = False
    new_name: str = ""


def _parts(text: str) -> tuple[str, ...]:
    out = []
    for m in _PART.finditer(text):
        t = m.group(0)
        out.append(t[1:-1].replace('""', '"') if t.startswith('"') else t)
    return tuple(out)


def match(sql: str) -> Statement | None:
    """The materialized-view statement in `sql` (comments already stripped), if it is one."""
    head = sql.lstrip()[:64].upper().split()
    if len(head) < 3 or head[1:3] not in (["MATERIALIZED", "VIEW"],):
        return None
    if m := _CREATE.match(sql):
        options = re.sub(r"\s+", " ", m.group(3).upper())
        return Statement(
            "create",
            _parts(m.group(2)),
            m.group(4),
            autorefresh="AUTO REFRESH YES" in options,
            if_not_exists=bool(m.group(1)),
        )
    if m := _REFRESH.match(sql):
        return Statement("refresh", _parts(m.group(1)))
    if m := _RENAME.match(sql):
        return Statement("rename", _parts(m.group(1)), new_name=_parts(m.group(2))[0])
    if m := _DROP.match(sql):
        return Statement("drop", _parts(m.group(2)), if_exists=bool(m.group(1)))
    raise SqlError(
        "42601",
        "syntax: CREATE MATERIALIZED VIEW name [AUTO REFRESH YES|NO] AS query;"
        " REFRESH MATERIALIZED VIEW name; ALTER MATERIALIZED VIEW name RENAME TO new_name;"
        " DROP MATERIALIZED VIEW [IF EXISTS] name",
    )


# --- bookkeeping -------------------------------------------------------------------------


@dataclass(frozen=True)
class MView:
    schema: str
    name: str
    owner: str
    definition: str
    search_path: str
    autorefresh: bool
    inputs: tuple[str, ...]  # 'db.schema.table' (each part may hold dots: split with `split`)
    input_version: str | None
    last_refresh_time: datetime | None
    stale_since: datetime | None


def is_mview(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        f"SELECT count(*) FROM {_T} WHERE schema_name = ? AND name = ?", [schema, name]
    ).fetchone()
    return bool(row and row[0])


def get(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> MView | None:
    rows = _select(con, "WHERE schema_name = ? AND name = ?", [schema, name])
    return rows[0] if rows else None


def all_views(con: duckdb.DuckDBPyConnection) -> list[MView]:
    return _select(con, "ORDER BY schema_name, name", [])


def _select(con: duckdb.DuckDBPyConnection, where: str, args: list[object]) -> list[MView]:
    rows = con.execute(
        "SELECT schema_name, name, owner, definition, search_path, autorefresh, inputs,"
        f" input_version, last_refresh_time, stale_since FROM {_T} {where}",
        args,
    ).fetchall()
    return [
        MView(r[0], r[1], r[2], r[3], r[4], bool(r[5]), tuple(r[6] or ()), r[7], r[8], r[9])
        for r in rows
    ]


def forget_schema(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    con.execute(f"DELETE FROM {_T} WHERE schema_name = ?", [schema])


def input_key(db: str, schema: str, table: str) -> str:
    return "\x1f".join((db, schema, table))


def split(key: str) -> tuple[str, str, str]:
    db, schema, table = key.split("\x1f")
    return db, schema, table


def _has_meta(con: duckdb.DuckDBPyConnection, db: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name ="
        " '_zeroetl' AND table_name = 'table_activity'",
        [db],
    ).fetchone()
    return bool(row and row[0])


def input_version(con: duckdb.DuckDBPyConnection, inputs: tuple[str, ...]) -> str:
    """The inputs' change marks: per replicated table, the newest applied change (activity) and
    the newest state or schema change. Differs from a recorded value once replication changed
    one of them."""
    marks: list[str] = []
    for key in sorted(inputs):
        db, schema, table = split(key)
        if not _has_meta(con, db):
            marks.append(f"{key}=absent")
            continue
        meta = f"{ident(db)}._zeroetl"
        row = con.execute(
            f"SELECT (SELECT max(record_time) FROM {meta}.table_activity WHERE schema_name = ?"
            f" AND table_name = ?), (SELECT max(greatest(last_updated_timestamp,"
            f" schema_updated_at)) FROM {meta}.tables WHERE schema_name = ? AND table_name = ?)",
            [schema, table, schema, table],
        ).fetchone()
        marks.append(f"{key}={row[0] if row else None}/{row[1] if row else None}")
    return "\n".join(marks)


def _source_state(
    con: duckdb.DuckDBPyConnection, inputs: tuple[str, ...]
) -> tuple[datetime | None, str]:
    """The oldest last-commit time over the input databases and their checkpoints."""
    commit: datetime | None = None
    positions: list[str] = []
    for db in sorted({split(k)[0] for k in inputs}):
        if not _has_meta(con, db):
            continue
        meta = f"{ident(db)}._zeroetl"
        row = con.execute(
            f"SELECT (SELECT max(checkpoint_name) FROM {meta}.checkpoint),"
            f" greatest((SELECT max(last_commit_timestamp) FROM {meta}.activity),"
            f" (SELECT max(last_commit_timestamp) FROM {meta}.activity_pruned))"
        ).fetchone()
        if row is None:
            continue
        positions.append(f"{db}:{row[0] or ''}")
        if row[1] is not None and (commit is None or row[1] < commit):
            commit = row[1]
    return commit, ", ".join(positions)


# --- statements ----------------------------------------------------------------------------


def create(
    con: duckdb.DuckDBPyConnection,
    *,
    schema: str,
    name: str,
    owner: str,
    definition: str,
    sql_text: str,
    search_path: str,
    autorefresh: bool,
    inputs: tuple[str, ...],
) -> None:
    """Build the view's table and record it (the caller holds a transaction on dev)."""
    target = f"{ident(ws.WORKSPACE)}.{ident(schema)}.{ident(name)}"
    started = time.monotonic()
    con.execute(f"CREATE TABLE {target} AS {definition}")
    commit, position = _source_state(con, inputs)
    con.execute(
        f"INSERT INTO {_T} (schema_name, name, owner, definition, sql_text, search_path,"
        " autorefresh, inputs, state, last_refresh_time, last_refresh_seconds, source_commit_time,"
        " source_position, input_version, refreshes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'refreshed',"
        " get_current_timestamp(), ?, ?, ?, ?, 1)",
        [schema, name, owner, definition, sql_text, search_path, autorefresh, list(inputs),
         time.monotonic() - started, commit, position, input_version(con, inputs)],
    )  # fmt: skip
    ws.record(con, "materialized view", schema, name, owner)


def drop(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    con.execute(f"DROP TABLE IF EXISTS {ident(ws.WORKSPACE)}.{ident(schema)}.{ident(name)}")
    con.execute(f"DELETE FROM {_T} WHERE schema_name = ? AND name = ?", [schema, name])
    ws.forget(con, schema, name)


def rename(con: duckdb.DuckDBPyConnection, mv: MView, new: str) -> None:
    table = f"{ident(ws.WORKSPACE)}.{ident(mv.schema)}.{ident(mv.name)}"
    con.execute(f"ALTER TABLE {table} RENAME TO {ident(new)}")
    con.execute(
        f"UPDATE {_T} SET name = ? WHERE schema_name = ? AND name = ?", [new, mv.schema, mv.name]
    )
    ws.rename(con, mv.schema, mv.name, new)


def refresh(con: duckdb.DuckDBPyConnection, mv: MView, *, own_transaction: bool = True) -> None:
    """Rebuild `mv` and record its freshness in one transaction; on failure the previous
    contents stay, the error is recorded (own_transaction) and raised."""
    target = f"{ident(ws.WORKSPACE)}.{ident(mv.schema)}.{ident(mv.name)}"
    started = time.monotonic()
    if own_transaction:
        con.execute("BEGIN")
    try:
        version = input_version(con, mv.inputs)  # read before the rows: a change in between
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {mv.definition}")  # only re-triggers
        commit, position = _source_state(con, mv.inputs)
        con.execute(
            f"UPDATE {_T} SET state = 'refreshed', last_refresh_time = get_current_timestamp(),"
            " last_refresh_seconds = ?, source_commit_time = ?, source_position = ?,"
            " input_version = ?, stale_since = NULL, last_error = NULL, refreshes = refreshes + 1"
            " WHERE schema_name = ? AND name = ?",
            [time.monotonic() - started, commit, position, version, mv.schema, mv.name],
        )
        if own_transaction:
            con.execute("COMMIT")
    except duckdb.Error as e:
        if own_transaction:
            with _suppress():
                con.execute("ROLLBACK")
            record_failure(con, mv, str(e))
        raise


def record_failure(con: duckdb.DuckDBPyConnection, mv: MView, error: str) -> None:
    with _suppress():
        con.execute(
            f"UPDATE {_T} SET state = 'failed', last_error = ?, last_error_time ="
            " get_current_timestamp() WHERE schema_name = ? AND name = ?",
            [error[:2000], mv.schema, mv.name],
        )


def mark_stale(con: duckdb.DuckDBPyConnection, mv: MView) -> None:
    con.execute(
        f"UPDATE {_T} SET stale_since = get_current_timestamp() WHERE schema_name = ? AND name = ?"
        " AND stale_since IS NULL",
        [mv.schema, mv.name],
    )


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], duckdb.Error)  # type: ignore[arg-type]


def view_sql(schema: str) -> list[str]:
    """`svv_mv_info` in the catalog emulation schema `schema` (Redshift's columns first)."""
    return [
        f"CREATE OR REPLACE VIEW {schema}.{VIEW} AS SELECT {literal(ws.WORKSPACE)} AS"
        " database_name, schema_name, owner AS user_name, name, CASE WHEN stale_since IS NOT"
        " NULL OR state = 'failed' THEN 't' ELSE 'f' END AS is_stale, 0 AS state, CASE WHEN"
        " autorefresh THEN 't' ELSE 'f' END AS autorefresh, 'f' AS autorewrite, state AS"
        " refresh_state, last_refresh_time, last_refresh_seconds, source_commit_time,"
        " source_position, stale_since, last_error, last_error_time, refreshes, array_to_string("
        " list_transform(inputs, lambda zq_i: replace(zq_i, chr(31), '.')), ', ') AS inputs,"
        f" sql_text AS definition FROM {_T}"
    ]
