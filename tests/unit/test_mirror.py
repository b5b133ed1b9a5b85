"""MirroredDestination (service/mirror.py): the engine's state from the primary only, monitoring
rows copied to the mirror, the mirror committed after the primary and never ahead of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from tests.memory_support import Crash, MemoryDestination

from zeroetl.destinations.base import Capabilities
from zeroetl.model import (
    DEL,
    SEQ,
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.service.mirror import STATS_KEY, MirroredDestination

CH = Capabilities(atomic_checkpoint=False, idempotent_replay=True, transactional_ddl=False)
T = TableId("shop", "orders")
SCHEMA = TableSchema(T, (ColumnSchema("id", LogicalType(Kind.INT32), False, "int"),), ("id",))


def _pair() -> tuple[MemoryDestination, MemoryDestination]:
    primary = MemoryDestination(CH)
    primary.state.checkpoint = Position("bin.000003", 400, "")
    primary.state.statuses[T] = TableStatus(T, TableState.SYNCED, "")
    primary.state.schemas[T] = SCHEMA
    primary.state.rows[T] = {(1,): (1,), (2,): (2,)}
    return primary, MemoryDestination()


def test_opening_copies_the_primarys_states_checkpoint_and_statistics() -> None:
    primary, mirror = _pair()
    mirror.state.checkpoint = Position("bin.000001", 4, "")  # behind: a crash before its commit
    dest = MirroredDestination(primary, mirror)
    assert mirror.state.checkpoint == primary.state.checkpoint
    assert mirror.state.statuses[T].state is TableState.SYNCED
    assert json.loads(mirror.state.kv[STATS_KEY]) == [
        {"schema": "shop", "table": "orders", "rows": 2, "bytes": 0}
    ]
    assert dest.capabilities is CH  # the engine plans with ClickHouse's facts


def test_the_engine_reads_the_primary_and_monitoring_goes_to_both() -> None:
    primary, mirror = _pair()
    dest = MirroredDestination(primary, mirror)
    mirror.state.checkpoint = Position("bin.000009", 4, "")
    mirror.state.kv["k"] = "mirror"
    assert dest.load_checkpoint() == Position("bin.000003", 400, "")
    assert dest.kv_get("k") is None
    assert dest.recorded_schemas() == {T: SCHEMA}

    dest.begin()
    dest.apply_changes(SCHEMA, pa.table({"id": [3], SEQ: [1], DEL: [False]}))
    dest.save_table_status(TableStatus(T, TableState.RESYNC_INITIATED, "refresh"))
    dest.record_state_change(T, TableState.RESYNC_INITIATED, "refresh", None)
    dest.save_checkpoint(Position("bin.000003", 900, ""))
    dest.commit()
    assert "apply_changes" in primary.calls and "apply_changes" not in mirror.calls
    assert T not in mirror.state.rows  # no data in the mirror
    for d in (primary, mirror):
        assert d.state.checkpoint == Position("bin.000003", 900, "")
        assert d.state.statuses[T].state is TableState.RESYNC_INITIATED
        assert d.state.state_changes == [(T, TableState.RESYNC_INITIATED, "refresh")]


def test_a_failed_primary_commit_leaves_the_mirror_as_it_was() -> None:
    primary, mirror = _pair()
    dest = MirroredDestination(primary, mirror)
    before = mirror.state.checkpoint
    primary.crash_at_commit = primary.commits + 1
    dest.begin()
    dest.save_checkpoint(Position("bin.000004", 4, ""))
    now = datetime.now(UTC)
    dest.record_activity(
        checkpoint=Position("bin.000004", 4, ""), checkpoint_type="cdc", checkpoint_bytes=1,
        commit_ts=None, modified_tables=1, start=now, end=now,
    )  # fmt: skip
    with pytest.raises(Crash):
        dest.commit()
    assert mirror.state.checkpoint == before and mirror.state.activity == []
    assert not mirror.in_transaction and not primary.in_transaction
