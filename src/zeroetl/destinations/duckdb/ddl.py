"""Table DDL for replicated tables: one DuckDB schema per MySQL database, names kept exactly.

Replicated tables carry no constraints at all (no PRIMARY KEY, no NOT NULL): keys are guaranteed
by the source, an ART index only slows the delete+insert apply, and NOT NULL would reject values
the type mapping deliberately turns into NULL (zero dates).

DuckDB identifiers are case-insensitive even when quoted, while MySQL table and database names
are case-sensitive on Linux. Two source tables that differ only in case would silently replace
each other here, so such a name fails its table instead (`check_case_clash`).
"""

from __future__ import annotations

import duckdb

from zeroetl.errors import TableFailed
from zeroetl.model import ColumnSchema, TableId, TableSchema

from . import apply, meta
from .types import column_type, ident, qualified


def create_table_sql(schema: TableSchema, catalog: str) -> list[str]:
    cols = ", ".join(f"{ident(c.name)} {column_type(schema.id, c)}" for c in schema.columns)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {ident(catalog)}.{ident(schema.id.schema)}",
        f"CREATE OR REPLACE TABLE {qualified(schema.id, catalog)} ({cols})",
    ]


def check_reserved(table: TableId) -> None:
    if table.schema.lower() == meta.SCHEMA:
        raise TableFailed(str(table), f"database name {table.schema!r} is reserved by zeroetl")
    if table.schema.lower() == "main" and table.table.lower() == apply.BATCH:
        # apply.py names each change batch so; in `main` such a table would be read instead
        raise TableFailed(str(table), f"table name {table.table!r} is reserved by zeroetl")


class Names:
    """The database's table names by lower-cased (schema, table), read once and then kept up to
    date by the writer's own DDL: looking a name up in `duckdb_tables()` per CREATE scans every
    table, which made the setup of a many-table snapshot quadratic (37% of it at 5,000 tables).

    Only the destination's writer creates or drops tables in its file, so the map stays right
    as long as the writer records each change (`added`, `removed`) and forgets the map when a
    transaction rolls back (`clear`): it then holds at most the committed names plus the open
    transaction's, and is read again on next use."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], TableId] | None = None
        self._schemas: dict[str, str] | None = None

    def clear(self) -> None:
        self._tables = self._schemas = None

    def _load(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database()"
        ).fetchall()
        self._tables = {(s.lower(), t.lower()): TableId(s, t) for s, t in rows}
        schemas = con.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()"
        ).fetchall()
        self._schemas = {r[0].lower(): r[0] for r in schemas}

    def table(self, con: duckdb.DuckDBPyConnection, table: TableId) -> TableId | None:
        if self._tables is None:
            self._load(con)
        assert self._tables is not None
        return self._tables.get((table.schema.lower(), table.table.lower()))

    def schema(self, con: duckdb.DuckDBPyConnection, name: str) -> str | None:
        if self._schemas is None:
            self._load(con)
        assert self._schemas is not None
        return self._schemas.get(name.lower())

    def added(self, table: TableId) -> None:
        if self._tables is not None and self._schemas is not None:
            self._tables[(table.schema.lower(), table.table.lower())] = table
            self._schemas.setdefault(table.schema.lower(), table.schema)

    def removed(self, table: TableId) -> None:
        if self._tables is not None:
            self._tables.pop((table.schema.lower(), table.table.lower()), None)


def existing_name(
    con: duckdb.DuckDBPyConnection, table: TableId, names: Names | None = None
) -> TableId | None:
    """The table's name as stored, if a table matching it case-insensitively exists."""
    return (names or Names()).table(con, table)


def check_case_clash(
    con: duckdb.DuckDBPyConnection,
    table: TableId,
    allow: TableId | None = None,
    names: Names | None = None,
) -> None:
    """Fail `table` if another table differing only in case already exists (see module doc)."""
    names = names or Names()
    found = names.table(con, table)
    if found is not None and found != table and found != allow:
        raise TableFailed(
            str(table),
            f"name differs only in letter case from the replicated table {found}; "
            "DuckDB identifiers are case-insensitive",
        )
    other_schema = names.schema(con, table.schema)
    if other_schema not in (None, table.schema, allow.schema if allow else None):
        raise TableFailed(
            str(table),
            f"database name differs only in letter case from {other_schema!r}; "
            "DuckDB identifiers are case-insensitive",
        )


def rename_table_sql(old: TableId, new: TableSchema, catalog: str) -> list[str]:
    """Rename in place when the schema stays, else copy into the new schema and drop the old.

    DuckDB has no ALTER TABLE ... SET SCHEMA; the copy runs inside the caller's transaction, so
    readers see either the old or the new table, never both or neither.
    """
    if old.schema == new.id.schema:
        return [f"ALTER TABLE {qualified(old, catalog)} RENAME TO {ident(new.id.table)}"]
    cols = ", ".join(ident(c) for c in new.names)
    return [
        *create_table_sql(new, catalog),
        f"INSERT INTO {qualified(new.id, catalog)} ({cols}) SELECT {cols} FROM {qualified(old, catalog)}",
        f"DROP TABLE {qualified(old, catalog)}",
    ]


def add_column_sql(
    current: TableSchema, column: ColumnSchema, position: int | None, catalog: str
) -> list[str]:
    """Add a column (its rows NULL) at `position`. DuckDB only appends, so a column placed
    before others (MySQL `FIRST` / `AFTER x`) rewrites the table in its new column order,
    inside the caller's transaction: column order in the warehouse follows the source."""
    table = current.id
    ctype = column_type(table, column)
    if position is None or position >= len(current.columns):
        return [f"ALTER TABLE {qualified(table, catalog)} ADD COLUMN {ident(column.name)} {ctype}"]
    exprs = [ident(c.name) for c in current.columns]
    exprs.insert(position, f"CAST(NULL AS {ctype}) AS {ident(column.name)}")
    name = qualified(table, catalog)
    return [f"CREATE OR REPLACE TABLE {name} AS SELECT {', '.join(exprs)} FROM {name}"]


def drop_column_sql(table: TableId, name: str, catalog: str) -> str:
    return f"ALTER TABLE {qualified(table, catalog)} DROP COLUMN {ident(name)}"


def rename_column_sql(table: TableId, old: str, new: str, catalog: str) -> str:
    return f"ALTER TABLE {qualified(table, catalog)} RENAME COLUMN {ident(old)} TO {ident(new)}"


def with_added(s: TableSchema, column: ColumnSchema, position: int | None = None) -> TableSchema:
    cols = [c for c in s.columns if c.name != column.name]
    cols.insert(len(cols) if position is None else position, column)
    return TableSchema(s.id, tuple(cols), s.primary_key)


def with_dropped(s: TableSchema, name: str) -> TableSchema:
    cols = tuple(c for c in s.columns if c.name != name)
    return TableSchema(s.id, cols, tuple(k for k in s.primary_key if k != name))


def with_renamed(s: TableSchema, old: str, new: str) -> TableSchema:
    cols = tuple(
        ColumnSchema(new, c.type, c.nullable, c.source_type, c.unsupported_reason)
        if c.name == old
        else c
        for c in s.columns
    )
    return TableSchema(s.id, cols, tuple(new if k == old else k for k in s.primary_key))
