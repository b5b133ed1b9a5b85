"""Tables and columns in the warehouse (DDL through ddl.py) and the schema recorded for each
in `_zeroetl.tables`, changed in the same transaction.
"""

from __future__ import annotations

from typing import Any

from zeroetl.errors import DestinationError
from zeroetl.model import ColumnSchema, TableId, TableSchema

from . import ddl, meta
from .connection import Connection
from .pending import now
from .types import qualified


class SchemaOps(Connection):
    """Create, drop, rename and alter replicated tables; record their schemas."""

    def create_table(self, schema: TableSchema) -> None:
        ddl.check_reserved(schema.id)
        # TableFailed (before any change) when a column has no DuckDB type
        statements = ddl.create_table_sql(schema, self._catalog)
        with self._atomic("create table", schema.id):
            ddl.check_case_clash(self._con, schema.id, names=self._names)
            if self._names.schema(self._con, schema.id.schema) is not None:
                statements = statements[1:]  # its CREATE SCHEMA IF NOT EXISTS: one per table
            for sql in statements:
                self._ddl(sql)
            self._names.added(schema.id)
            self._record_schema(schema.id, schema)

    def drop_table(self, table: TableId) -> None:
        with self._atomic("drop table", table):
            self._ddl(f"DROP TABLE IF EXISTS {qualified(table, self._catalog)}")
            self._names.removed(table)
            self._record_schema(table, None)

    def rename_table(self, old: TableId, new: TableSchema) -> None:
        ddl.check_reserved(new.id)
        statements = ddl.rename_table_sql(old, new, self._catalog)
        with self._atomic("rename table", old):
            ddl.check_case_clash(self._con, new.id, allow=old, names=self._names)
            for sql in statements:
                self._ddl(sql)
            self._names.removed(old)
            self._names.added(new.id)
            self._record_schema(old, None)
            self._record_schema(new.id, new)

    def truncate_table(self, table: TableId) -> None:
        with self._atomic("truncate table", table):
            self._exec(f"DELETE FROM {qualified(table, self._catalog)}")

    def existing_table(self, table: TableId) -> TableId | None:
        """The warehouse table `table` names, as stored (DuckDB names ignore case), if any."""
        with self._errors("look up table", table):
            return ddl.existing_name(self._con, table, self._names)

    def add_column(self, table: TableId, column: ColumnSchema, position: int | None = None) -> None:
        """Add `column` as the `position`-th column (0-based; None: last). Rows get NULL."""
        with self._atomic("add column", table):
            current = self.recorded_schema(table)
            if current is None:
                raise DestinationError(f"table {table}: no recorded schema to add a column to")
            for sql in ddl.add_column_sql(current, column, position, self._catalog):
                self._ddl(sql)
            self._record_schema(table, ddl.with_added(current, column, position))

    def drop_column(self, table: TableId, name: str) -> None:
        with self._atomic("drop column", table):
            self._ddl(ddl.drop_column_sql(table, name, self._catalog))
            self._update_schema(table, lambda s: ddl.with_dropped(s, name))

    def rename_column(self, table: TableId, old: str, new: str) -> None:
        with self._atomic("rename column", table):
            self._ddl(ddl.rename_column_sql(table, old, new, self._catalog))
            self._update_schema(table, lambda s: ddl.with_renamed(s, old, new))

    def record_schema(self, schema: TableSchema) -> None:
        """Record `schema` for its table without DDL (e.g. a column's source type changed in a
        way that keeps its DuckDB type, or the engine knows the order after ADD ... AFTER)."""
        with self._atomic("record schema", schema.id):
            self._record_schema(schema.id, schema)

    def recorded_schema(self, table: TableId) -> TableSchema | None:
        row = self._first(
            f"SELECT table_schema FROM {self._meta}.tables WHERE integration_id = ? "
            "AND schema_name = ? AND table_name = ? AND table_schema IS NOT NULL",
            [self.integration_id, table.schema, table.table],
        )
        return None if row is None else meta.schema_from_json(row[0])

    def recorded_schemas(self) -> dict[TableId, TableSchema]:
        rows = self._read(
            f"SELECT table_schema FROM {self._meta}.tables WHERE integration_id = ? "
            "AND table_schema IS NOT NULL",
            [self.integration_id],
        )
        schemas = (meta.schema_from_json(r[0]) for r in rows)
        return {s.id: s for s in schemas}

    def _update_schema(self, table: TableId, change: Any) -> None:
        current = self.recorded_schema(table)
        if current is not None:
            self._record_schema(table, change(current))

    def _ddl(self, sql: str) -> None:
        """Run a statement that changes the catalog: readers keeping what names mean (the SQL
        endpoint's table states and relation index) read again once it commits."""
        self._states_written = True
        self._exec(sql)

    def _record_schema(self, table: TableId, schema: TableSchema | None) -> None:
        """Saved with the open transaction's other table rows (pending.py)."""
        text = None if schema is None else meta.schema_to_json(schema)
        self._pending.schemas[table] = [text, now()]
