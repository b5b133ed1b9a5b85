"""Every LogicalType round-trips through DuckDB, edge values included, via both write paths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.types import duckdb_type
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema

D = LogicalType
COLUMNS: list[tuple[str, LogicalType, str, list]] = [
    ("i8", D(Kind.INT8), "TINYINT", [-128, 127, 0]),
    ("i16", D(Kind.INT16), "SMALLINT", [-32768, 32767, 0]),
    ("i32", D(Kind.INT32), "INTEGER", [-(2**31), 2**31 - 1, 0]),
    ("i64", D(Kind.INT64), "BIGINT", [-(2**63), 2**63 - 1, 0]),
    ("u8", D(Kind.UINT8), "UTINYINT", [0, 255, 1]),
    ("u16", D(Kind.UINT16), "USMALLINT", [0, 65535, 1]),
    ("u32", D(Kind.UINT32), "UINTEGER", [0, 2**32 - 1, 1]),
    ("u64", D(Kind.UINT64), "UBIGINT", [0, 2**64 - 1, 2**63]),
    ("f32", D(Kind.FLOAT32), "FLOAT", [1.5, -(2.0**127), 0.0]),
    ("f64", D(Kind.FLOAT64), "DOUBLE", [1.7976931348623157e308, -5e-324, 0.1]),
    (
        "d38",
        D(Kind.DECIMAL, 38, 10),
        "DECIMAL(38,10)",
        [
            Decimal("9" * 28 + "." + "9" * 10),
            Decimal("-" + "9" * 28 + "." + "9" * 10),
            Decimal("0E-10"),
        ],
    ),
    ("d5", D(Kind.DECIMAL, 5, 0), "DECIMAL(5,0)", [Decimal(99999), Decimal(-99999), Decimal(0)]),
    (
        "dtext",
        D(Kind.DECIMAL_TEXT),
        "VARCHAR",
        ["9" * 35 + "." + "9" * 30, "-0.000000000000000000000000000000000000000001", "0"],
    ),
    ("s", D(Kind.STRING), "VARCHAR", ["", "üñí 表 😀", "a\x00b"]),
    ("b", D(Kind.BINARY), "BLOB", [b"", b"\x00\xff\x80", bytes(range(256))]),
    ("dt", D(Kind.DATE), "DATE", [date(1000, 1, 1), date(9999, 12, 31), date(1970, 1, 1)]),
    (
        "ts",
        D(Kind.TIMESTAMP),
        "TIMESTAMP",
        [
            datetime(1000, 1, 1),
            datetime(9999, 12, 31, 23, 59, 59, 999999),
            datetime(2024, 2, 29, 1, 2, 3, 4),
        ],
    ),
    (
        "tz",
        D(Kind.TIMESTAMPTZ),
        "TIMESTAMPTZ",
        [
            datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
            datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC),
        ],
    ),
    ("tm", D(Kind.TIME), "TIME", [time(0, 0), time(23, 59, 59, 999999), time(12, 0, 0, 1)]),
    ("js", D(Kind.JSON), "JSON", ['{"a": [1, 2.5, null], "b": "ü"}', "[]", '"s"']),
]


def test_type_names() -> None:
    for _, t, expected, _ in COLUMNS:
        assert duckdb_type(t) == expected
    with pytest.raises(ValueError):
        duckdb_type(D(Kind.DECIMAL, 39, 0))


SCHEMA = TableSchema(
    TableId("types", "all"),
    (
        ColumnSchema("k", D(Kind.INT32)),
        *(ColumnSchema(n, t) for n, _, t, _ in [(c[0], None, c[1], None) for c in COLUMNS]),
    ),
    ("k",),
)


def source_rows() -> list[dict]:
    out = []
    for i in range(3):
        out.append({"k": i, **{n: vals[i] for n, _, _, vals in COLUMNS}})
    out.append({"k": 3, **{n: None for n, _, _, _ in COLUMNS}})  # NULL in every column
    return out


@pytest.fixture
def dest(tmp_path: Path) -> Iterator[DuckDBDestination]:
    d = DuckDBDestination(tmp_path / "t.duckdb", "types")
    d.create_table(SCHEMA)
    yield d
    d.close()


def read_back(d: DuckDBDestination) -> list[dict]:
    cols = ", ".join(f'"{n}"' for n in SCHEMA.names)
    tbl = d.reader().sql(f"SELECT {cols} FROM types.all ORDER BY k").to_arrow_table()
    return tbl.to_pylist()


def test_declared_types(dest: DuckDBDestination) -> None:
    got = dict(
        dest.reader()
        .execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'all'")
        .fetchall()
    )
    for n, _, expected, _ in COLUMNS:
        assert got[n] == {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(expected, expected)


def test_roundtrip_write_chunk(dest: DuckDBDestination) -> None:
    data = pa.Table.from_pylist(source_rows(), SCHEMA.arrow_schema())
    dest.write_chunk(SCHEMA, data)
    assert read_back(dest) == source_rows()


def test_roundtrip_apply_changes(dest: DuckDBDestination) -> None:
    src = source_rows()
    data = pa.Table.from_pylist(src, SCHEMA.arrow_schema())
    n = data.num_rows
    data = data.add_column(0, "__del", pa.array([False] * n))
    data = data.add_column(0, "__seq", pa.array(range(n), pa.int64()))
    dest.apply_changes(SCHEMA, data)
    assert read_back(dest) == src


def test_time_24h_kept_as_microseconds(dest: DuckDBDestination) -> None:
    # MySQL TIME may be 24:00:00 (PRODUCT.md: 00:00-24:00); datetime.time cannot say it, Arrow can.
    s = TableSchema(
        TableId("types", "tm"),
        (ColumnSchema("k", D(Kind.INT32)), ColumnSchema("t", D(Kind.TIME))),
        ("k",),
    )
    dest.create_table(s)
    rows = pa.table(
        {"k": pa.array([1], pa.int32()), "t": pa.array([86_400_000_000], pa.time64("us"))}
    )
    dest.write_chunk(s, rows)
    got = dest.reader().sql("SELECT t FROM types.tm").to_arrow_table()
    assert got.column(0).cast(pa.int64()).to_pylist() == [86_400_000_000]


@pytest.mark.parametrize(
    "name,lt",
    [(c[0], c[1]) for c in COLUMNS if c[1].kind not in (Kind.JSON, Kind.FLOAT32, Kind.FLOAT64)],
)
def test_every_kind_works_as_key(tmp_path: Path, name: str, lt: LogicalType) -> None:
    vals = next(c[3] for c in COLUMNS if c[0] == name)
    s = TableSchema(
        TableId("k", name), (ColumnSchema("key", lt), ColumnSchema("v", D(Kind.INT32))), ("key",)
    )
    d = DuckDBDestination(tmp_path / "k.duckdb", "k")
    try:
        d.create_table(s)
        uniq = list(dict.fromkeys(vals))
        d.write_chunk(s, pa.Table.from_pylist([{"key": v, "v": 0} for v in uniq], s.arrow_schema()))
        batch = pa.Table.from_pylist(
            [{"__seq": i, "__del": False, "key": v, "v": 1} for i, v in enumerate(uniq)],
            pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *s.arrow_schema()]),
        )
        d.apply_changes(s, batch)
        # catalog "k" (the file stem) == schema "k": only three-part names resolve
        got = d.reader().execute(f'SELECT count(*), min(v) FROM k.k."{name}"').fetchone()
        assert got == (len(uniq), 1)
    finally:
        d.close()
