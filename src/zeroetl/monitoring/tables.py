"""Each `_zeroetl` monitoring table, defined once: its columns and their types.

A destination stores these tables beside the replicated data (destinations/duckdb/meta.py
creates them from `ddl`, destination.py writes them with `insert`); the SQL endpoint's
`zeroetl_meta_<name>` views union them over every target database (server/sql/catalog.py, from
`union_columns` and `empty_select`); the API's reads (service/reads.py) and the metrics
(service/stats.py) query them by the names given here. Adding a column or a table is an edit
of `TABLES` (plus its test): the DDL, the INSERTs and the system views follow.

Column names follow the Redshift system views they feed, so those views are thin
projections:
- checkpoint      -> svv_integration.last_replicated_checkpoint
- tables          -> svv_integration_table_state (+ recorded TableSchema as JSON)
- state_changes   -> sys_integration_table_state_change
- activity        -> sys_integration_activity
- table_activity  -> sys_integration_table_activity
- kv              -> engine bookkeeping (snapshot start position, ...)
- table_activity_pruned, activity_pruned -> what the history retention removed, summed, so
                     that totals (the metrics' counters) never go back

Types are DuckDB's spelling of SQL types (VARCHAR, BIGINT, TIMESTAMPTZ, JSON, ...); tables carry
no constraints but NOT NULL (upserts are UPDATE-then-INSERT) and every one has `integration_id`
so the views can union the files of several integrations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SCHEMA = "_zeroetl"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool = False
    # False: kept for the engine (binlog coordinates), not shown by the SQL views
    in_view: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    # True: the SQL endpoint shows it as `zeroetl_meta_<name>` (a union over target databases)
    view: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def create(self, schema: str) -> str:
        """CREATE TABLE IF NOT EXISTS in `schema` (qualified and quoted by the caller)."""
        cols = ",\n    ".join(
            f"{c.name} {c.type}{' NOT NULL' if c.not_null else ''}" for c in self.columns
        )
        return f"CREATE TABLE IF NOT EXISTS {schema}.{self.name} (\n    {cols}\n);"

    def insert(self, schema: str) -> str:
        """INSERT of one row, every column in definition order, as `?` parameters."""
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {schema}.{self.name} ({', '.join(self.column_names)}) VALUES ({marks})"

    def union_columns(self) -> str:
        """The columns a system view shows, as a select list."""
        return ", ".join(c.name for c in self.columns if c.in_view)

    def empty_select(self) -> str:
        """The view's columns as typed NULLs (a union over no database still has its shape)."""
        return ", ".join(f"NULL::{c.type} AS {c.name}" for c in self.columns if c.in_view)


def _c(name: str, type_: str, not_null: bool = True, in_view: bool = True) -> Column:
    return Column(name, type_, not_null, in_view)


_ID = _c("integration_id", "VARCHAR")

TABLES: tuple[Table, ...] = (
    Table(
        "checkpoint",
        (
            _ID,
            _c("checkpoint_name", "VARCHAR"),  # "binlog-file:offset"
            _c("binlog_file", "VARCHAR"),
            _c("binlog_offset", "BIGINT"),
            _c("gtid_set", "VARCHAR"),
            _c("updated_at", "TIMESTAMPTZ"),
        ),
        view=True,
    ),
    Table(
        "tables",
        (
            _ID,
            _c("schema_name", "VARCHAR"),
            _c("table_name", "VARCHAR"),
            _c("table_state", "VARCHAR", False),  # TableState value; NULL: schema, no status yet
            _c("reason", "VARCHAR", False),
            _c("snapshot_done", "BOOLEAN", False),
            _c("snapshot_cursor", "VARCHAR", False),  # JSON text of the last copied key
            _c("snapshot_hw_file", "VARCHAR", False),
            _c("snapshot_hw_offset", "BIGINT", False),
            _c("snapshot_hw_gtid_set", "VARCHAR", False),
            _c("rows_copied", "BIGINT", False),
            _c("extra", "JSON", False),
            _c("table_schema", "JSON", False),  # recorded TableSchema; NULL once dropped
            _c("schema_updated_at", "TIMESTAMPTZ", False),
            _c("last_updated_timestamp", "TIMESTAMPTZ", False),  # when the status last changed
        ),
    ),
    Table(
        "state_changes",
        (
            _ID,
            _c("schema_name", "VARCHAR"),
            _c("table_name", "VARCHAR"),
            _c("new_state", "VARCHAR"),
            _c("table_last_replicated_checkpoint", "VARCHAR", False),
            _c("binlog_file", "VARCHAR", False, in_view=False),
            _c("binlog_offset", "BIGINT", False, in_view=False),
            _c("gtid_set", "VARCHAR", False, in_view=False),
            _c("state_change_reason", "VARCHAR"),
            _c("record_time", "TIMESTAMPTZ"),
        ),
        view=True,
    ),
    Table(
        "activity",
        (
            _ID,
            _c("checkpoint_name", "VARCHAR"),
            _c("binlog_file", "VARCHAR", in_view=False),
            _c("binlog_offset", "BIGINT", in_view=False),
            _c("gtid_set", "VARCHAR", in_view=False),
            _c("checkpoint_type", "VARCHAR"),  # 'snapshot' | 'cdc'
            _c("checkpoint_bytes", "BIGINT"),
            _c("last_commit_timestamp", "TIMESTAMPTZ", False),  # source commit time, last txn
            _c("modified_tables", "INTEGER"),
            _c("integration_start_time", "TIMESTAMPTZ"),
            _c("integration_end_time", "TIMESTAMPTZ"),
        ),
        view=True,
    ),
    Table(
        "table_activity",
        (
            _ID,
            _c("checkpoint_name", "VARCHAR"),
            _c("schema_name", "VARCHAR"),
            _c("table_name", "VARCHAR"),
            _c("record_time", "TIMESTAMPTZ"),
            _c("transaction_id", "VARCHAR"),
            _c("inserted_rows", "BIGINT"),
            _c("deleted_rows", "BIGINT"),
            _c("updated_rows", "BIGINT"),
            _c("bytes_ingested", "BIGINT"),
        ),
        view=True,
    ),
    Table(
        "table_activity_pruned",  # sums of table_activity rows the retention removed
        (
            _ID,
            _c("schema_name", "VARCHAR"),
            _c("table_name", "VARCHAR"),
            _c("inserted_rows", "BIGINT"),
            _c("deleted_rows", "BIGINT"),
            _c("updated_rows", "BIGINT"),
            _c("bytes_ingested", "BIGINT"),
            _c("pruned_rows", "BIGINT"),
            _c("last_record_time", "TIMESTAMPTZ", False),
        ),
    ),
    Table(
        "activity_pruned",  # the same for activity rows
        (
            _ID,
            _c("batches", "BIGINT"),
            _c("last_end_time", "TIMESTAMPTZ", False),
            _c("last_commit_timestamp", "TIMESTAMPTZ", False),
        ),
    ),
    Table("kv", (_ID, _c("key", "VARCHAR"), _c("value", "VARCHAR"))),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    return BY_NAME[name]


def ddl(schema: str, tables: Iterable[Table] = TABLES) -> str:
    """CREATE SCHEMA and every table in `schema` (qualified and quoted by the caller)."""
    return "\n".join(
        [f"CREATE SCHEMA IF NOT EXISTS {schema};", *(t.create(schema) for t in tables)]
    )


def views(tables: Iterable[Table] = TABLES) -> dict[str, Table]:
    """The tables the SQL endpoint shows as `zeroetl_meta_<name>`, by name."""
    return {t.name: t for t in tables if t.view}
