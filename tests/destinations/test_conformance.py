"""What every destination must do (destinations/base.py), checked the same way for each one
listed in conftest.py: apply semantics, every type of the product's type mapping, DDL,
checkpoint atomicity and metadata round trips. A new destination passes this file first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from tests.destinations.conftest import Harness

from zeroetl.destinations import base
from zeroetl.errors import ConfigError
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

L = LogicalType
T = TableId("shop", "orders")
ORDERS = TableSchema(
    T, (ColumnSchema("id", L(Kind.INT32)), ColumnSchema("v", L(Kind.STRING))), ("id",)
)


def changes(schema: TableSchema, entries: list[tuple[bool, dict[str, Any]]]) -> pa.Table:
    """A change table: (deleted?, row) in source order."""
    arrow = (
        schema.arrow_schema().append(pa.field(SEQ, pa.int64())).append(pa.field(DEL, pa.bool_()))
    )
    rows = []
    for i, (deleted, row) in enumerate(entries):
        full = {n: row.get(n) for n in schema.names}
        rows.append({**full, SEQ: i, DEL: deleted})
    return pa.Table.from_pylist(rows, schema=arrow)


def chunk(schema: TableSchema, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema.arrow_schema())


def seeded(h: Harness) -> None:
    h.dest.create_table(ORDERS)
    h.dest.write_chunk(
        ORDERS, chunk(ORDERS, [{"id": i, "v": f"r{i}"} for i in range(1, 4)]), replace=False
    )


# -- apply semantics ---------------------------------------------------------------------------


def test_last_image_per_key_wins_and_deletes_remove(h: Harness) -> None:
    seeded(h)
    batch = changes(
        ORDERS,
        [
            (False, {"id": 1, "v": "first"}),
            (False, {"id": 1, "v": "last"}),
            (True, {"id": 2}),
            (False, {"id": 9, "v": "new"}),
            (True, {"id": 9}),  # inserted then deleted within the batch
            (False, {"id": 10, "v": "kept"}),
        ],
    )
    h.dest.apply_changes(ORDERS, batch)
    assert h.read(T, ("id",)) == [
        {"id": 1, "v": "last"},
        {"id": 3, "v": "r3"},
        {"id": 10, "v": "kept"},
    ]


def test_key_changes_and_chains(h: Harness) -> None:
    seeded(h)
    # 1 -> 5, then 2 -> 1 (the old key reused), as a source writes a key change: delete, image
    batch = changes(
        ORDERS,
        [
            (True, {"id": 1}),
            (False, {"id": 5, "v": "was 1"}),
            (True, {"id": 2}),
            (False, {"id": 1, "v": "was 2"}),
        ],
    )
    h.dest.apply_changes(ORDERS, batch)
    assert h.read(T, ("id",)) == [
        {"id": 1, "v": "was 2"},
        {"id": 3, "v": "r3"},
        {"id": 5, "v": "was 1"},
    ]


def test_replaying_a_batch_or_a_chunk_changes_nothing(h: Harness) -> None:
    seeded(h)
    batch = changes(
        ORDERS, [(False, {"id": 1, "v": "x"}), (True, {"id": 2}), (False, {"id": 7, "v": "y"})]
    )
    h.dest.apply_changes(ORDERS, batch)
    once = h.read(T, ("id",))
    h.dest.apply_changes(ORDERS, batch)
    assert h.read(T, ("id",)) == once
    again = chunk(ORDERS, [{"id": 3, "v": "r3"}, {"id": 7, "v": "y"}])
    h.dest.write_chunk(ORDERS, again)  # replace=True: a replayed chunk
    assert h.read(T, ("id",)) == once


# -- every type of the product's mapping -----------------------------------------------------

TYPES: list[tuple[str, LogicalType, list[Any]]] = [
    ("i8", L(Kind.INT8), [-128, 127]),
    ("i16", L(Kind.INT16), [-32768, 32767]),
    ("i32", L(Kind.INT32), [-(2**31), 2**31 - 1]),
    ("i64", L(Kind.INT64), [-(2**63), 2**63 - 1]),
    ("u8", L(Kind.UINT8), [0, 255]),
    ("u16", L(Kind.UINT16), [0, 65535]),
    ("u32", L(Kind.UINT32), [0, 2**32 - 1]),
    ("u64", L(Kind.UINT64), [0, 2**64 - 1]),  # BIT(n) too
    ("f32", L(Kind.FLOAT32), [1.5, -(2.0**127)]),
    ("f64", L(Kind.FLOAT64), [1.7976931348623157e308, -5e-324]),
    (
        "d38",
        L(Kind.DECIMAL, 38, 10),
        [Decimal("9" * 28 + "." + "9" * 10), Decimal("-0.0000000001")],
    ),
    ("d5", L(Kind.DECIMAL, 5, 2), [Decimal("999.99"), Decimal("-0.01")]),
    ("dtext", L(Kind.DECIMAL_TEXT), ["9" * 35 + "." + "9" * 30, "-0.5"]),
    ("s", L(Kind.STRING), ["", "üñí 表 😀"]),  # CHAR/VARCHAR/TEXT, ENUM, SET
    ("b", L(Kind.BINARY), [b"\x00\xff\x80", bytes(range(256))]),  # BINARY/BLOB, GEOMETRY (WKB)
    ("dt", L(Kind.DATE), [date(1000, 1, 1), date(9999, 12, 31)]),
    ("ts", L(Kind.TIMESTAMP), [datetime(1000, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]),
    (
        "tz",
        L(Kind.TIMESTAMPTZ),
        [
            datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        ],
    ),
    ("tm", L(Kind.TIME), [time(0, 0), time(23, 59, 59, 999999)]),
    ("yr", L(Kind.INT16), [1901, 2155]),  # YEAR
    ("js", L(Kind.JSON), ['{"a": [1, 2.5, null], "b": "ü"}', "[]"]),
]
ALL = TableSchema(
    TableId("types", "all"),
    (ColumnSchema("k", L(Kind.INT32)), *(ColumnSchema(n, t) for n, t, _ in TYPES)),
    ("k",),
)


def typed_rows() -> list[dict[str, Any]]:
    rows = [{"k": i, **{n: vals[i] for n, _, vals in TYPES}} for i in range(2)]
    return [*rows, {"k": 2, **{n: None for n, _, _ in TYPES}}]  # NULL in every column


def normal(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON compared as parsed (a destination may store it normalised)."""
    import json

    return [
        {k: (json.loads(v) if k == "js" and v is not None else v) for k, v in r.items()}
        for r in rows
    ]


@pytest.mark.parametrize("path", ["chunk", "apply"])
def test_every_type_round_trips(h: Harness, path: str) -> None:
    h.dest.create_table(ALL)
    if path == "chunk":
        h.dest.write_chunk(ALL, chunk(ALL, typed_rows()), replace=False)
    else:
        h.dest.apply_changes(ALL, changes(ALL, [(False, r) for r in typed_rows()]))
    assert normal(h.read(ALL.id, ("k",))) == normal(typed_rows())


# -- DDL -------------------------------------------------------------------------------------


def test_add_drop_rename_column(h: Harness) -> None:
    seeded(h)
    n = ColumnSchema("n", L(Kind.INT64))
    h.dest.add_column(T, n)
    if h.dest.capabilities.positional_add_column:
        h.dest.add_column(T, ColumnSchema("first", L(Kind.STRING)), position=0)
    h.dest.rename_column(T, "v", "w")
    h.dest.drop_column(T, "n")
    recorded = h.dest.recorded_schemas()[T]
    expected = (["first"] if h.dest.capabilities.positional_add_column else []) + ["id", "w"]
    assert list(recorded.names) == expected
    rows = h.read(T, ("id",))
    assert list(rows[0]) == expected
    assert [r["w"] for r in rows] == ["r1", "r2", "r3"]
    # Changes written with the new shape land in the right columns.
    h.dest.apply_changes(recorded, changes(recorded, [(False, {"id": 4, "w": "four"})]))
    assert h.read(T, ("id",))[-1]["w"] == "four"


def test_rename_table_within_and_across_schemas_and_truncate(h: Harness) -> None:
    seeded(h)
    moved = TableId("shop", "orders_v2")
    h.dest.rename_table(T, TableSchema(moved, ORDERS.columns, ORDERS.primary_key))
    elsewhere = TableId("archive", "orders")
    h.dest.rename_table(moved, TableSchema(elsewhere, ORDERS.columns, ORDERS.primary_key))
    assert set(h.dest.recorded_schemas()) == {elsewhere}
    assert [r["id"] for r in h.read(elsewhere, ("id",))] == [1, 2, 3]
    h.dest.truncate_table(elsewhere)
    assert h.read(elsewhere, ("id",)) == []
    h.dest.drop_table(elsewhere)
    assert h.dest.recorded_schemas() == {}


# -- checkpoint atomicity ----------------------------------------------------------------------


def test_data_and_checkpoint_commit_together_or_not_at_all(h: Harness) -> None:
    seeded(h)
    p1, p2 = Position("bin.000001", 100, "0-1-5"), Position("bin.000001", 200, "0-1-6")
    h.dest.save_checkpoint(p1)
    h.dest.begin()
    assert h.dest.in_transaction
    h.dest.apply_changes(ORDERS, changes(ORDERS, [(False, {"id": 1, "v": "rolled back"})]))
    h.dest.save_checkpoint(p2)
    h.dest.rollback()
    assert not h.dest.in_transaction
    assert h.dest.load_checkpoint() == p1
    assert h.read(T, ("id",))[0]["v"] == "r1"
    # A crash between the writes and the commit: the next process finds the old pair.
    h.dest.begin()
    h.dest.apply_changes(ORDERS, changes(ORDERS, [(False, {"id": 1, "v": "lost"})]))
    h.dest.save_checkpoint(p2)
    dest = h.reopen()
    assert dest.load_checkpoint() == p1
    assert h.read(T, ("id",))[0]["v"] == "r1"
    dest.begin()
    dest.apply_changes(ORDERS, changes(ORDERS, [(False, {"id": 1, "v": "kept"})]))
    dest.save_checkpoint(p2)
    dest.commit()
    dest = h.reopen()
    assert dest.load_checkpoint() == p2
    assert h.read(T, ("id",))[0]["v"] == "kept"


def test_a_ddl_inside_a_rolled_back_transaction(h: Harness) -> None:
    """Transactional DDL rolls back with the data; without it the capability must say so."""
    seeded(h)
    h.dest.begin()
    h.dest.add_column(T, ColumnSchema("n", L(Kind.INT32)))
    h.dest.rollback()
    names = [c for c in h.read(T, ("id",))[0]]
    if h.dest.capabilities.transactional_ddl:
        assert names == ["id", "v"]
        assert list(h.dest.recorded_schemas()[T].names) == ["id", "v"]


# -- metadata round trips ----------------------------------------------------------------------


def test_metadata_round_trips(h: Harness) -> None:
    seeded(h)
    d = h.dest
    hw = Position("bin.000002", 4, "0-1-9")
    st = TableStatus(
        T, TableState.RESYNC_INITIATED, "copying", False, "[3]", hw, 3, {"zero_dates": "2"}
    )
    d.save_table_status(st)
    d.record_state_change(T, TableState.RESYNC_INITIATED, "copying", hw)
    d.record_activity(
        checkpoint=hw, checkpoint_type="cdc", checkpoint_bytes=10, commit_ts=datetime.now(UTC),
        modified_tables=1, start=datetime.now(UTC), end=datetime.now(UTC),
    )  # fmt: skip
    d.record_table_activity(
        checkpoint=hw, table=T, transaction_id="0-1-9", inserted=1, updated=2, deleted=3,
        bytes_ingested=40,
    )  # fmt: skip
    d.kv_set("k", "v1")
    d.kv_set("k", "v2")
    got = d.load_table_statuses()[T]
    assert (got.state, got.reason, got.snapshot_done, got.snapshot_cursor) == (
        TableState.RESYNC_INITIATED, "copying", False, "[3]",
    )  # fmt: skip
    assert (got.snapshot_hw, got.rows_copied, got.extra) == (hw, 3, {"zero_dates": "2"})
    assert d.kv_get("k") == "v2" and d.kv_get("missing") is None
    assert d.recorded_schemas()[T] == ORDERS
    stats = {(s["schema"], s["table"]): s for s in d.table_stats()}
    assert stats[("shop", "orders")]["rows"] == 3


def test_capabilities_are_declared(h: Harness) -> None:
    caps = h.dest.capabilities
    assert isinstance(caps, base.Capabilities)
    assert caps.atomic_checkpoint or caps.idempotent_replay
    assert isinstance(h.dest, base.Destination)


def test_destinations_are_chosen_by_url_scheme(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = base.open_url(f"duckdb://{tmp_path}/x.duckdb", "i")
    try:
        assert type(d).__name__ == "DuckDBDestination" and d.kv_get("nothing") is None
    finally:
        d.close()
    with pytest.raises(ConfigError, match="unknown destination"):
        base.open_url("nosuch:///x", "i")
    with pytest.raises(ConfigError, match="not a destination URL"):
        base.open_url("/just/a/path", "i")
