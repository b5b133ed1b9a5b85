"""An in-memory source and an in-memory destination that implement the protocols of
sources/base.py and destinations/base.py, for engine tests that run in milliseconds.

`MemorySource` is a scripted server: tables with rows, and a log of changes (rows, schema
changes, commits) that its stream replays from any position. `MemoryDestination` keeps tables,
checkpoint and metadata in dicts; a transaction is a copy of its state taken at `begin` and put
back by `rollback`, so data, checkpoint and metadata commit together (or not, on a crash).
Neither is a mock: they hold real state, and the engine's results are checked against it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from zeroetl.destinations.base import Capabilities
from zeroetl.errors import TableChanged
from zeroetl.model import (
    DEL,
    SEQ,
    ChangeBatch,
    ColumnSchema,
    CreateTable,
    Position,
    SchemaChange,
    TableChanges,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.sources.base import (
    Admit,
    CheckReport,
    Commit,
    Idle,
    SnapshotChunk,
    StreamEvent,
    TableChunk,
    TableError,
    serial_table_chunks,
)

Row = dict[str, Any]


def pos(n: int) -> Position:
    return Position("mem.000001", n)


@dataclass
class _Rows:
    table: TableId
    schema: TableSchema
    kind: str  # insert | update | delete
    before: Row | None
    after: Row | None


class MemorySource:
    """Tables as dicts of rows by key; every change is logged for the stream."""

    def __init__(self) -> None:
        self.schemas: dict[TableId, TableSchema] = {}
        self.rows: dict[TableId, dict[tuple[Any, ...], Row]] = {}
        self.log: list[_Rows | SchemaChange | Commit | TableError] = []
        self.checks = 0

    # -- scripting the source ----------------------------------------------------------------
    def create(
        self, schema: TableSchema, rows: list[Row] | None = None, *, logged: bool = False
    ) -> None:
        self.schemas[schema.id] = schema
        self.rows[schema.id] = {}
        for r in rows or []:
            self.rows[schema.id][self._key(schema, r)] = dict(r)
        if logged:
            self.ddl(SchemaChange(f"CREATE TABLE {schema.id}", (CreateTable(schema.id),)))

    def _key(self, schema: TableSchema, row: Row) -> tuple[Any, ...]:
        return tuple(row[k] for k in schema.primary_key)

    def insert(self, table: TableId, row: Row) -> None:
        schema = self.schemas[table]
        self.rows[table][self._key(schema, row)] = dict(row)
        self.log.append(_Rows(table, schema, "insert", None, dict(row)))

    def update(self, table: TableId, key: tuple[Any, ...], row: Row) -> None:
        schema = self.schemas[table]
        before = self.rows[table].pop(key)
        self.rows[table][self._key(schema, row)] = dict(row)
        self.log.append(_Rows(table, schema, "update", before, dict(row)))

    def delete(self, table: TableId, key: tuple[Any, ...]) -> None:
        before = self.rows[table].pop(key)
        self.log.append(_Rows(table, self.schemas[table], "delete", before, None))

    def ddl(
        self,
        change: SchemaChange,
        new_schema: TableSchema | None = None,
        renamed: dict[str, str] | None = None,
    ) -> None:
        """Log a schema change (its own transaction); `new_schema`: the table's shape after it
        (its rows are adapted: new columns NULL, dropped ones gone, `renamed` ones moved)."""
        if new_schema is not None:
            self.schemas[new_schema.id] = new_schema
            back = {new: old for old, new in (renamed or {}).items()}
            names = new_schema.names
            self.rows[new_schema.id] = {
                k: {n: r.get(back.get(n, n)) for n in names}
                for k, r in self.rows[new_schema.id].items()
            }
        self.log.append(change)
        self.commit()

    def commit(self) -> None:
        self.log.append(Commit(pos(len(self.log) + 1), 0.0))

    def unreadable(self, table: TableId, reason: str) -> None:
        """The stream can no longer read `table`'s changes (as a decoder failure would)."""
        self.log.append(TableError(table, reason))

    # -- the Source protocol -----------------------------------------------------------------
    def describe(self) -> str:
        return "memory://"

    def check(self) -> CheckReport:
        self.checks += 1
        return CheckReport("memory://", flavor="memory")

    def position(self) -> Position:
        return pos(len(self.log))

    def list_tables(self) -> list[TableId]:
        return list(self.schemas)

    def load_schemas(self, tables: list[TableId]) -> dict[TableId, TableSchema]:
        return {t: self.schemas[t] for t in tables if t in self.schemas}

    def row_estimates(self, tables: list[TableId]) -> dict[TableId, int]:
        return {t: len(self.rows.get(t, {})) for t in tables}

    def snapshot(self, chunk_rows: int) -> MemorySnapshot:
        return MemorySnapshot(self, chunk_rows)

    def stream(
        self,
        start: Position,
        *,
        replica_id: int,
        wanted: Callable[[TableId], bool],
        admit: Admit,
        heartbeat_s: float,
        batch_rows: int,
    ) -> MemoryStream:
        return MemoryStream(self, start.offset, wanted, admit, batch_rows)

    def close(self) -> None:
        pass


class MemorySnapshot:
    def __init__(self, source: MemorySource, chunk_rows: int) -> None:
        self.source = source
        self.chunk_rows = chunk_rows

    def begin_consistent(self) -> Position | None:
        return self.source.position()

    def end(self) -> None:
        pass

    def close(self) -> None:
        pass

    def table_chunks(
        self,
        items: list[tuple[TableSchema, str | None]],
        *,
        at: Position | None = None,
        readers: int = 1,
        processes: bool = False,
    ) -> Iterator[TableChunk]:
        return serial_table_chunks(self, items, at)

    def chunks(
        self,
        schema: TableSchema,
        cursor: str | None,
        *,
        at: Position | None = None,
        prefetch: bool = True,
    ) -> Iterator[SnapshotChunk]:
        src = self.source
        after = tuple(json.loads(cursor)) if cursor else None
        while True:
            now = src.schemas.get(schema.id)
            if now is None or not now.same_shape(schema):
                raise TableChanged(str(schema.id), "changed on the source during its copy")
            keys = sorted(k for k in src.rows[schema.id] if after is None or k > after)
            keys = keys[: self.chunk_rows]
            if not keys:
                return
            data = [src.rows[schema.id][k] for k in keys]
            rows = pa.Table.from_pylist(data, schema=schema.arrow_schema())
            after = keys[-1]
            yield SnapshotChunk(rows, json.dumps(list(after)), at or src.position())


class MemoryStream:
    def __init__(
        self,
        source: MemorySource,
        offset: int,
        wanted: Callable[[TableId], bool],
        admit: Admit,
        batch_rows: int,
    ) -> None:
        self.source = source
        self.at = offset
        self.wanted = wanted
        self.admit = admit
        self.batch_rows = batch_rows
        self.open: dict[TableId, list[_Rows]] = {}
        self.entries = 0
        self.closed = False

    def next(self, timeout: float) -> StreamEvent | None:
        log = self.source.log
        while self.at < len(log):
            item = log[self.at]
            self.at += 1
            if isinstance(item, _Rows):
                if not self.wanted(item.table) or not self.admit(item.table, item.schema, 1):
                    continue
                held = self.open.get(item.table)
                if held and not held[0].schema.same_shape(item.schema):
                    self.at -= 1  # seal first; this one comes next time, admitted again
                    return self.seal()
                self.open.setdefault(item.table, []).append(item)
                self.entries += 1
                if self.entries >= self.batch_rows:
                    return self.seal()
                continue
            if isinstance(item, TableError):
                self.discard(item.table)
            return item
        return Idle(self.source.position())

    def quiet(self) -> bool:
        return self.at >= len(self.source.log)

    def seal(self) -> ChangeBatch:
        tables: dict[TableId, TableChanges] = {}
        seq = 0
        for table, items in self.open.items():
            schema = items[0].schema
            out: list[Row] = []
            counts = {"insert": 0, "update": 0, "delete": 0}
            for it in items:
                counts[it.kind] += 1
                key = schema.primary_key
                if it.before is not None and (
                    it.after is None or any(it.before[k] != it.after[k] for k in key)
                ):
                    out.append({**it.before, SEQ: seq, DEL: True})
                    seq += 1
                if it.after is not None:
                    out.append({**it.after, SEQ: seq, DEL: False})
                    seq += 1
            arrow = schema.arrow_schema().append(pa.field(SEQ, pa.int64()))
            arrow = arrow.append(pa.field(DEL, pa.bool_()))
            rows = pa.Table.from_pylist(out, schema=arrow)
            tables[table] = TableChanges(
                schema, rows, counts["insert"], counts["update"], counts["delete"], 8 * len(out)
            )
        batch = ChangeBatch(tables, self.entries)
        self.open, self.entries = {}, 0
        return batch

    def discard(self, table: TableId) -> None:
        self.entries -= len(self.open.pop(table, []))

    def forget_failure(self, table: TableId) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@dataclass
class _State:
    schemas: dict[TableId, TableSchema] = field(default_factory=dict)
    rows: dict[TableId, dict[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=dict)
    checkpoint: Position | None = None
    statuses: dict[TableId, TableStatus] = field(default_factory=dict)
    state_changes: list[tuple[TableId, TableState, str]] = field(default_factory=list)
    activity: list[dict[str, Any]] = field(default_factory=list)
    table_activity: list[dict[str, Any]] = field(default_factory=list)
    kv: dict[str, str] = field(default_factory=dict)


class Crash(Exception):
    """The process died here (not a ZeroEtlError: nothing retries it)."""


class MemoryDestination:
    """A Destination in dicts. `calls` logs every write call by name, for order checks;
    `crash_at_commit`: the n-th commit (1-based) dies before it takes effect."""

    def __init__(self, capabilities: Capabilities | None = None) -> None:
        self.capabilities = capabilities or Capabilities(positional_add_column=True)
        self.state = _State()
        self._saved: _State | None = None
        self.calls: list[str] = []
        self.commits = 0
        self.crash_at_commit = 0

    # transactions
    @property
    def in_transaction(self) -> bool:
        return self._saved is not None

    def begin(self) -> None:
        assert self._saved is None, "a transaction is already open"
        self._saved = copy.deepcopy(self.state)
        self.calls.append("begin")

    def commit(self) -> None:
        assert self._saved is not None, "no transaction to commit"
        self.commits += 1
        if self.commits == self.crash_at_commit:
            self.rollback()
            raise Crash(f"crash at commit {self.commits}")
        self._saved = None
        self.calls.append("commit")

    def rollback(self) -> None:
        if self._saved is not None:
            self.state, self._saved = self._saved, None
            self.calls.append("rollback")

    def close(self) -> None:
        self.rollback()

    def checkpoint_if_idle(self) -> None:
        self.calls.append("idle")

    # schema
    def create_table(self, schema: TableSchema) -> None:
        self.calls.append("create_table")
        self.state.schemas[schema.id] = schema
        self.state.rows[schema.id] = {}

    def drop_table(self, table: TableId) -> None:
        self.calls.append("drop_table")
        self.state.schemas.pop(table, None)
        self.state.rows.pop(table, None)

    def rename_table(self, old: TableId, new: TableSchema) -> None:
        self.calls.append("rename_table")
        self.state.schemas.pop(old)
        self.state.schemas[new.id] = new
        self.state.rows[new.id] = self.state.rows.pop(old)

    def truncate_table(self, table: TableId) -> None:
        self.calls.append("truncate_table")
        self.state.rows[table] = {}

    def add_column(self, table: TableId, column: ColumnSchema, position: int | None = None) -> None:
        self.calls.append("add_column")
        s = self.state.schemas[table]
        at = len(s.columns) if position is None else position
        self.state.schemas[table] = replace(s, columns=(*s.columns[:at], column, *s.columns[at:]))
        rows = self.state.rows[table]
        for k, r in rows.items():
            rows[k] = (*r[:at], None, *r[at:])

    def drop_column(self, table: TableId, name: str) -> None:
        self.calls.append("drop_column")
        s = self.state.schemas[table]
        i = s.names.index(name)
        self.state.schemas[table] = replace(s, columns=s.columns[:i] + s.columns[i + 1 :])
        rows = self.state.rows[table]
        for k, r in rows.items():
            rows[k] = r[:i] + r[i + 1 :]

    def rename_column(self, table: TableId, old: str, new: str) -> None:
        self.calls.append("rename_column")
        s = self.state.schemas[table]
        cols = tuple(replace(c, name=new) if c.name == old else c for c in s.columns)
        key = tuple(new if k == old else k for k in s.primary_key)
        self.state.schemas[table] = TableSchema(table, cols, key)

    def record_schema(self, schema: TableSchema) -> None:
        self.state.schemas[schema.id] = schema

    def recorded_schemas(self) -> dict[TableId, TableSchema]:
        return dict(self.state.schemas)

    # data
    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        self.calls.append("apply_changes")
        rows = self.state.rows[schema.id]
        names = schema.names
        for r in sorted(changes.to_pylist(), key=lambda r: r[SEQ]):
            key = tuple(r[k] for k in schema.primary_key)
            if r[DEL]:
                rows.pop(key, None)
            else:
                rows[key] = tuple(r[n] for n in names)

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        self.calls.append("write_chunk")
        out = self.state.rows[schema.id]
        for r in rows.to_pylist():
            out[tuple(r[k] for k in schema.primary_key)] = tuple(r[n] for n in schema.names)

    # checkpoint
    def load_checkpoint(self) -> Position | None:
        return self.state.checkpoint

    def save_checkpoint(self, pos: Position) -> None:
        self.calls.append("save_checkpoint")
        self.state.checkpoint = pos

    # metadata
    def load_table_statuses(self) -> dict[TableId, TableStatus]:
        return copy.deepcopy(self.state.statuses)

    def save_table_status(self, status: TableStatus) -> None:
        self.state.statuses[status.id] = copy.deepcopy(status)

    def record_state_change(
        self, table: TableId, new_state: TableState, reason: str, checkpoint: Position | None
    ) -> None:
        self.state.state_changes.append((table, new_state, reason))

    def record_activity(self, **kw: Any) -> None:
        self.state.activity.append(kw)

    def record_table_activity(self, **kw: Any) -> None:
        self.state.table_activity.append(kw)

    def record_tables_activity(self, *, tables: Any, **kw: Any) -> None:
        for a in tables:
            self.record_table_activity(
                table=a.table, inserted=a.inserted, updated=a.updated, deleted=a.deleted,
                bytes_ingested=a.bytes_ingested, **kw,
            )  # fmt: skip

    def table_stats(self) -> list[dict[str, Any]]:
        return [
            {"schema": t.schema, "table": t.table, "rows": len(r), "bytes": 0}
            for t, r in self.state.rows.items()
        ]

    def kv_get(self, key: str) -> str | None:
        return self.state.kv.get(key)

    def kv_set(self, key: str, value: str) -> None:
        self.state.kv[key] = value

    # for the tests
    def table(self, table: TableId) -> dict[tuple[Any, ...], Row]:
        names = self.state.schemas[table].names
        return {k: dict(zip(names, r, strict=True)) for k, r in self.state.rows[table].items()}
