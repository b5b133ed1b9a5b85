"""Our metadata in the warehouse: the checkpoint, table statuses, state changes, activity,
key/value settings and table statistics (the `_zeroetl` tables, meta.py), written in the open
transaction beside the data they describe.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from zeroetl.model import Position, TableActivity, TableId, TableState, TableStatus
from zeroetl.monitoring import tables as monitoring

from . import meta
from .connection import Connection
from .pending import now

# Up to this many tables' activity rows go in as one INSERT ... VALUES (10 parameters a row).
VALUES_ROWS = 32


class Records(Connection):
    """The checkpoint and the monitoring rows."""

    def load_checkpoint(self) -> Position | None:
        row = self._first(
            f"SELECT binlog_file, binlog_offset, gtid_set FROM {self._meta}.checkpoint "
            "WHERE integration_id = ?",
            [self.integration_id],
        )
        return None if row is None else Position(row[0], int(row[1]), row[2])

    def save_checkpoint(self, pos: Position) -> None:
        # One statement per commit once the row exists (a DuckDB statement costs ~0.3-2 ms
        # here; every commit pays this one).
        values = [*meta.position_values(pos), now()]
        with self._atomic("save checkpoint"):
            changed = self._exec(
                f"UPDATE {self._meta}.checkpoint SET checkpoint_name = ?, binlog_file = ?, "
                "binlog_offset = ?, gtid_set = ?, updated_at = ? WHERE integration_id = ?",
                [*values, self.integration_id],
            ).fetchone()
            if not changed or not changed[0]:
                self._exec(
                    monitoring.table("checkpoint").insert(self._meta),
                    [self.integration_id, *values],
                )

    def load_table_statuses(self) -> dict[TableId, TableStatus]:
        cols = ", ".join(meta.STATUS_COLUMNS)
        rows = self._read(
            f"SELECT schema_name, table_name, {cols} FROM {self._meta}.tables "
            "WHERE integration_id = ? AND table_state IS NOT NULL",
            [self.integration_id],
        )
        statuses = (meta.status_from_row(r[0], r[1], r[2:]) for r in rows)
        return {s.id: s for s in statuses}

    def save_table_status(self, status: TableStatus) -> None:
        with self._atomic("save table status", status.id):
            self._pending.statuses[status.id] = [*meta.status_values(status), now()]

    def record_state_change(
        self, table: TableId, new_state: TableState, reason: str, checkpoint: Position | None
    ) -> None:
        with self._atomic("record state change", table):
            self._pending.changes.append(
                [
                    self.integration_id,
                    table.schema,
                    table.table,
                    new_state.value,
                    *meta.position_values(checkpoint),
                    reason,
                    now(),
                ]
            )

    def record_activity(
        self,
        *,
        checkpoint: Position,
        checkpoint_type: str,
        checkpoint_bytes: int,
        commit_ts: datetime | None,
        modified_tables: int,
        start: datetime,
        end: datetime,
    ) -> None:
        with self._atomic("record activity"):
            self._exec(
                monitoring.table("activity").insert(self._meta),
                [
                    self.integration_id,
                    *meta.position_values(checkpoint),
                    checkpoint_type,
                    checkpoint_bytes,
                    commit_ts,
                    modified_tables,
                    start,
                    end,
                ],
            )

    def record_table_activity(
        self,
        *,
        checkpoint: Position,
        table: TableId,
        transaction_id: str,
        inserted: int,
        updated: int,
        deleted: int,
        bytes_ingested: int,
    ) -> None:
        with self._atomic("record table activity", table):
            self._exec(
                monitoring.table("table_activity").insert(self._meta),
                [
                    self.integration_id,
                    str(checkpoint),
                    table.schema,
                    table.table,
                    now(),
                    transaction_id,
                    inserted,
                    deleted,
                    updated,
                    bytes_ingested,
                ],
            )

    def record_tables_activity(
        self, *, checkpoint: Position, transaction_id: str, tables: Sequence[TableActivity]
    ) -> None:
        if not tables:
            return
        table = monitoring.table("table_activity")
        cols = ", ".join(table.column_names)
        recorded = now()
        if len(tables) <= VALUES_ROWS:
            # A few rows (most commits): one INSERT ... VALUES. Registering an Arrow table
            # and dropping it again are two more DuckDB catalog operations, each costing
            # about what the INSERT does (a heartbeat commit spent a fifth of its time there).
            marks = "(" + ", ".join("?" * len(table.column_names)) + ")"
            args: list[Any] = []
            for a in tables:
                args += [
                    self.integration_id,
                    str(checkpoint),
                    a.table.schema,
                    a.table.table,
                    recorded,
                    transaction_id,
                    a.inserted,
                    a.deleted,
                    a.updated,
                    a.bytes_ingested,
                ]
            with self._atomic("record table activity"):
                self._exec(
                    f"INSERT INTO {self._meta}.table_activity ({cols}) VALUES "
                    + ", ".join([marks] * len(tables)),
                    args,
                )
            return
        # Many: one INSERT from an Arrow table (a row INSERT per table cost about a third of
        # a commit touching thousands of tables).
        n = len(tables)
        rows = pa.table(
            {
                "integration_id": pa.array([self.integration_id] * n, pa.string()),
                "checkpoint_name": pa.array([str(checkpoint)] * n, pa.string()),
                "schema_name": pa.array([a.table.schema for a in tables], pa.string()),
                "table_name": pa.array([a.table.table for a in tables], pa.string()),
                "record_time": pa.array([recorded] * n, pa.timestamp("us", tz="UTC")),
                "transaction_id": pa.array([transaction_id] * n, pa.string()),
                "inserted_rows": pa.array([a.inserted for a in tables], pa.int64()),
                "deleted_rows": pa.array([a.deleted for a in tables], pa.int64()),
                "updated_rows": pa.array([a.updated for a in tables], pa.int64()),
                "bytes_ingested": pa.array([a.bytes_ingested for a in tables], pa.int64()),
            }
        )
        name = "__zeroetl_table_activity"
        with self._atomic("record table activity"):
            self._con.register(name, rows)
            try:
                self._exec(
                    f"INSERT INTO {self._meta}.table_activity ({cols}) SELECT {cols} FROM {name}"
                )
            finally:
                self._con.unregister(name)

    def table_stats(self) -> list[dict[str, Any]]:
        """Per replicated table: schema, table, rows (exact, committed) and bytes (estimate)."""
        with self._errors("table statistics"):
            return meta.table_stats(self._con, self._catalog)
