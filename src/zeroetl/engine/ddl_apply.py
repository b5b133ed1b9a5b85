"""Schema changes while streaming: apply in place what is safe, resync the rest, never wedge.

A DDL statement is applied inside the open warehouse transaction, so it commits with the
checkpoint after it and a crash replays it from scratch. Each action is checked against what
the warehouse holds before anything is changed; whatever does not match what the statement
expects (a name already taken, a table or column missing, a copy under way) sends the tables it
names to ResyncRequired, and only those: a resync copies the table as the source has it now,
which is right whatever happened before (see copier.py).

In place, on a Synced table: DROP TABLE (any number), RENAME TABLE (chains and swaps, across
databases), ALTER TABLE ... RENAME TO, TRUNCATE, DROP DATABASE, DROP COLUMN, RENAME COLUMN, ADD
COLUMN whose existing rows get NULL and whose type the statement tells (at its FIRST/AFTER
position), index and option changes (nothing to do), and CREATE TABLE ... LIKE a Synced table
(created empty and Synced at once: online schema-change tools' shadow tables then follow every
row event and their cut-over RENAME is a rename here too, with nothing copied).

Resync: CREATE TABLE, type changes (MODIFY/CHANGE), ADD COLUMN with values for existing rows,
key changes, partition surgery that moves rows, statements we cannot read, and any DDL on a
table whose copy is not yet reconciled with the stream (its copy may already hold the change).

A table that a DDL creates (CREATE TABLE, or RENAME onto its name) and that is already queued
for a copy or being copied keeps that copy: the name did not exist on the source just before
the statement, so every chunk of it was read after the statement and already reflects it.

If applying an action still fails (a destination error, or a bug here), the warehouse
transaction is rolled back, the tables the action names are set to ResyncRequired in a
transaction of their own, and the stream replays from the checkpoint. Until the replay has
passed the failed statement, every DDL naming those tables takes the resync path (drops stay
drops), so the call that failed is not made again. A failure that a resync cannot avoid (a drop
of tables already waiting for a copy) is raised.
"""

from __future__ import annotations

import logging

from zeroetl import model as d
from zeroetl.engine.context import EngineContext
from zeroetl.engine.tables import TableBook
from zeroetl.errors import ZeroEtlError
from zeroetl.model import (
    ColumnSchema,
    Position,
    SchemaChange,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)

log = logging.getLogger(__name__)

_COPYING = (TableState.RESYNC_INITIATED, TableState.RESYNC_REQUIRED)

# One in-place change to a table: ("drop", name) | ("rename", old, new) | ("add", column, index)
Step = tuple[object, ...]


class ReplayFromCheckpoint(ZeroEtlError):
    """A DDL could not be applied; its tables now wait for a resync. Replay from the checkpoint."""


class DdlApplier:
    def __init__(self, runner: EngineContext) -> None:
        self.r = runner
        # Tables whose DDL failed, resynced rather than changed in place until the replay
        # passes the position of the failure (see the module docstring).
        self.poisoned: set[TableId] = set()
        self.poisoned_until: Position | None = None

    @property
    def book(self) -> TableBook:
        return self.r.book

    def _where(self) -> str:
        return f"in the transaction after binlog position {self.r.position}"

    # -- entry points -----------------------------------------------------------------------------
    def apply(self, item: SchemaChange) -> None:
        """Apply one schema change inside the open warehouse transaction."""
        pos = self.r.position
        if self.poisoned_until is not None and pos is not None and pos > self.poisoned_until:
            self.poisoned.clear()
            self.poisoned_until = None
        for action in item.actions:
            try:
                if isinstance(action, d.Unknown):
                    self._unreadable(item, action)
                else:
                    self._apply_one(action)
            except ReplayFromCheckpoint:
                raise
            except Exception as exc:
                self._recover(action, item, exc)

    def reconcile(self, table: TableId, recorded: TableSchema | None) -> bool:
        """Rows read with a schema that differs from the warehouse table: True if they may be
        applied now, False to skip them (the table then waits for a resync if needed)."""
        pos = self.r.position
        assert pos is not None
        if recorded is None or self.book.in_replay_window(table, pos):
            # The copy will be (or already is) newer than this event; a DDL between them, if
            # any, triggers its own resync.
            return False
        # Every schema change arrives as DDL first; a shape the warehouse table does not have
        # means one was missed or read wrong: copy the table again rather than guess.
        self.r.ensure_txn()
        self.r.discard(table)
        self.book.require_resync(table, "source schema differs from the replicated table", pos)
        self.r.touch()
        return False

    # -- helpers ----------------------------------------------------------------------------------
    def _live(self, table: TableId) -> TableStatus | None:
        st = self.book.get(table)
        return st if st is not None and st.state is not TableState.DELETED else None

    def _concerns(self, table: TableId) -> bool:
        return self._live(table) is not None or self.r.wanted(table)

    def _resync(self, table: TableId, reason: str) -> None:
        self.r.discard(table)
        self.book.require_resync(table, reason, self.r.position)

    def _drop(self, table: TableId, reason: str) -> None:
        self.r.discard(table)
        self.book.drop(table, reason, self.r.position)

    def _unreadable(self, item: SchemaChange, action: d.Unknown) -> None:
        """A statement the source could not read: resync the tables it names, or failing that
        every replicated table of the databases it names. Never skipped silently."""
        tables = [t for t in action.tables if self._concerns(t)]
        if not action.tables:
            tables = [s.id for s in self.book.tracked() if s.id.schema in action.schemas]
        what = action.what
        reason = f"DDL {what}: {item.statement[:120]}"
        log.warning(
            "DDL %s %s: %r; resyncing %s",
            what,
            self._where(),
            item.statement[:300],
            ", ".join(map(str, tables)) or "no replicated table",
        )
        for table in tables:
            self._resync(table, reason)

    def _recover(self, action: d.DdlAction, item: SchemaChange, exc: Exception) -> None:
        """Applying `action` failed: roll back, resync the tables it names, replay."""
        r = self.r
        failed_at = r.position
        tables = _named(action, r.book)
        log.warning(
            "applying the DDL %s failed: %r: %s; resyncing %s",
            self._where(),
            item.statement[:300],
            exc,
            ", ".join(map(str, tables)),
        )
        r.rollback_open()
        book = r.reload_book()
        fresh = [
            t
            for t in tables
            if (t in book or r.wanted(t))
            and (book.get(t) is None or book.status[t].state is not TableState.RESYNC_REQUIRED)
        ]
        if not fresh and set(tables) <= self.poisoned:
            raise exc  # a resync would not avoid it: a real destination problem
        self.poisoned.update(tables)
        if failed_at is not None and (
            self.poisoned_until is None or failed_at > self.poisoned_until
        ):
            self.poisoned_until = failed_at
        reason = f"DDL could not be applied ({str(exc)[:160]}): {item.statement[:100]}"
        r.dest.begin()
        try:
            for table in fresh:
                book.require_resync(table, reason, r.committed)
            book.flush()
            r.dest.commit()
        except BaseException:
            r.dest.rollback()
            raise
        raise ReplayFromCheckpoint(
            f"DDL failed on {', '.join(map(str, tables))}; copying them again instead; "
            f"replaying from {r.committed}"
        ) from exc

    # -- actions ----------------------------------------------------------------------------------
    def _apply_one(self, a: d.DdlAction) -> None:
        if self.poisoned and not self.poisoned.isdisjoint(_named(a, self.book)):
            self._resync_named(a)
        elif isinstance(a, d.CreateTable):
            self._create(a)
        elif isinstance(a, d.DropTable):
            self._drop(a.table, "table dropped on the source")
        elif isinstance(a, d.RenameTable):
            self._rename(a.old, a.new)
        elif isinstance(a, d.TruncateTable):
            self._truncate(a.table)
        elif isinstance(a, d.AlterTable):
            self._alter(a)
        elif isinstance(a, d.DropDatabase):
            for st in list(self.book.tracked()):
                if st.id.schema == a.schema:
                    self._drop(st.id, "database dropped on the source")
        # CreateDatabase: schemas are created with their first table.

    def _resync_named(self, a: d.DdlAction) -> None:
        """The action's tables without any in-place change: removed names dropped, the rest
        resynced."""
        gone: list[TableId] = []
        if isinstance(a, d.RenameTable):
            gone = [a.old]
        elif isinstance(a, d.AlterTable) and a.rename_to not in (None, a.table):
            gone = [a.table]
        elif isinstance(a, d.DropTable | d.DropDatabase):
            gone = _named(a, self.book)
        for table in _named(a, self.book):
            if table in gone:
                self._drop(table, "dropped or renamed on the source")
            elif self._concerns(table):
                self._resync(table, "changed on the source after a failed DDL")

    def _create(self, a: d.CreateTable) -> None:
        table = a.table
        if not self.r.wanted(table):
            return
        st = self._live(table)
        if a.if_not_exists and st is not None:
            if st.state in _COPYING or st.state is TableState.SYNCED:
                return  # it may have existed: its copy, or the table, stands
        elif a.like is not None and self._create_like(table, a.like):
            return
        elif st is not None and st.state in _COPYING:
            return  # its copy was read after this statement (module docstring)
        self._resync(table, "table created on the source")

    def _create_like(self, table: TableId, like: TableId) -> bool:
        """CREATE TABLE t LIKE s, s Synced: t is s's shape, empty, and Synced from here on
        (whatever the warehouse held under that name: a copy queued or under way, replaced)."""
        src = self._live(like)
        schema = self.book.schemas.get(like)
        if src is None or src.state is not TableState.SYNCED or schema is None:
            return False
        new = TableSchema(table, schema.columns, schema.primary_key)
        self.book.create_synced(new, f"created like {like}", self.r.position)
        return True

    def _rename(self, old: TableId, new: TableId) -> None:
        st_old, st_new = self._live(old), self._live(new)
        if (
            st_old is not None
            and st_old.state is TableState.SYNCED
            and old in self.book.schemas
            and self.r.wanted(new)
        ):
            # A Synced table holds the source's rows as of this statement, so renaming it is
            # exact; whatever the warehouse held under the new name (a copy queued or under
            # way since a restart, say) is replaced.
            if st_new is not None:
                self.book.discard(new)
            self.book.rename(old, new, self.r.position)
            return
        if st_old is not None:
            self._drop(old, f"renamed to {new}")
        if not self.r.wanted(new) or (st_new is not None and st_new.state in _COPYING):
            return  # not replicated, or its copy was read after this statement
        self._resync(new, f"renamed from {old}")

    def _truncate(self, table: TableId) -> None:
        st = self._live(table)
        if st is None:
            if self.r.wanted(table):
                self._resync(table, "truncated table not yet replicated")
        elif st.state is TableState.SYNCED or (
            st.state is TableState.RESYNC_INITIATED and st.snapshot_done
        ):
            # Every change after this point comes through the stream: emptying the table here
            # is right even for a copy read later than the TRUNCATE.
            self.r.dest.truncate_table(table)
        elif st.state is TableState.RESYNC_INITIATED:
            self._resync(table, "truncated during its copy")
        # ResyncRequired: the copy will be taken later. Failed: stays failed.

    def _alter(self, a: d.AlterTable) -> None:
        table = a.table
        st = self._live(table)
        if st is None:
            if self.r.wanted(table):
                self._resync(table, "altered table not yet replicated")
        elif st.state is TableState.FAILED:
            # The change may have fixed what failed it (a primary key added, a column dropped).
            self._resync(table, "altered after failing; retrying")
        elif st.state is not TableState.RESYNC_REQUIRED:
            plan = self._plan(a, st)
            if isinstance(plan, str):
                self._resync(table, plan)
            elif plan is not None:
                self._alter_in_place(table, *plan)
        if a.rename_to is not None and a.rename_to != table:
            self._rename(table, a.rename_to)

    def _plan(
        self, a: d.AlterTable, st: TableStatus
    ) -> str | tuple[list[Step], TableSchema] | None:
        """The in-place steps for an ALTER TABLE and the schema after them; a reason to resync
        instead; or None when nothing changes in the warehouse (indexes, options)."""
        ops = [
            op
            for op in a.ops
            if not (isinstance(op, d.OtherAlter) and not op.changes_rows and not op.changes_shape)
        ]
        if not ops:
            return None
        if st.state is not TableState.SYNCED:
            return "schema changed while the table was being copied"
        schema = self.book.schemas.get(a.table)
        if schema is None:
            return "no replicated schema to change"
        cols = list(schema.columns)
        key = list(schema.primary_key)
        steps: list[Step] = []
        # MySQL applies drops and renames to the existing columns, then places the added
        # columns in order (AFTER may name a column renamed or added by the same statement).
        for op in ops:
            if isinstance(op, d.DropColumn):
                i = _find(cols, op.name)
                if i is None:
                    if op.if_exists:
                        continue
                    return f"dropped column {op.name!r} is not in the replicated table"
                if cols[i].name in key:
                    return f"key column {op.name!r} dropped"
                steps.append(("drop", cols[i].name))
                del cols[i]
            elif isinstance(op, d.RenameColumn):
                i = _find(cols, op.old)
                if i is None:
                    return f"renamed column {op.old!r} is not in the replicated table"
                if _find(cols, op.new) not in (None, i):
                    return f"column {op.new!r} already exists in the replicated table"
                old = cols[i]
                steps.append(("rename", old.name, op.new))
                cols[i] = ColumnSchema(
                    op.new, old.type, old.nullable, old.source_type, old.unsupported_reason
                )
                key = [op.new if k == old.name else k for k in key]
            elif isinstance(op, d.ModifyColumn):
                return f"column {op.name!r} modified"
            elif isinstance(op, d.OtherAlter):
                what = "rows" if op.changes_rows else "key or column types"
                return f"{what} changed by ALTER TABLE ... {op.text[:60]}"
        for op in ops:
            if not isinstance(op, d.AddColumn):
                continue
            if op.has_default or op.not_null:
                return f"column {op.name!r} added with values for existing rows"
            if op.column is None:
                return f"column {op.name!r} added with a type known only from the source"
            if _find(cols, op.name) is not None:
                if op.if_not_exists:
                    continue
                return f"added column {op.name!r} is already in the replicated table"
            if op.first:
                at = 0
            elif op.after is not None:
                j = _find(cols, op.after)
                if j is None:
                    return f"column {op.after!r} (ADD ... AFTER) is not in the replicated table"
                at = j + 1
            else:
                at = len(cols)
            if at != len(cols) and not self.r.dest.capabilities.positional_add_column:
                return f"column {op.name!r} added at a position the destination cannot place"
            col = ColumnSchema(op.name, op.column.type, True, op.column.source_type)
            steps.append(("add", col, at))
            cols.insert(at, col)
        after = TableSchema(a.table, tuple(cols), tuple(key))
        return self.book.name_too_long(after) or (steps, after)

    def _alter_in_place(self, table: TableId, steps: list[Step], after: TableSchema) -> None:
        dest = self.r.dest
        for step in steps:
            if step[0] == "drop":
                dest.drop_column(table, str(step[1]))
            elif step[0] == "rename":
                dest.rename_column(table, str(step[1]), str(step[2]))
            else:
                col, at = step[1], step[2]
                assert isinstance(col, ColumnSchema) and isinstance(at, int)
                dest.add_column(table, col, position=at)
        self.book.schemas[table] = after
        dest.record_schema(after)


def _find(cols: list[ColumnSchema], name: str) -> int | None:
    """Index of the column called `name` (MySQL column names ignore case)."""
    low = name.lower()
    return next((i for i, c in enumerate(cols) if c.name.lower() == low), None)


def _named(a: d.DdlAction, book: TableBook) -> list[TableId]:
    """The tables an action changes (the ones to resync if applying it fails)."""
    if isinstance(a, d.RenameTable):
        return [a.old, a.new]
    if isinstance(a, d.CreateTable):
        return [a.table]
    if isinstance(a, d.DropDatabase):
        return [s.id for s in book.tracked() if s.id.schema == a.schema]
    if isinstance(a, d.AlterTable):
        return [a.table] + ([a.rename_to] if a.rename_to else [])
    if isinstance(a, d.DropTable | d.TruncateTable):
        return [a.table]
    if isinstance(a, d.Unknown):
        return list(a.tables)
    return []
