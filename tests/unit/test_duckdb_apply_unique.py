"""The window-free insert for batches whose keys are all distinct (apply.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.apply import insert_last_sql, insert_unique_sql, keys_unique
from zeroetl.model import ColumnSchema, Kind, LogicalType, Position, TableId, TableSchema

ONE = TableSchema(
    TableId("db", "one"),
    (ColumnSchema("k", LogicalType(Kind.INT64)), ColumnSchema("v", LogicalType(Kind.STRING))),
    ("k",),
)
TWO = TableSchema(
    TableId("db", "two"),
    (
        ColumnSchema("k1", LogicalType(Kind.INT32)),
        ColumnSchema("k2", LogicalType(Kind.STRING)),
        ColumnSchema("v", LogicalType(Kind.STRING)),
    ),
    ("k1", "k2"),
)


def changes(schema: TableSchema, rows: list[tuple], dels: list[bool]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in schema.names]
    fields = zip(schema.names, cols, schema.arrow_schema(), strict=True)
    data = {n: pa.array(c, f.type) for n, c, f in fields}
    return pa.table(
        {"__seq": pa.array(range(len(rows)), pa.int64()), "__del": pa.array(dels), **data}
    )


def test_keys_unique_single_and_composite() -> None:
    assert keys_unique(ONE, changes(ONE, [(1, "a"), (2, "b")], [False, True]))
    assert not keys_unique(ONE, changes(ONE, [(1, "a"), (1, "b")], [True, False]))
    assert keys_unique(TWO, changes(TWO, [(1, "a", "x"), (1, "b", "y")], [False, False]))
    assert not keys_unique(TWO, changes(TWO, [(1, "a", "x"), (1, "a", "y")], [False, False]))


def test_unique_batch_skips_the_window_and_applies_deletes(tmp_path: Path) -> None:
    assert "row_number" in insert_last_sql(ONE, "c", "b")
    assert "row_number" not in insert_unique_sql(ONE, "c", "b")
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i1")
    dest.create_table(ONE)
    dest.apply_changes(ONE, changes(ONE, [(1, "a"), (2, "b"), (3, "c")], [False] * 3))
    # unique keys: 2 deleted, 3 replaced, 4 new
    dest.apply_changes(ONE, changes(ONE, [(2, None), (3, "C"), (4, "d")], [True, False, False]))
    # duplicate keys: the last entry per key wins
    dest.apply_changes(ONE, changes(ONE, [(4, "x"), (4, None), (1, "z")], [False, True, False]))
    cur = dest.reader()
    assert cur.execute("SELECT k, v FROM db.one ORDER BY k").fetchall() == [(1, "z"), (3, "C")]
    cur.close()
    dest.close()


def test_checkpoint_row_updated_in_place(tmp_path: Path) -> None:
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i1")
    for offset in (4, 99, 120):
        dest.save_checkpoint(Position("b.000001", offset))
    assert dest.load_checkpoint() == Position("b.000001", 120)
    cur = dest.reader()
    assert cur.execute("SELECT count(*) FROM _zeroetl.checkpoint").fetchone() == (1,)
    cur.close()
    dest.close()


def test_statements_read_columns_by_name_whatever_their_order(tmp_path: Path) -> None:
    """The INSERTs read the slice by position (`SELECT *`): a slice whose columns come in
    another order, or with a column the table lacks, still lands column by column."""
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i1")
    dest.create_table(TWO)

    def shuffled(rows: list[tuple], dels: list[bool]) -> pa.Table:
        data = changes(TWO, rows, dels)
        extra = pa.array(["junk"] * data.num_rows)
        return data.select(["v", "__del", "k2", "__seq", "k1"]).append_column("zz", extra)

    dest.insert_new(TWO, shuffled([(1, "a", "x"), (2, "b", "y")], [False, False]))
    dest.apply_changes(TWO, shuffled([(2, "b", "Y"), (3, "c", "z")], [False, False]))  # unique
    dest.apply_changes(TWO, shuffled([(3, "c", "q"), (3, "c", "Z")], [False, False]))  # window
    dest.write_chunk(TWO, changes(TWO, [(4, "d", "w")], [False]).select(["v", "k1", "k2"]))
    cur = dest.reader()
    rows = cur.execute("SELECT k1, k2, v FROM db.two ORDER BY k1").fetchall()
    assert rows == [(1, "a", "x"), (2, "b", "Y"), (3, "c", "Z"), (4, "d", "w")]
    cur.close()
    dest.close()
