"""ClickHouse-specific behaviour on embedded chDB, beyond the conformance suite: replacing a
table, a crash in the middle of a copy, what FINAL hides, versions written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from zeroetl.destinations import base
from zeroetl.errors import DestinationError
from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)

T = TableId("shop", "t")
S = TableSchema(
    T,
    (
        ColumnSchema("id", LogicalType(Kind.INT32), False),
        ColumnSchema("v", LogicalType(Kind.STRING)),
    ),
    ("id",),
)


@pytest.fixture
def dest(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = base.open_url(f"chdb://{tmp_path / 'ch'}", "i1")
    yield d
    d.close()


def rows(n: int, v: str = "x") -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "v": v} for i in range(n)], schema=S.arrow_schema())


def test_create_table_again_starts_empty(dest) -> None:  # type: ignore[no-untyped-def]
    dest.create_table(S)
    dest.write_chunk(S, rows(5), replace=False)
    dest.create_table(S)
    assert dest.read_table(T).num_rows == 0


def test_a_crash_while_a_table_is_copied_again_asks_for_a_new_copy(dest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dest.create_table(S)
    dest.write_chunk(S, rows(5), replace=False)
    dest.save_table_status(TableStatus(T, TableState.SYNCED, snapshot_done=True))
    dest.begin()
    dest.create_table(S)  # a resync starts: the table is emptied at once
    dest.save_table_status(TableStatus(T, TableState.RESYNC_INITIATED))
    dest._t.close()  # the process dies before the commit
    again = base.open_url(f"chdb://{tmp_path / 'ch'}", "i1")
    try:
        st = again.load_table_statuses()[T]
        assert st.state is TableState.RESYNC_REQUIRED and not st.snapshot_done
    finally:
        again.close()


def test_rows_carry_the_commit_version_and_deletes_are_tombstones(dest) -> None:  # type: ignore[no-untyped-def]
    dest.create_table(S)
    p = Position("bin.000003", 1234)
    dest.begin()
    dest.write_chunk(S, rows(3))
    batch = rows(1, "new").append_column("__seq", pa.array([0], pa.int64()))
    batch = batch.append_column("__del", pa.array([True]))
    dest.apply_changes(S, batch)
    dest.save_checkpoint(p)
    dest.commit()
    raw = dest._t.query("SELECT id, _version, _is_deleted FROM shop.t ORDER BY id").to_pylist()
    assert raw == [
        {"id": 0, "_version": (3 << 32) | 1234, "_is_deleted": 1},
        {"id": 1, "_version": (3 << 32) | 1234, "_is_deleted": 0},
        {"id": 2, "_version": (3 << 32) | 1234, "_is_deleted": 0},
    ]
    assert [r["id"] for r in dest.read_table(T).to_pylist()] == [1, 2]  # FINAL hides id 0


def test_a_value_clickhouse_cannot_take_fails_when_applied_not_at_commit(dest) -> None:  # type: ignore[no-untyped-def]
    wide = LogicalType(Kind.DECIMAL_TEXT, 65, 30)
    s = TableSchema(
        TableId("shop", "w"),
        (ColumnSchema("id", LogicalType(Kind.INT32), False), ColumnSchema("d", wide)),
        ("id",),
    )
    dest.create_table(s)
    bad = pa.table({"id": pa.array([1], pa.int32()), "d": ["not a number"],
                    "__seq": pa.array([0], pa.int64()), "__del": [False]})  # fmt: skip
    dest.begin()
    with pytest.raises(DestinationError, match=r"table shop\.w"):
        dest.apply_changes(s, bad)
    dest.rollback()
    good = pa.table({"id": pa.array([1], pa.int32()), "d": ["-" + "9" * 35 + "." + "9" * 30]})
    dest.write_chunk(s, good)
    assert dest.read_table(s.id).to_pylist() == [{"id": 1, "d": "-" + "9" * 35 + "." + "9" * 30}]
    stats = {(x["schema"], x["table"]): x for x in dest.table_stats()}
    assert stats[("shop", "w")]["rows"] == 1 and stats[("shop", "w")]["bytes"] > 0


def test_equal_versions_the_last_written_wins(dest) -> None:  # type: ignore[no-untyped-def]
    """A snapshot chunk takes the last committed checkpoint's version, which the changes of
    that commit also have: the chunk, read later, must win (ReplacingMergeTree keeps the last
    inserted of equal versions, also across parts)."""
    dest.create_table(S)
    dest.begin()
    batch = rows(2, "from the binlog").append_column("__seq", pa.array([0, 1], pa.int64()))
    dest.apply_changes(S, batch.append_column("__del", pa.array([False, False])))
    dest.save_checkpoint(Position("bin.000001", 500))
    dest.commit()
    dest.begin()
    dest.write_chunk(S, rows(1, "copied later"))
    dest.commit()
    assert [r["v"] for r in dest.read_table(T).to_pylist()] == ["copied later", "from the binlog"]
    dest._t.command("OPTIMIZE TABLE shop.t FINAL")  # after a merge too
    assert [r["v"] for r in dest.read_table(T).to_pylist()] == ["copied later", "from the binlog"]
