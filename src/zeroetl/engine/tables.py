"""Per-table bookkeeping: state, reason, snapshot progress and the schema in the warehouse.

Every transition is written to the destination inside the open warehouse transaction, so a
table's state always matches the data committed beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from zeroetl.destinations.base import Destination
from zeroetl.engine.settings import Progress
from zeroetl.errors import TableFailed
from zeroetl.model import Position, TableId, TableSchema, TableState, TableStatus

log = logging.getLogger(__name__)

ZERO_DATES = "zero_dates"  # TableStatus.extra key: zero dates read as NULL since the last copy


class TableBook:
    def __init__(self, dest: Destination, progress: Progress) -> None:
        self.dest = dest
        self.progress = progress
        self.status: dict[TableId, TableStatus] = dest.load_table_statuses()
        self.schemas: dict[TableId, TableSchema] = dest.recorded_schemas()
        self.dirty: set[TableId] = set()

    def __contains__(self, table: TableId) -> bool:
        return table in self.status

    def get(self, table: TableId) -> TableStatus | None:
        return self.status.get(table)

    def tracked(self) -> Iterator[TableStatus]:
        """Tables that exist in the warehouse or are on their way there."""
        return (s for s in self.status.values() if s.state is not TableState.DELETED)

    def set_state(
        self, table: TableId, state: TableState, reason: str, checkpoint: Position | None
    ) -> TableStatus:
        st = self.status.get(table)
        if st is None:
            st = self.status[table] = TableStatus(table, state, reason)
        elif st.state is state and st.reason == reason:
            return st
        st.state, st.reason = state, reason
        self.dest.record_state_change(table, state, reason, checkpoint)
        self.dirty.add(table)
        self.progress.table_state(table, state.value, reason)
        level = (
            logging.WARNING
            if state in (TableState.FAILED, TableState.RESYNC_REQUIRED)
            else logging.INFO
        )
        log.log(level, "table %s -> %s%s", table, state.value, f": {reason}" if reason else "")
        return st

    def fail(self, table: TableId, reason: str, checkpoint: Position | None) -> None:
        self.set_state(table, TableState.FAILED, reason, checkpoint)

    def require_resync(
        self,
        table: TableId,
        reason: str,
        checkpoint: Position | None,
        *,
        not_before: Position | None = None,
    ) -> None:
        """Queue a copy of `table`. With `not_before`, the copy waits until the stream has
        applied that position (`snapshot_hw` holds it while the table waits)."""
        st = self.status.get(table)
        if st is not None and st.state is TableState.RESYNC_REQUIRED:
            return
        st = self.set_state(table, TableState.RESYNC_REQUIRED, reason, checkpoint)
        st.snapshot_hw = not_before
        self.dirty.add(table)

    def start_copy(
        self, schema: TableSchema, reason: str, checkpoint: Position | None
    ) -> TableStatus | None:
        """(Re)create the warehouse table empty and begin copying it chunk by chunk.

        Returns None (and fails the table) when the destination cannot hold it."""
        too_long = self.name_too_long(schema)
        if too_long:
            self.fail(schema.id, too_long, checkpoint)
            return None
        try:
            self.dest.create_table(schema)
        except TableFailed as exc:
            self.fail(schema.id, exc.reason, checkpoint)
            return None
        self.schemas[schema.id] = schema
        st = self.set_state(schema.id, TableState.RESYNC_INITIATED, reason, checkpoint)
        st.snapshot_done, st.snapshot_cursor, st.snapshot_hw, st.rows_copied = False, None, None, 0
        st.extra.pop(ZERO_DATES, None)  # a new copy: count afresh
        self.dirty.add(schema.id)
        return st

    def name_too_long(self, schema: TableSchema) -> str:
        """Why the destination cannot hold these names (its `max_identifier_length`), or ""."""
        limit = self.dest.capabilities.max_identifier_length
        if not limit:
            return ""
        names = [("database", schema.id.schema), ("table", schema.id.table)]
        names += [("column", c.name) for c in schema.columns]
        for what, name in names:
            if len(name) > limit:
                return (
                    f"{what} name {name!r} is longer than the destination's limit of "
                    f"{limit} characters"
                )
        return ""

    def count_zero_dates(self, table: TableId, n: int) -> None:
        """`n` more zero dates (0000-00-00, or a zero month or day) of `table` became NULL.

        MySQL's zero dates have no DuckDB equivalent; the count is kept with the table's state
        (`_zeroetl.tables.extra`, shown by the API) and the first one of a copy is logged."""
        st = self.status.get(table)
        if st is None or n <= 0:
            return
        before = int(st.extra.get(ZERO_DATES, 0) or 0)
        st.extra[ZERO_DATES] = str(before + n)
        self.dirty.add(table)
        if not before:
            log.warning(
                "table %s: %d zero date(s) (0000-00-00, or a zero month or day) became NULL; "
                "the count goes on in the table's zero_dates",
                table,
                n,
            )

    def create_synced(self, schema: TableSchema, reason: str, checkpoint: Position | None) -> None:
        """Create the warehouse table empty and Synced at once: the source table is known to
        be empty with this shape at `checkpoint` (CREATE TABLE ... LIKE a Synced table)."""
        too_long = self.name_too_long(schema)
        if too_long:
            raise TableFailed(str(schema.id), too_long)
        self.dest.create_table(schema)
        self.schemas[schema.id] = schema
        st = self.set_state(schema.id, TableState.SYNCED, reason, checkpoint)
        st.snapshot_done, st.snapshot_cursor, st.snapshot_hw, st.rows_copied = True, None, None, 0
        self.dirty.add(schema.id)

    def discard(self, table: TableId) -> None:
        """Drop the warehouse table without a state change: it is replaced at once."""
        self.dest.drop_table(table)
        self.schemas.pop(table, None)

    def drop(self, table: TableId, reason: str, checkpoint: Position | None) -> None:
        st = self.status.get(table)
        if table in self.schemas or (st is not None and st.state is not TableState.DELETED):
            self.dest.drop_table(table)
            self.schemas.pop(table, None)
        if st is not None:
            self.set_state(table, TableState.DELETED, reason, checkpoint)

    def rename(self, old: TableId, new: TableId, checkpoint: Position | None) -> None:
        schema = self.schemas.pop(old)
        new_schema = TableSchema(new, schema.columns, schema.primary_key)
        too_long = self.name_too_long(new_schema)
        if too_long:
            self.schemas[old] = schema
            raise TableFailed(str(new), too_long)
        self.dest.rename_table(old, new_schema)
        self.schemas[new] = new_schema
        st_old = self.status[old]
        st_new = TableStatus(
            new,
            st_old.state,
            f"renamed from {old}",
            snapshot_done=st_old.snapshot_done,
            snapshot_cursor=st_old.snapshot_cursor,
            snapshot_hw=st_old.snapshot_hw,
            rows_copied=st_old.rows_copied,
        )
        self.status[new] = st_new
        self.dirty.add(new)
        self.dest.record_state_change(new, st_new.state, st_new.reason, checkpoint)
        self.set_state(old, TableState.DELETED, f"renamed to {new}", checkpoint)

    def in_replay_window(self, table: TableId, position: Position) -> bool:
        """True while stream events may predate what the copy of this table already holds."""
        st = self.status[table]
        if not st.snapshot_done:
            return True
        return st.snapshot_hw is not None and position < st.snapshot_hw

    def promote_synced(self, position: Position) -> None:
        """Copied tables whose every chunk the stream has now passed become Synced."""
        for st in self.status.values():
            if (
                st.state is TableState.RESYNC_INITIATED
                and st.snapshot_done
                and (st.snapshot_hw is None or position >= st.snapshot_hw)
            ):
                self.set_state(st.id, TableState.SYNCED, "", position)

    def flush(self) -> None:
        """Write changed statuses (inside the caller's open transaction)."""
        for table in self.dirty:
            self.dest.save_table_status(self.status[table])
        self.dirty.clear()
