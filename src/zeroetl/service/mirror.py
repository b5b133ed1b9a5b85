"""A ClickHouse-backed integration as the engine sees it: ClickHouse holds the data and the
authoritative bookkeeping; a local DuckDB file mirrors the bookkeeping for monitoring.

The service's monitoring (the SQL endpoint's system views, the API's reads, `/metrics`, the
console) reads the `_zeroetl` tables of the DuckDB files attached to its hub. A ClickHouse
destination keeps the same bookkeeping in ClickHouse (`_zeroetl.state`, `_zeroetl.history`),
where the engine needs it next to the data (docs/clickhouse.md, "Exactly once"). So the worker
writes every monitoring record to both: `MirroredDestination` hands the engine's calls to the
ClickHouse destination (`primary`) and copies the metadata writes to `databases/<name>.duckdb`
(`mirror`), which the hub attaches like any target database. Every view, metric and console
page then reads it unchanged.

Exactly once rests on the primary alone: the engine reads the checkpoint, table states, schemas
and key/values from ClickHouse, never from the mirror, and the capabilities are ClickHouse's.
The mirror commits after the primary, so it is never ahead of it; a crash between the two
loses at most that one commit's monitoring rows (activity counters undercount by one batch,
never double), and the table states and checkpoint are copied from the primary again when the
worker opens the destination (`sync`).

Table statistics (rows and bytes, exact: FINAL) are read from ClickHouse at most every
`STATS_EVERY_S` seconds (less often when counting takes long) and stored in the mirror's
key/value table under `STATS_KEY`, where service/stats.py finds them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from zeroetl.destinations.base import Capabilities, Destination
from zeroetl.errors import ZeroEtlError
from zeroetl.model import (
    ColumnSchema,
    Position,
    TableActivity,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)

log = logging.getLogger(__name__)

STATS_KEY = "destination.table_stats"  # JSON list of {schema, table, rows, bytes}
STATS_EVERY_S = 5.0  # at most this often ...
STATS_SHARE = 10.0  # ... and at most once per this many times what the last one took


class MirroredDestination:
    """The engine's destination for a ClickHouse-backed integration (see the module doc)."""

    def __init__(self, primary: Destination, mirror: Destination) -> None:
        self.primary = primary
        self.mirror = mirror
        self.capabilities: Capabilities = primary.capabilities
        self._stats_at = 0.0
        self._stats_every = STATS_EVERY_S
        self.sync()

    def sync(self) -> None:
        """Copy the primary's table states and checkpoint into the mirror (it may be behind
        after a crash, or new after DROP DATABASE and CREATE DATABASE again)."""
        statuses = self.primary.load_table_statuses()
        checkpoint = self.primary.load_checkpoint()
        self.mirror.begin()
        try:
            for status in statuses.values():
                self.mirror.save_table_status(status)
            if checkpoint is not None:
                self.mirror.save_checkpoint(checkpoint)
            self.mirror.commit()
        except BaseException:
            self.mirror.rollback()
            raise
        self._refresh_stats(force=True)

    # --- transactions: the primary first, the mirror after it -------------------------------

    @property
    def in_transaction(self) -> bool:
        return self.primary.in_transaction

    def begin(self) -> None:
        self.primary.begin()
        if not self.mirror.in_transaction:
            self.mirror.begin()

    def commit(self) -> None:
        try:
            self.primary.commit()
        except BaseException:
            if self.mirror.in_transaction:
                self.mirror.rollback()
            raise
        if self.mirror.in_transaction:
            self.mirror.commit()
        self._refresh_stats()

    def rollback(self) -> None:
        try:
            self.primary.rollback()
        finally:
            if self.mirror.in_transaction:
                self.mirror.rollback()

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.mirror.close()

    def checkpoint_if_idle(self) -> None:
        self.primary.checkpoint_if_idle()
        self.mirror.checkpoint_if_idle()
        self._refresh_stats()

    def _both(self, call: str, *args: Any, **kwargs: Any) -> None:
        """A metadata write: the primary's, then the mirror's (in the open transaction of
        each, or a transaction of its own there)."""
        getattr(self.primary, call)(*args, **kwargs)
        getattr(self.mirror, call)(*args, **kwargs)

    def _refresh_stats(self, *, force: bool = False) -> None:
        """Row counts and sizes from ClickHouse into the mirror, now and then (outside any
        transaction: they describe what is committed)."""
        if self.primary.in_transaction or self.mirror.in_transaction:
            return
        if not force and time.monotonic() - self._stats_at < self._stats_every:
            return
        start = self._stats_at = time.monotonic()
        try:
            stats = self.primary.table_stats()
        except ZeroEtlError as exc:  # monitoring only: the next refresh tries again
            log.warning("table statistics from the destination: %s", exc)
            return
        # Counting with FINAL takes time on big tables, on the worker's thread: keep it under
        # a tenth of the worker's time, whatever the tables' size.
        self._stats_every = max(STATS_EVERY_S, STATS_SHARE * (time.monotonic() - start))
        self.mirror.kv_set(STATS_KEY, json.dumps(stats, ensure_ascii=False))

    # --- schema and data: the primary only --------------------------------------------------

    def create_table(self, schema: TableSchema) -> None:
        self.primary.create_table(schema)

    def drop_table(self, table: TableId) -> None:
        self.primary.drop_table(table)

    def rename_table(self, old: TableId, new: TableSchema) -> None:
        self.primary.rename_table(old, new)

    def truncate_table(self, table: TableId) -> None:
        self.primary.truncate_table(table)

    def add_column(self, table: TableId, column: ColumnSchema, position: int | None = None) -> None:
        self.primary.add_column(table, column, position)

    def drop_column(self, table: TableId, name: str) -> None:
        self.primary.drop_column(table, name)

    def rename_column(self, table: TableId, old: str, new: str) -> None:
        self.primary.rename_column(table, old, new)

    def record_schema(self, schema: TableSchema) -> None:
        self.primary.record_schema(schema)

    def recorded_schemas(self) -> dict[TableId, TableSchema]:
        return self.primary.recorded_schemas()

    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        self.primary.apply_changes(schema, changes)

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        self.primary.write_chunk(schema, rows, replace=replace)

    # --- checkpoint and monitoring: read from the primary, written to both ------------------

    def load_checkpoint(self) -> Position | None:
        return self.primary.load_checkpoint()

    def save_checkpoint(self, pos: Position) -> None:
        self._both("save_checkpoint", pos)

    def load_table_statuses(self) -> dict[TableId, TableStatus]:
        return self.primary.load_table_statuses()

    def save_table_status(self, status: TableStatus) -> None:
        self._both("save_table_status", status)

    def record_state_change(
        self, table: TableId, new_state: TableState, reason: str, checkpoint: Position | None
    ) -> None:
        self._both("record_state_change", table, new_state, reason, checkpoint)

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
        self._both(
            "record_activity",
            checkpoint=checkpoint,
            checkpoint_type=checkpoint_type,
            checkpoint_bytes=checkpoint_bytes,
            commit_ts=commit_ts,
            modified_tables=modified_tables,
            start=start,
            end=end,
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
        self._both(
            "record_table_activity",
            checkpoint=checkpoint,
            table=table,
            transaction_id=transaction_id,
            inserted=inserted,
            updated=updated,
            deleted=deleted,
            bytes_ingested=bytes_ingested,
        )

    def record_tables_activity(
        self, *, checkpoint: Position, transaction_id: str, tables: Sequence[TableActivity]
    ) -> None:
        self._both(
            "record_tables_activity",
            checkpoint=checkpoint,
            transaction_id=transaction_id,
            tables=tables,
        )

    def table_stats(self) -> list[dict[str, Any]]:
        return self.primary.table_stats()

    def kv_get(self, key: str) -> str | None:
        return self.primary.kv_get(key)

    def kv_set(self, key: str, value: str) -> None:
        self._both("kv_set", key, value)

    def __repr__(self) -> str:
        return f"MirroredDestination({self.primary!r}, mirror={self.mirror!r})"
