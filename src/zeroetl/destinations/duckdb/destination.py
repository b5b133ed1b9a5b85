"""The DuckDB destination: one target database file, written by one thread (STYLE.md practice 8).

The class is assembled from cohesive parts, each on the one connection and its transaction:
connection.py (open, reopen, transactions, errors, upkeep), schema_ops.py (tables, columns and
their recorded schemas), records.py (checkpoint and monitoring rows) and, here, the data: change
batches and snapshot chunks (apply.py). Data, DDL and metadata share one transaction, so a
crash can never separate rows from the checkpoint that covers them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from zeroetl.destinations.base import Capabilities, register
from zeroetl.errors import ConfigError
from zeroetl.model import TableSchema

from . import apply, apply_columns
from .records import Records
from .schema_ops import SchemaOps

CAPABILITIES = Capabilities(
    atomic_checkpoint=True,  # data, _zeroetl metadata and checkpoint: one DuckDB transaction
    idempotent_replay=True,  # apply.py: delete the touched keys, insert the last images
    transactional_ddl=True,  # DuckDB's DDL is transactional
    positional_add_column=True,  # by rewriting the table in place (ddl.add_column_sql)
    max_identifier_length=0,  # DuckDB has no practical limit
)


@register("duckdb")
class DuckDBDestination(SchemaOps, Records):
    capabilities = CAPABILITIES

    @classmethod
    def from_url(cls, url: str, integration_id: str, **options: Any) -> DuckDBDestination:
        """`duckdb:///abs/path/file.duckdb` (or `duckdb://relative/path.duckdb`)."""
        _scheme, _sep, rest = url.partition("://")
        path = rest[1:] if rest.startswith("//") else rest
        if not path or "?" in path or "#" in path:
            raise ConfigError(
                f"not a DuckDB destination URL: {url!r}", hint="duckdb:///path/to/target.duckdb"
            )
        return cls(Path(path), integration_id, **options)

    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        with self._atomic("apply changes", schema.id):
            self._wrote(schema.id, len(schema.columns))
            apply.apply_changes(self._con, self._catalog, schema, changes, self._reader)

    def insert_new(self, schema: TableSchema, changes: pa.Table) -> None:
        """Change rows of keys known to be absent (base.NewKeyInserts): INSERT, no DELETE."""
        with self._atomic("apply changes", schema.id):
            self._wrote(schema.id, len(schema.columns))
            apply.insert_new(self._con, self._catalog, schema, changes, self._reader)

    def apply_changed(self, schema: TableSchema, changes: pa.Table, changed: pa.Array) -> None:
        """Changes whose in-place UPDATEs write only the columns they changed
        (base.ChangedColumns, apply_columns.py)."""
        with self._atomic("apply changes", schema.id):
            self._wrote(schema.id, len(schema.columns))
            apply_columns.apply_changed(
                self._con, self._catalog, schema, changes, changed, self._reader
            )

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        """A snapshot chunk: replaces rows with the same keys (idempotent if replayed); with
        `replace=False` a plain insert, for callers that know the keys are new."""
        # No memory allowance here (memory.TableAllowance): the copy commits its groups of
        # small tables every second, and they stayed under the plain limit.
        with self._atomic("write snapshot chunk", schema.id):
            apply.write_chunk(self._con, self._catalog, schema, rows, replace, self._reader)
            if self._hub is None:  # the hub's limit is the service's (memory.WideRows)
                self._wide.wrote(rows.num_rows, rows.nbytes)

    def __repr__(self) -> str:
        return f"DuckDBDestination({str(self.path)!r}, {json.dumps(self.integration_id)})"
