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
