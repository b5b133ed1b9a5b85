"""In-place UPDATEs written as the columns they changed (apply_columns.py, row_diff.py): the
same tables as whole rows (apply.apply_changes), on random histories of one Synced table."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroetl.destinations.base import ChangedColumns
from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb import apply_columns as ac
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema
from zeroetl.sources.mysql import row_diff

KINDS = [Kind.INT32, Kind.FLOAT64, Kind.STRING, Kind.BINARY]
NCOLS = 18  # past apply_columns.MIN_COLUMNS


def schema(name: str, nkeys: int) -> TableSchema:
    keys = [ColumnSchema(f"k{i}", LogicalType(Kind.INT64), False) for i in range(nkeys)]
    cols = [ColumnSchema(f"c{i}", LogicalType(KINDS[i % 4])) for i in range(NCOLS - nkeys)]
    return TableSchema(TableId("db", name), (*keys, *cols), tuple(c.name for c in keys))


def value(rng: random.Random, kind: Kind) -> Any:
    if rng.random() < 0.2:
        return None
    pick = rng.randrange(3)  # few distinct values: many "changes" keep the value
    if kind is Kind.INT32:
        return pick
    if kind is Kind.FLOAT64:
        return [0.0, -0.0, 1.5][pick]  # -0.0 differs from 0.0 in the warehouse
    if kind is Kind.STRING:
        return ["", "a", "b"][pick]
    return [b"", b"\x00", b"x"][pick]


class History:
    """A source table and the change entries its statements log (changes.py's format)."""

    def __init__(self, s: TableSchema, rng: random.Random) -> None:
        self.s, self.rng = s, rng
        self.nkeys = len(s.primary_key)
        self.rows: dict[tuple[int, ...], list[Any]] = {}
        self.entries: list[tuple[list[Any], bool, list[Any] | None]] = []  # row, del, before

    def new_row(self, key: tuple[int, ...]) -> list[Any]:
        return [*key, *(value(self.rng, c.type.kind) for c in self.s.columns[self.nkeys :])]  # type: ignore[union-attr]

    def step(self) -> None:
        rng, rows = self.rng, self.rows
        key = tuple(rng.randrange(6) for _ in range(self.nkeys))
        op = rng.random()
        if key not in rows:
            rows[key] = self.new_row(key)
            self.entries.append((rows[key], False, None))
        elif op < 0.15:
            self.entries.append((rows.pop(key), True, None))
        elif op < 0.25:  # the key moves: a delete of the old key, then the new image
            new = tuple(rng.randrange(6) for _ in range(self.nkeys))
            if new in rows:
                return
            old = rows.pop(key)
            self.entries.append((old, True, None))
            rows[new] = [*new, *old[self.nkeys :]]
            self.entries.append((rows[new], False, None))
        else:  # in place: a few columns, sometimes all, sometimes none really changed
            before = rows[key]
            after = list(before)
            width = len(after) - self.nkeys
            many = width if op > 0.95 else rng.randrange(1, 4)
            for i in rng.sample(range(self.nkeys, len(after)), min(many, width)):
                after[i] = value(rng, self.s.columns[i].type.kind)  # type: ignore[union-attr]
            rows[key] = after
            self.entries.append((after, False, before))

    def batch(self) -> tuple[pa.Table, pa.Array]:
        arrow = self.s.arrow_schema()
        cols = {
            f.name: pa.array([e[0][i] for e in self.entries], f.type) for i, f in enumerate(arrow)
        }
        n = len(self.entries)
        order = list(range(n))
        self.rng.shuffle(order)  # slices need not come in source order
        data = pa.table(
            {
                **cols,
                "__seq": pa.array(range(n), pa.int64()),
                "__del": pa.array([e[1] for e in self.entries]),
            }
        )
        upd = [i for i, e in enumerate(self.entries) if e[2] is not None]
        bits = pa.nulls(n, row_diff.bitmap_type(len(arrow)))
        if upd:
            before = [
                pa.array([self.entries[i][2][k] for i in upd], f.type)  # type: ignore[index]
                for k, f in enumerate(arrow)
            ]
            after = [data.column(f.name).combine_chunks().take(pa.array(upd)) for f in arrow]
            import numpy as np

            bits = row_diff.scatter(n, np.array(upd), row_diff.changed_bitmaps(before, after))
        self.entries = []
        idx = pa.array(order)
        return data.take(idx), bits.take(idx)


def rows_of(dest: DuckDBDestination, s: TableSchema) -> list[tuple[Any, ...]]:
    cur = dest.reader()
    keys = ", ".join(s.primary_key)
    got = cur.execute(f"SELECT * FROM db.{s.id.table} ORDER BY {keys}").fetchall()
    cur.close()
    # floats by their sign too (-0.0 == 0.0 in Python)
    return [tuple(repr(v) if isinstance(v, float) else v for v in r) for r in got]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), nkeys=st.sampled_from([1, 2]), batches=st.integers(1, 4))
def test_changed_columns_give_the_tables_whole_rows_give(
    tmp_path: Path, seed: int, nkeys: int, batches: int
) -> None:
    rng = random.Random(seed)
    old, new = schema(f"old{seed}", nkeys), schema(f"new{seed}", nkeys)
    dest = DuckDBDestination(tmp_path / f"w{seed}.duckdb", "i1")
    assert isinstance(dest, ChangedColumns)
    dest.create_table(old)
    dest.create_table(new)
    h = History(old, rng)
    for _ in range(batches):
        for _ in range(rng.randrange(1, 60)):
            h.step()
        data, bits = h.batch()
        dest.begin()
        dest.apply_changes(old, data)
        dest.apply_changed(new, data, bits)
        if rng.random() < 0.3:
            dest.apply_changed(new, data, bits)  # a replay changes nothing
        dest.commit()
        want = rows_of(dest, old)
        assert rows_of(dest, new) == want
        expect = [
            tuple(repr(v) if isinstance(v, float) else v for v in r)
            for _, r in sorted(h.rows.items())
        ]
        assert want == expect
    dest.close()


def test_groups_and_whole_rows() -> None:
    s = schema("t", 1)
    names = s.names
    arrow = s.arrow_schema()
    rows = [[k, *([None] * (NCOLS - 1))] for k in range(12)]
    data = pa.table(
        {
            **{f.name: pa.array([r[i] for r in rows], f.type) for i, f in enumerate(arrow)},
            "__seq": pa.array(range(12), pa.int64()),
            "__del": pa.array([False] * 12),
        }
    )
    width = (NCOLS + 7) // 8

    def bitmap(cols: list[int]) -> bytes:
        b = bytearray(width)
        for c in cols:
            b[c // 8] |= 1 << (c % 8)
        return bytes(b)

    sets = [[1], [1], [2, 3], [], list(range(1, NCOLS))] + [[i] for i in range(1, 8)]
    bits = pa.array([bitmap(c) for c in sets], row_diff.bitmap_type(NCOLS))
    split = ac.split_changes(s, data, bits)
    assert split is not None
    whole, groups = split
    assert whole.column("k0").to_pylist() == [4]  # every column: a whole row
    cols = sorted(c for c, _ in groups)
    assert len(groups) == ac.MAX_GROUPS
    assert (names[1],) in cols and (names[2], names[3]) in cols
    updated = sorted(k for _, t in groups for k in t.column("k0").to_pylist())
    assert updated == [0, 1, 2, *range(5, 12)]  # key 3 changed nothing
