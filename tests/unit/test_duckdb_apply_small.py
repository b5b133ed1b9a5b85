"""Small slices delete their keys by constant lists (apply_small.py): same rows as the join."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.apply_small import MAX_LITERAL_KEYS, literal_delete_sql
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema


def schema(name: str, *keys: tuple[str, Kind]) -> TableSchema:
    cols = [ColumnSchema(k, LogicalType(kind)) for k, kind in keys]
    cols.append(ColumnSchema("v", LogicalType(Kind.STRING)))
    return TableSchema(TableId("db", name), tuple(cols), tuple(k for k, _ in keys))


def changes(s: TableSchema, rows: list[tuple], dels: list[bool]) -> pa.Table:
    arrow = s.arrow_schema()
    data = {f.name: pa.array([r[i] for r in rows], f.type) for i, f in enumerate(arrow)}
    return pa.table(
        {"__seq": pa.array(range(len(rows)), pa.int64()), "__del": pa.array(dels), **data}
    )


def test_which_slices_get_a_constant_list() -> None:
    one = schema("one", ("k", Kind.INT64))
    sql = literal_delete_sql(one, "c", changes(one, [(3, "a"), (-2, None), (3, "b")], [False] * 3))
    assert sql is not None and sql.startswith('DELETE FROM "c"."db"."one" WHERE "k" IN (')
    assert sorted(sql[sql.index("(") + 1 : -1].split(", ")) == ["-2", "3"]  # repeats once
    many = [(i, "x") for i in range(MAX_LITERAL_KEYS + 1)]
    assert literal_delete_sql(one, "c", changes(one, many, [False] * len(many))) is None
    text = schema("text", ("k", Kind.STRING))
    assert literal_delete_sql(text, "c", changes(text, [("a", "x")], [False])) is None
    two = schema("two", ("a", Kind.INT32), ("b", Kind.INT32))
    assert literal_delete_sql(two, "c", changes(two, [(1, 2, "x")], [False])) is None


def test_extreme_integer_keys_are_deleted_and_replaced_exactly(tmp_path: Path) -> None:
    big = schema("big", ("k", Kind.UINT64))
    neg = schema("neg", ("k", Kind.INT64))
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i1")
    top, low = 2**64 - 1, -(2**63)
    for s, keys in ((big, [top, top - 1, 0]), (neg, [low, -1, 2**63 - 1])):
        dest.create_table(s)
        first = changes(s, [(k, "a") for k in keys], [False] * 3)
        dest.apply_changes(s, first)
        dest.apply_changes(s, first)  # a replay changes nothing
        # the first key replaced, the second deleted, the third untouched
        dest.apply_changes(s, changes(s, [(keys[0], "b"), (keys[1], None)], [False, True]))
        cur = dest.reader()
        got = cur.execute(f"SELECT k, v FROM db.{s.id.table} ORDER BY k").fetchall()
        cur.close()
        assert got == sorted([(keys[0], "b"), (keys[2], "a")])
    dest.close()


def test_small_slices_insert_through_an_arrow_stream_as_the_statements_do(tmp_path: Path) -> None:
    """apply_small.insert_rows (connection that scans by name) against apply.py's statements
    (a view): the same table after deletes among unique keys, after new-key inserts and after
    a snapshot chunk, with the slice's columns in another order than the table's."""
    import duckdb

    from zeroetl.destinations.duckdb import apply

    s = schema("t", ("k", Kind.INT64))
    got = {}
    for scan in (True, False):
        con = duckdb.connect(str(tmp_path / f"{scan}.duckdb"))
        con.execute("CREATE SCHEMA db; CREATE TABLE db.t (k BIGINT, v VARCHAR)")
        reader = apply.Reader(scan=scan) if scan else None
        cat = con.execute("SELECT current_database()").fetchall()[0][0]
        chunk = pa.table({"v": ["a", "b", "c"], "k": pa.array([1, 2, 3], pa.int64())})
        apply.write_chunk(con, cat, s, chunk, replace=False, reader=reader)
        new = changes(s, [(4, "d"), (5, "e")], [False, False])
        apply.insert_new(con, cat, s, new.select(["__seq", "__del", "v", "k"]), reader)
        mixed = changes(s, [(1, "A"), (2, None), (6, "f")], [False, True, False])
        apply.apply_changes(con, cat, s, mixed.select(["v", "k", "__del", "__seq"]), reader)
        # keys repeated (the window's case), the sequence not in row order: the highest wins
        again = changes(s, [(7, "g2"), (7, "g1"), (3, "x"), (3, None), (6, "F")], [False] * 5)
        again = again.set_column(0, "__seq", pa.array([5, 1, 2, 3, 4], pa.int64()))
        again = again.set_column(1, "__del", pa.array([False, False, False, True, False]))
        apply.apply_changes(con, cat, s, again, reader)
        got[scan] = con.execute("SELECT k, v FROM db.t ORDER BY k").fetchall()
        con.close()
    assert got[True] == got[False] == [(1, "A"), (4, "d"), (5, "e"), (6, "F"), (7, "g2")]


def test_last_changes_keeps_the_highest_sequence_per_key() -> None:
    from zeroetl.destinations.duckdb.apply_small import last_changes

    two = schema("two", ("a", Kind.INT32), ("b", Kind.STRING))
    c = changes(two, [(1, "x", "p"), (1, "y", "q"), (1, "x", "r")], [False, False, True])
    c = c.set_column(0, "__seq", pa.array([9, 1, 2], pa.int64()))
    got = last_changes(c, two.primary_key, "__seq")
    assert got is not None and got.column("v").to_pylist() == ["p", "q"]
    real = schema("real", ("f", Kind.FLOAT64))
    assert last_changes(changes(real, [(0.0, "a")], [False]), ("f",), "__seq") is None
