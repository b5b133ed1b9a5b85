"""A wide table's WAL may grow to twice its limit before a fold, with DuckDB's memory limit
raised for the rows it pins meanwhile; a narrow table's stays under the limit (real DuckDB)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pytest

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.memory import TableAllowance, _bytes
from zeroetl.destinations.duckdb.upkeep import MIB, STRETCH, Upkeep, wal_bytes
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema

LIMIT = 2 * MIB


def _schema(name: str, columns: int) -> TableSchema:
    cols = [ColumnSchema("id", LogicalType(Kind.INT64))]
    cols += [ColumnSchema(f'c"{i}', LogicalType(Kind.INT64)) for i in range(1, columns)]
    return TableSchema(TableId("db", name), tuple(cols), ("id",))


def _batch(schema: TableSchema, first: int, n: int) -> pa.Table:
    ids = list(range(first, first + n))
    data = {"__seq": list(range(n)), "__del": [False] * n}
    data |= {c.name: [i * 7 + k for i in ids] for k, c in enumerate(schema.columns)}
    data["id"] = ids
    arrow = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *schema.arrow_schema()])
    return pa.table(data, schema=arrow)


def _limit(d: DuckDBDestination) -> int:
    row = d.reader().execute("SELECT current_setting('memory_limit')").fetchone()
    return _bytes(str(row[0])) if row else 0


def _load(d: DuckDBDestination, schema: TableSchema, rows: int, commits: int) -> list[int]:
    """`commits` change batches of `rows` new rows; the WAL after each."""
    d.create_table(schema)
    d.checkpoint()
    seen = []
    for k in range(commits):
        d.begin()
        d.apply_changes(schema, _batch(schema, k * rows, rows))
        d.commit()
        seen.append(wal_bytes(d.path))
    assert d.reader().execute(f"SELECT count(*) FROM db.{schema.id.table}").fetchone() == (
        rows * commits,
    )
    return seen


def test_a_wide_table_stretches_the_wal_and_the_memory_limit(tmp_path: Path) -> None:
    d = DuckDBDestination(tmp_path / "w.duckdb", "i", upkeep_settings=Upkeep(wal_limit_bytes=LIMIT))
    try:
        plain = _limit(d)
        wide = _schema("wide", 200)
        d.create_table(wide)
        d.begin()
        d.apply_changes(wide, _batch(wide, 10**6, 10))
        assert _limit(d) == plain + 2 * (STRETCH - 1) * LIMIT  # before the COMMIT pins them
        d.commit()
        seen = _load(d, wide, 250, 40)
        per_commit = max(b - a for a, b in pairwise(seen) if b > a)
        assert max(seen) > LIMIT  # folded later than a narrow table's
        assert max(seen) < STRETCH * LIMIT  # ... and bounded: folded once past it
        assert d.upkeep_stats.wal_max_bytes < STRETCH * LIMIT + per_commit
        assert d.upkeep_stats.checkpoints >= 3 and d.upkeep_stats.stretches >= 3
        d.checkpoint()  # a fold: the limit back, until a wide table is written again
        assert _limit(d) == plain
    finally:
        d.close()


def test_a_narrow_table_keeps_the_wal_under_its_limit(tmp_path: Path) -> None:
    up = Upkeep(wal_limit_bytes=LIMIT)
    d = DuckDBDestination(tmp_path / "n.duckdb", "i", upkeep_settings=up)
    try:
        plain = _limit(d)
        seen = _load(d, _schema("narrow", 20), 2500, 40)
        assert max(seen) < LIMIT and d.upkeep_stats.checkpoints >= 3
        assert d.upkeep_stats.stretches == 0 and _limit(d) == plain
    finally:
        d.close()
    # The same wide load with the width threshold above it: folded at the limit.
    up = Upkeep(wal_limit_bytes=LIMIT, wide_columns=1000)
    d = DuckDBDestination(tmp_path / "w.duckdb", "i", upkeep_settings=up)
    try:
        assert max(_load(d, _schema("wide", 200), 250, 40)) < LIMIT
    finally:
        d.close()


def test_the_width_threshold_is_checked() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        Upkeep(wide_columns=0)


def test_the_stretch_keeps_the_raise_of_a_many_table_transaction(tmp_path: Path) -> None:
    d = DuckDBDestination(tmp_path / "m.duckdb", "i", upkeep_settings=Upkeep(wal_limit_bytes=LIMIT))
    try:
        plain = _limit(d)
        small = [_schema(f"s{i}", 2) for i in range(TableAllowance.STEP + 1)]
        wide = _schema("wide", 200)
        for s in [*small, wide]:
            d.create_table(s)
        d.begin()
        for s in small:  # past STEP tables: the limit raised for 2 x STEP of them
            d.apply_changes(s, _batch(s, 0, 1))
        raised = 2 * TableAllowance.STEP * TableAllowance.PER_TABLE
        assert _limit(d) == plain + raised
        d.apply_changes(wide, _batch(wide, 0, 1))
        assert _limit(d) == plain + raised + 2 * (STRETCH - 1) * LIMIT  # both raises
        d.commit()
        assert _limit(d) == plain + 2 * (STRETCH - 1) * LIMIT  # the stretch until a fold
    finally:
        d.close()
