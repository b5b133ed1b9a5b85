"""The engine against an in-memory source and destination (tests/memory_support.py): snapshot,
CDC, schema changes, resync, crash and replay, and the capabilities it consults. No server,
no files: each test runs in milliseconds."""

from __future__ import annotations

from typing import Any

import pytest
from tests.memory_support import Crash, MemoryDestination, MemorySource

from zeroetl.destinations.base import Capabilities
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.errors import ConfigError
from zeroetl.model import (
    AddColumn,
    AlterTable,
    ColumnSchema,
    DropColumn,
    Kind,
    LogicalType,
    ModifyColumn,
    RenameColumn,
    RenameTable,
    SchemaChange,
    TableId,
    TableSchema,
    TableState,
    TruncateTable,
)

INT = LogicalType(Kind.INT32)
TEXT = LogicalType(Kind.STRING)
T = TableId("shop", "orders")


def schema(table: TableId = T, *cols: tuple[str, LogicalType]) -> TableSchema:
    cols = cols or (("id", INT), ("v", TEXT))
    return TableSchema(table, tuple(ColumnSchema(n, t) for n, t in cols), ("id",))


def run(src: MemorySource, dest: MemoryDestination, **settings: Any) -> Replicator:
    rep = Replicator(
        src,
        dest,
        integration_id="mem",
        data_filter=DataFilter.parse("include: shop.*"),
        settings=EngineSettings(
            **{"until_caught_up": True, "prereq_check_s": 0, "batch_ms": 0, **settings}
        ),
    )
    rep.run()
    return rep


def seeded(n: int = 5) -> MemorySource:
    src = MemorySource()
    src.create(schema(), [{"id": i, "v": f"r{i}"} for i in range(n)])
    return src


def assert_same(src: MemorySource, dest: MemoryDestination, table: TableId = T) -> None:
    assert dest.table(table) == src.rows[table]
    assert dest.state.schemas[table].names == src.schemas[table].names


def state(dest: MemoryDestination, table: TableId = T) -> TableState:
    return dest.state.statuses[table].state


def test_snapshot_then_cdc_with_key_changes_and_deletes() -> None:
    src, dest = seeded(7), MemoryDestination()
    run(src, dest, chunk_rows=3)
    assert_same(src, dest)
    assert state(dest) is TableState.SYNCED
    src.insert(T, {"id": 100, "v": "new"})
    src.update(T, (1,), {"id": 1, "v": "changed"})
    src.update(T, (2,), {"id": 200, "v": "moved"})  # key change: old key deleted
    src.update(T, (200,), {"id": 201, "v": "moved again"})  # chained in one batch
    src.delete(T, (3,))
    src.commit()
    run(src, dest)
    assert_same(src, dest)
    assert dest.state.checkpoint == src.position()
    acts = dest.state.table_activity
    assert sum(a["inserted"] for a in acts) == 1 and sum(a["deleted"] for a in acts) == 1


def test_a_batch_full_inside_one_source_transaction_commits_only_at_its_end() -> None:
    src, dest = seeded(0), MemoryDestination()
    run(src, dest)
    for i in range(10):
        src.insert(T, {"id": i, "v": "x"})
    src.commit()
    dest.calls.clear()
    run(src, dest, batch_rows=4)
    assert_same(src, dest)
    applies = [i for i, c in enumerate(dest.calls) if c == "apply_changes"]
    commits = [i for i, c in enumerate(dest.calls) if c == "commit"]
    assert len(applies) == 3  # 4 + 4 sealed by the stream, the last 2 by the commit
    assert len([c for c in commits if applies[0] < c < applies[-1]]) == 0


def test_schema_changes_in_place() -> None:
    src, dest = seeded(3), MemoryDestination()
    run(src, dest)
    wider = schema(T, ("id", INT), ("n", INT), ("v", TEXT))
    src.ddl(
        SchemaChange(
            "ALTER TABLE orders ADD n INT AFTER id",
            (AlterTable(T, (AddColumn("n", False, False, after="id", column=wider.columns[1]),)),),
        ),
        wider,
    )
    src.insert(T, {"id": 10, "n": 5, "v": "after"})
    src.commit()
    renamed = schema(T, ("id", INT), ("n", INT), ("w", TEXT))
    src.ddl(
        SchemaChange("rename col", (AlterTable(T, (RenameColumn("v", "w"),)),)), renamed, {"v": "w"}
    )
    narrower = schema(T, ("id", INT), ("w", TEXT))
    src.ddl(SchemaChange("drop col", (AlterTable(T, (DropColumn("n"),)),)), narrower)
    run(src, dest)
    assert_same(src, dest)
    assert state(dest) is TableState.SYNCED
    assert "write_chunk" not in dest.calls[dest.calls.index("add_column") :]  # no copy


def test_rename_and_truncate_table() -> None:
    src, dest = seeded(3), MemoryDestination()
    run(src, dest)
    new = TableId("shop", "orders2")
    src.schemas[new] = schema(new)
    src.rows[new] = src.rows.pop(T)
    del src.schemas[T]
    src.ddl(SchemaChange("RENAME TABLE orders TO orders2", (RenameTable(T, new),)))
    src.insert(new, {"id": 9, "v": "x"})
    src.commit()
    run(src, dest)
    assert_same(src, dest, new)
    assert state(dest, T) is TableState.DELETED and state(dest, new) is TableState.SYNCED
    src.rows[new].clear()
    src.ddl(SchemaChange("TRUNCATE orders2", (TruncateTable(new),)))
    run(src, dest)
    assert dest.table(new) == {}


def test_a_change_that_cannot_be_made_in_place_resyncs_the_table() -> None:
    src, dest = seeded(4), MemoryDestination()
    run(src, dest)
    retyped = schema(T, ("id", INT), ("v", INT))
    src.rows[T] = {k: {"id": k[0], "v": k[0] * 10} for k in src.rows[T]}
    src.ddl(
        SchemaChange("ALTER TABLE orders MODIFY v INT", (AlterTable(T, (ModifyColumn("v"),)),)),
        retyped,
    )
    src.update(T, (1,), {"id": 1, "v": 77})
    src.commit()
    run(src, dest)
    assert_same(src, dest)
    changes = [(s, r) for t, s, r in dest.state.state_changes if t == T]
    assert (TableState.RESYNC_REQUIRED, "column 'v' modified") in changes
    assert state(dest) is TableState.SYNCED


def test_refresh_recopies_and_new_tables_are_picked_up() -> None:
    src, dest = seeded(2), MemoryDestination()
    run(src, dest)
    dest.state.rows[T].clear()  # the warehouse lost rows behind the engine's back
    other = TableId("shop", "late")
    src.create(schema(other), [{"id": 1, "v": "a"}], logged=True)
    rep = Replicator(
        src,
        dest,
        integration_id="mem",
        data_filter=DataFilter.parse("include: shop.*"),
        settings=EngineSettings(until_caught_up=True, prereq_check_s=0, batch_ms=0),
    )
    rep.refresh([T])
    rep.run()
    assert_same(src, dest)
    assert_same(src, dest, other)


def test_a_crash_loses_nothing_committed_and_the_replay_converges() -> None:
    src, dest = seeded(3), MemoryDestination()
    run(src, dest)
    before = dest.state.checkpoint
    for i in range(3):
        src.insert(T, {"id": 50 + i, "v": "c"})
        src.commit()
    dest.crash_at_commit = dest.commits + 1
    with pytest.raises(Crash):
        run(src, dest, batch_rows=1)
    # Data and checkpoint were rolled back together: what is there matches the checkpoint.
    assert dest.state.checkpoint is not None and dest.state.checkpoint < src.position()
    assert 50 not in {k[0] for k in dest.state.rows[T]}
    dest.crash_at_commit = 0
    run(src, dest)
    assert_same(src, dest)
    # Replaying an already applied stretch (from an older checkpoint) changes nothing.
    assert before is not None and before < src.position()
    dest.state.checkpoint = before
    run(src, dest)
    assert_same(src, dest)
    assert dest.state.checkpoint == src.position()


def test_a_table_the_stream_cannot_read_fails_alone() -> None:
    src, dest = seeded(2), MemoryDestination()
    other = TableId("shop", "other")
    src.create(schema(other), [{"id": 1, "v": "a"}])
    run(src, dest)
    src.insert(T, {"id": 50, "v": "gathered, then moot"})
    src.unreadable(T, "cannot decode row event")
    src.insert(other, {"id": 2, "v": "b"})
    src.commit()
    run(src, dest)
    assert state(dest) is TableState.FAILED
    assert dest.state.statuses[T].reason == "cannot decode row event"
    assert 50 not in {k[0] for k in dest.state.rows[T]}
    assert_same(src, dest, other)


def test_tables_outside_the_filter_are_never_read() -> None:
    src, dest = seeded(2), MemoryDestination()
    hidden = TableId("private", "secrets")
    src.create(schema(hidden), [{"id": 1, "v": "x"}])
    src.insert(hidden, {"id": 2, "v": "y"})
    src.commit()
    run(src, dest)
    assert hidden not in dest.state.schemas and hidden not in dest.state.statuses


# -- capabilities: each one changes what the engine does -----------------------------------------


def _add_first(src: MemorySource) -> None:
    wider = schema(T, ("n", INT), ("id", INT), ("v", TEXT))
    op = AddColumn("n", False, False, first=True, column=wider.columns[0])
    src.ddl(SchemaChange("ALTER TABLE orders ADD n INT FIRST", (AlterTable(T, (op,)),)), wider)


@pytest.mark.parametrize("positional", [True, False])
def test_positional_add_column_capability(positional: bool) -> None:
    src = seeded(3)
    dest = MemoryDestination(Capabilities(positional_add_column=positional))
    run(src, dest)
    _add_first(src)
    run(src, dest)
    assert_same(src, dest)
    resynced = [r for t, s, r in dest.state.state_changes if s is TableState.RESYNC_REQUIRED]
    if positional:
        assert resynced == [] and "add_column" in dest.calls
    else:
        assert resynced == ["column 'n' added at a position the destination cannot place"]
        assert "add_column" not in dest.calls


@pytest.mark.parametrize("transactional", [True, False])
def test_transactional_ddl_capability(transactional: bool) -> None:
    src = seeded(3)
    dest = MemoryDestination(
        Capabilities(transactional_ddl=transactional, positional_add_column=True)
    )
    run(src, dest)
    src.insert(T, {"id": 10, "v": "before the DDL"})
    src.commit()
    wider = schema(T, ("id", INT), ("v", TEXT), ("n", INT))
    src.ddl(
        SchemaChange(
            "add n", (AlterTable(T, (AddColumn("n", False, False, column=wider.columns[2]),)),)
        ),
        wider,
    )
    dest.calls.clear()
    run(src, dest, batch_rows=1000, batch_ms=60_000)
    assert_same(src, dest)
    calls = dest.calls
    between = calls[calls.index("apply_changes") : calls.index("add_column")]
    # Without transactional DDL the rows before the DDL are committed before it.
    assert ("commit" in between) is (not transactional)


def test_max_identifier_length_capability() -> None:
    long = TableId("shop", "a_table_name_of_thirty_chars__")
    src = seeded(1)
    src.create(schema(long), [{"id": 1, "v": "x"}])
    short = MemoryDestination(Capabilities(max_identifier_length=20))
    run(src, short)
    assert state(short, long) is TableState.FAILED
    assert "longer than the destination's limit of 20" in short.state.statuses[long].reason
    assert state(short) is TableState.SYNCED  # the others flow
    unlimited = MemoryDestination(Capabilities(max_identifier_length=0))
    run(src, unlimited)
    assert state(unlimited, long) is TableState.SYNCED


def test_a_destination_that_can_neither_commit_atomically_nor_replay_is_refused() -> None:
    for caps, ok in (
        (Capabilities(atomic_checkpoint=False, idempotent_replay=False), False),
        (Capabilities(atomic_checkpoint=False, idempotent_replay=True), True),
        (Capabilities(atomic_checkpoint=True, idempotent_replay=False), True),
    ):
        if ok:
            run(seeded(1), MemoryDestination(caps))
        else:
            with pytest.raises(ConfigError, match="neither commit"):
                run(seeded(1), MemoryDestination(caps))
