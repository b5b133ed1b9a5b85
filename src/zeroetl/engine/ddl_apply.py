"""Schema changes while streaming: apply in place what is safe, resync the rest.

In place: DROP/RENAME/TRUNCATE TABLE, DROP DATABASE, DROP COLUMN, RENAME COLUMN, and ADD COLUMN
when existing rows get NULL (the new column's type comes from the next TABLE_MAP, so it appears
in the warehouse with the first row event that carries it). Everything else (CREATE TABLE, type
changes, defaults that fill existing rows, key changes, partition surgery, statements we cannot
read) re-copies the table while the others keep streaming. A table whose copy is not yet
reconciled with the stream (the replay window) is always resynced: its copy may already reflect
the change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from zeroetl.model import ColumnSchema, TableId, TableSchema, TableState, TableStatus
from zeroetl.sources.mysql import ddl as d
from zeroetl.sources.mysql.stream import DdlItem, RowsItem

if TYPE_CHECKING:
    from zeroetl.engine.runner import Replicator

log = logging.getLogger(__name__)


class DdlApplier:
    def __init__(self, runner: Replicator) -> None:
        self.r = runner
        # Columns added in place whose type we learn from the next TABLE_MAP.
        self.pending_adds: dict[TableId, set[str]] = {}

    @property
    def book(self):  # type: ignore[no-untyped-def]
        return self.r.book

    def apply(self, item: DdlItem) -> None:
        """Apply one DDL statement inside the open warehouse transaction."""
        try:
            actions = d.classify(item.sql, item.schema)
        except Exception as exc:  # classification must never stop the stream
            log.warning("cannot classify DDL %r: %s", item.sql[:200], exc)
            return
        for action in actions:
            self._apply_one(action)

    def _apply_one(self, a: d.DdlAction) -> None:
        pos = self.r.position
        book = self.book
        if isinstance(a, d.CreateTable):
            if self.r.wanted(a.table):
                book.require_resync(a.table, "table created on the source", pos)
        elif isinstance(a, d.DropTable):
            self.r.batch.drop_table(a.table)
            book.drop(a.table, "table dropped on the source", pos)
        elif isinstance(a, d.RenameTable):
            self._rename(a.old, a.new)
        elif isinstance(a, d.TruncateTable):
            st = book.get(a.table)
            if st is not None and st.state in (TableState.SYNCED, TableState.RESYNC_INITIATED):
                if st.state is TableState.RESYNC_INITIATED and not st.snapshot_done:
                    book.require_resync(a.table, "truncated during its copy", pos)
                else:
                    self.r.dest.truncate_table(a.table)
        elif isinstance(a, d.AlterTable):
            self._alter(a)
        elif isinstance(a, d.DropDatabase):
            for st in list(book.tracked()):
                if st.id.schema == a.schema:
                    self.r.batch.drop_table(st.id)
                    book.drop(st.id, "database dropped on the source", pos)
        elif isinstance(a, d.CreateDatabase):
            pass  # schemas are created with their first table
        elif isinstance(a, d.Unknown):
            for table in a.tables:
                if table in book or self.r.wanted(table):
                    book.require_resync(table, f"unrecognised DDL: {a.sql[:120]}", pos)

    def _rename(self, old: TableId, new: TableId) -> None:
        pos = self.r.position
        book = self.book
        st = book.get(old)
        live = st is not None and st.state is not TableState.DELETED
        if live and self.r.wanted(new) and st.state is TableState.SYNCED and old in book.schemas:  # type: ignore[union-attr]
            book.rename(old, new, pos)
            if old in self.pending_adds:
                self.pending_adds[new] = self.pending_adds.pop(old)
            return
        if live:
            self.r.batch.drop_table(old)
            book.drop(old, f"renamed to {new}", pos)
        if self.r.wanted(new):
            book.require_resync(new, f"renamed from {old}", pos)

    def _alter(self, a: d.AlterTable) -> None:
        pos = self.r.position
        book = self.book
        st = book.get(a.table)
        if st is None or st.state is TableState.DELETED:
            if self.r.wanted(a.table) and st is None:
                book.require_resync(a.table, "altered table not yet replicated", pos)
            if a.rename_to is not None and self.r.wanted(a.rename_to):
                book.require_resync(a.rename_to, f"renamed from {a.table}", pos)
            return
        if st.state is TableState.FAILED:
            # The change may have fixed what failed it (a primary key added, a column dropped).
            book.require_resync(a.table, "altered after failing; retrying", pos)
        elif st.state is not TableState.RESYNC_REQUIRED:
            reason = self._needs_resync(a, st)
            if reason:
                self.r.batch.drop_table(a.table)
                book.require_resync(a.table, reason, pos)
            else:
                self._alter_in_place(a)
        if a.rename_to is not None and a.rename_to != a.table:
            self._rename(a.table, a.rename_to)

    def _needs_resync(self, a: d.AlterTable, st: TableStatus) -> str:
        if st.state is not TableState.SYNCED or self.book.in_replay_window(
            a.table, self.r.position
        ):
            return "schema changed while the table was being copied"
        for op in a.ops:
            if isinstance(op, d.AddColumn) and (op.has_default or op.not_null):
                return f"column {op.name!r} added with values for existing rows"
            if isinstance(op, d.ModifyColumn):
                return f"column {op.name!r} modified"
            if isinstance(op, d.Other) and op.changes_rows:
                return f"rows changed by ALTER TABLE ... {op.text[:60]}"
        return ""

    def _alter_in_place(self, a: d.AlterTable) -> None:
        # Changes gathered under the old shape must land before the shape changes.
        self.r._apply_batch()
        schema = self.book.schemas[a.table]
        cols = list(schema.columns)
        key = list(schema.primary_key)
        for op in a.ops:
            if isinstance(op, d.DropColumn):
                if op.name in key:
                    self.book.require_resync(
                        a.table, f"key column {op.name!r} dropped", self.r.position
                    )
                    return
                self.r.dest.drop_column(a.table, op.name)
                cols = [c for c in cols if c.name != op.name]
                self.pending_adds.get(a.table, set()).discard(op.name)
            elif isinstance(op, d.RenameColumn):
                self.r.dest.rename_column(a.table, op.old, op.new)
                cols = [
                    ColumnSchema(op.new, c.type, c.nullable, c.source_type)
                    if c.name == op.old
                    else c
                    for c in cols
                ]
                key = [op.new if k == op.old else k for k in key]
            elif isinstance(op, d.AddColumn):
                self.pending_adds.setdefault(a.table, set()).add(op.name)
        self.book.schemas[a.table] = TableSchema(a.table, tuple(cols), tuple(key))
        self.r.dest.record_schema(self.book.schemas[a.table])

    def reconcile(self, item: RowsItem, recorded: TableSchema | None, st: TableStatus) -> bool:
        """A row event whose TABLE_MAP differs from the warehouse table: True if it may be
        applied now (after adding announced columns), False to skip it."""
        table = item.table
        pos = self.r.position
        assert pos is not None
        if recorded is None or self.book.in_replay_window(table, pos):
            # The copy will be (or already is) newer than this event; a DDL between them, if
            # any, triggers its own resync.
            return False
        have = {c.name for c in recorded.columns}
        new_cols = [c for c in item.schema.columns if c.name not in have]
        announced = self.pending_adds.get(table, set())
        same_rest = [c for c in item.schema.columns if c.name in have]
        if (
            new_cols
            and all(c.name in announced for c in new_cols)
            and item.schema.primary_key == recorded.primary_key
            and [(c.name, c.type) for c in same_rest]
            == [(c.name, c.type) for c in recorded.columns]
        ):
            self.r._apply_batch()
            for c in new_cols:
                self.r.dest.add_column(table, c)
                announced.discard(c.name)
            self.book.schemas[table] = TableSchema(
                table, item.schema.columns, item.schema.primary_key
            )
            self.r.dest.record_schema(self.book.schemas[table])
            return True
        self.r._ensure_txn()
        self.r.batch.drop_table(table)
        self.book.require_resync(table, "source schema differs from the replicated table", pos)
        self.r._touch()
        return False
