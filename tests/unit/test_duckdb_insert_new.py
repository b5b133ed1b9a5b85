"""Inserts of keys known to be new (apply.insert_new, base.NewKeyInserts) and the memory a
transaction that writes many tables may take (memory.TableAllowance)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from zeroetl.destinations.base import NewKeyInserts
from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.memory import TableAllowance
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema


def schema(name: str) -> TableSchema:
    return TableSchema(
        TableId("db", name),
        (ColumnSchema("k", LogicalType(Kind.INT64)), ColumnSchema("v", LogicalType(Kind.STRING))),
        ("k",),
    )


ONE = schema("one")


def changes(rows: list[tuple[int, str | None]], dels: list[bool]) -> pa.Table:
    return pa.table(
        {
            "__seq": pa.array(range(len(rows)), pa.int64()),
            "__del": pa.array(dels, pa.bool_()),
            "k": pa.array([r[0] for r in rows], pa.int64()),
            "v": pa.array([r[1] for r in rows], pa.string()),
        }
    )


def rows(dest: DuckDBDestination, table: str = "one") -> list[tuple]:
    cur = dest.reader()
    try:
        return cur.execute(f"SELECT k, v FROM db.{table} ORDER BY k").fetchall()
    finally:
        cur.close()


def test_new_keys_are_inserted_without_a_delete(tmp_path: Path) -> None:
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i1")
    assert isinstance(dest, NewKeyInserts)
    dest.create_table(ONE)
    dest.apply_changes(ONE, changes([(1, "a"), (2, "b")], [False, False]))
    dest.insert_new(ONE, changes([(3, "c"), (4, "d")], [False, False]))
    dest.insert_new(ONE, changes([], []))
    assert rows(dest) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    dest.close()


def test_a_slice_that_breaks_the_promise_is_applied_as_changes(tmp_path: Path) -> None:
    """A delete or a key twice is not a slice of new keys: the same result as apply_changes."""
    a = DuckDBDestination(tmp_path / "a.duckdb", "i1")
    b = DuckDBDestination(tmp_path / "b.duckdb", "i1")
    first = changes([(1, "a"), (2, "b"), (3, "c")], [False] * 3)
    slices = [
        changes([(2, None), (5, "e")], [True, False]),  # a delete
        changes([(5, "x"), (5, "y"), (6, "f")], [False, False, False]),  # key 5 twice
    ]
    for dest in (a, b):
        dest.create_table(ONE)
        dest.apply_changes(ONE, first)
    for s in slices:
        a.apply_changes(ONE, s)
        b.insert_new(ONE, s)
    assert rows(a) == rows(b) == [(1, "a"), (3, "c"), (5, "y"), (6, "f")]
    a.close()
    b.close()


def test_a_transaction_writing_a_thousand_tables_commits_under_the_default_limit(
    tmp_path: Path,
) -> None:
    """Each table written holds a block until COMMIT: 1,000 of them need more than 128 MiB
    (this failed to commit, and then ran under the checkpoint limit for good)."""
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i1")
    tables = [schema(f"t{i:04d}") for i in range(1000)]
    dest.begin()
    for s in tables:
        dest.create_table(s)
    dest.commit()
    for k in range(2):  # the second appends to tables that hold rows already
        dest.begin()
        for s in tables:
            dest.insert_new(s, changes([(k * 10 + i, "v") for i in range(10)], [False] * 10))
        dest.commit()
    assert not dest.memory.raised
    dest.checkpoint()  # committed blocks stay in memory until then; the limit goes back
    cur = dest.reader()
    limit = cur.execute("SELECT current_setting('memory_limit')").fetchone()
    total = cur.execute("SELECT count(*) FROM db.t0999").fetchone()
    cur.close()
    assert total == (20,)
    assert limit is not None and str(limit[0]).startswith("128.0 MiB"), limit
    assert dest._allowance.tables == TableAllowance.STEP
    dest.close()
