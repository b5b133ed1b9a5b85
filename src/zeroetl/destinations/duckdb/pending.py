"""Rows of our `_zeroetl` tables that the open transaction saved, written just before it
commits (or before `_zeroetl.tables` is read): per set of columns one UPDATE ... FROM and one
INSERT of the rows still missing, and the state changes in one INSERT. An UPDATE per table
status scans every table's row, which made a many-table snapshot quadratic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl.model import TableId
from zeroetl.monitoring import tables as monitoring

from . import meta
from .types import ident

# A registered view of the rows to write; temporary, so it is found before any table.
VIEW = "__zeroetl_meta_rows"


def now() -> datetime:
    return datetime.now(UTC)


class PendingRows:
    """What the open transaction saved of table statuses, recorded schemas and state changes."""

    def __init__(self) -> None:
        self.statuses: dict[TableId, list[Any]] = {}  # meta.status_values + updated time
        self.schemas: dict[TableId, list[Any]] = {}  # schema JSON (None: dropped) + time
        self.changes: list[list[Any]] = []  # state_changes rows, in order

    def clear(self) -> None:
        self.statuses.clear()
        self.schemas.clear()
        self.changes.clear()

    def write(self, con: duckdb.DuckDBPyConnection, schema: str, integration_id: str) -> bool:
        """Write everything saved into the `_zeroetl` tables of `schema` (a quoted
        `catalog.schema`), inside the caller's transaction, and forget it. True if rows of
        `_zeroetl.tables` were written (if a write fails, the caller rolls everything back)."""
        statuses, self.statuses = self.statuses, {}
        schemas, self.schemas = self.schemas, {}
        changes, self.changes = self.changes, []
        wrote_tables = bool(statuses or schemas)
        if statuses:
            cols = [*meta.STATUS_COLUMNS, "last_updated_timestamp"]
            _upsert_rows(con, schema, integration_id, cols, statuses)
        if schemas:
            _upsert_rows(
                con, schema, integration_id, ["table_schema", "schema_updated_at"], schemas
            )
        if changes:
            names = list(monitoring.table("state_changes").column_names)
            _insert_rows(con, f"{schema}.state_changes", names, changes)
        return wrote_tables


def _insert_rows(
    con: duckdb.DuckDBPyConnection, target: str, names: list[str], rows: list[list[Any]]
) -> None:
    data = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    con.register(VIEW, data)
    try:
        cols = ", ".join(ident(n) for n in names)
        con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {VIEW}")
    finally:
        con.unregister(VIEW)


def _upsert_rows(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    integration_id: str,
    cols: list[str],
    pending: dict[TableId, list[Any]],
) -> None:
    data = pa.table(
        {
            "schema_name": [t.schema for t in pending],
            "table_name": [t.table for t in pending],
            **{c: [v[i] for v in pending.values()] for i, c in enumerate(cols)},
        }
    )
    con.register(VIEW, data)
    try:
        sets = ", ".join(f"{ident(c)} = b.{ident(c)}" for c in cols)
        con.execute(
            f"UPDATE {schema}.tables AS t SET {sets} FROM {VIEW} AS b "
            "WHERE t.integration_id = ? AND t.schema_name = b.schema_name "
            "AND t.table_name = b.table_name",
            [integration_id],
        )
        names = ", ".join(ident(c) for c in cols)
        con.execute(
            f"INSERT INTO {schema}.tables (integration_id, schema_name, table_name, "
            f"{names}) SELECT ?, b.schema_name, b.table_name, {names} FROM {VIEW} AS b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {schema}.tables AS t "
            "WHERE t.integration_id = ? AND t.schema_name = b.schema_name "
            "AND t.table_name = b.table_name)",
            [integration_id, integration_id],
        )
    finally:
        con.unregister(VIEW)
