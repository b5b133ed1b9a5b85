"""The analysts' workspace `dev`: a persistent DuckDB database attached to the hub as `dev`.

On Redshift an analyst builds schemas, tables, views and materialized views in `dev` over the
replicated databases. Here `dev` is the file `<warehouse>/databases/dev.duckdb` (inside the only
directory the hub's DuckDB may touch), attached to the hub when it opens, so it survives
restarts and every session reaches it by name. Its layout:

```
dev.public                 the default schema, as on Redshift
dev.<schema>.<object>      what analysts create (tables, views, materialized views' contents)
dev._zeroetl.objects       who owns each object created through the SQL endpoint
dev._zeroetl.mviews        materialized views: definition, inputs, refresh state and freshness
```

`_zeroetl` is the same name as every target database's bookkeeping schema, so the sandbox's rule
for it (policy.py: no session reads or writes it) and the catalog's hiding of it apply as they
are. Writes to the bookkeeping happen in the same DuckDB transaction as the statement they
record (a transaction may write to one attached file: dev, for both).
"""

from __future__ import annotations

import duckdb

from zeroetl.sqltext import ident

WORKSPACE = "dev"  # the database name sessions use (dbname=dev, 3-part names dev.s.t)
DEFAULT_SCHEMA = "public"
BOOK = "_zeroetl"  # bookkeeping schema inside dev (never reachable by sessions)
SUPERUSER = "admin"
_W = ident(WORKSPACE)

_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {_W}.{ident(DEFAULT_SCHEMA)}",
    f"CREATE SCHEMA IF NOT EXISTS {_W}.{BOOK}",
    # kind: schema | table | view | materialized view; name '' for a schema
    f"""CREATE TABLE IF NOT EXISTS {_W}.{BOOK}.objects (
        kind VARCHAR NOT NULL,
        schema_name VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        owner VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT get_current_timestamp()
    )""",
    f"""CREATE TABLE IF NOT EXISTS {_W}.{BOOK}.mviews (
        schema_name VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        owner VARCHAR NOT NULL,
        definition VARCHAR NOT NULL,      -- the DuckDB query that fills it
        sql_text VARCHAR NOT NULL,        -- the query as the user wrote it
        search_path VARCHAR NOT NULL,     -- DuckDB search path it was written under
        autorefresh BOOLEAN NOT NULL,
        inputs VARCHAR[] NOT NULL,        -- replicated tables it reads: 'db.schema.table'
        state VARCHAR NOT NULL,           -- refreshed | failed | never refreshed
        last_refresh_time TIMESTAMPTZ,    -- when its current contents were built
        last_refresh_seconds DOUBLE,
        source_commit_time TIMESTAMPTZ,   -- source commit time of the newest change they reflect
        source_position VARCHAR,          -- replication checkpoints they reflect, per database
        input_version VARCHAR,            -- the inputs' change marks seen at that refresh
        stale_since TIMESTAMPTZ,          -- first time the refresher saw newer input changes
        last_error VARCHAR,               -- why the last refresh failed (previous contents kept)
        last_error_time TIMESTAMPTZ,
        refreshes BIGINT NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL DEFAULT get_current_timestamp()
    )""",
]


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create the workspace's default schema and bookkeeping (idempotent; at every start)."""
    con.execute("BEGIN")
    try:
        for sql in _DDL:
            con.execute(sql)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def attached(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this hub has the workspace (the service's hub does; bare test hubs may not)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = ? AND NOT internal",
        [WORKSPACE],
    ).fetchone()
    return bool(row and row[0])


def owner_of(con: duckdb.DuckDBPyConnection, schema: str, name: str = "") -> str | None:
    """Who created `schema.name` (a schema when `name` is ''); None when not recorded."""
    row = con.execute(
        f"SELECT owner FROM {_W}.{BOOK}.objects WHERE schema_name = ? AND name = ?"
        " ORDER BY created_at DESC LIMIT 1",
        [schema, name],
    ).fetchone()
    return None if row is None else str(row[0])


def record(con: duckdb.DuckDBPyConnection, kind: str, schema: str, name: str, owner: str) -> None:
    """`owner` created `schema.name` (replaces an older record of the same name)."""
    forget(con, schema, name)
    con.execute(
        f"INSERT INTO {_W}.{BOOK}.objects (kind, schema_name, name, owner) VALUES (?, ?, ?, ?)",
        [kind, schema, name, owner],
    )


def forget(con: duckdb.DuckDBPyConnection, schema: str, name: str = "") -> None:
    """`schema.name` is gone; a dropped schema forgets everything in it."""
    if name:
        con.execute(
            f"DELETE FROM {_W}.{BOOK}.objects WHERE schema_name = ? AND name = ?", [schema, name]
        )
    else:
        con.execute(f"DELETE FROM {_W}.{BOOK}.objects WHERE schema_name = ?", [schema])


def rename(con: duckdb.DuckDBPyConnection, schema: str, old: str, new: str) -> None:
    con.execute(
        f"UPDATE {_W}.{BOOK}.objects SET name = ? WHERE schema_name = ? AND name = ?",
        [new, schema, old],
    )


def existing(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    """'table', 'view' or None: what `dev.schema.name` is right now."""
    row = con.execute(
        "SELECT 'table' FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND"
        " table_name = ? UNION ALL SELECT 'view' FROM duckdb_views() WHERE database_name = ? AND"
        " schema_name = ? AND view_name = ? LIMIT 1",
        [WORKSPACE, schema, name, WORKSPACE, schema, name],
    ).fetchone()
    return None if row is None else str(row[0])


def schemas(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [WORKSPACE]
    ).fetchall()
    return {str(r[0]) for r in rows}
