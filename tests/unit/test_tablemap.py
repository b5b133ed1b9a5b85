"""TABLE_MAP parsing from hand-built event bodies (MySQL 8 and MariaDB shapes)."""

from __future__ import annotations

import pytest

from zeroetl.errors import DecodeError
from zeroetl.model import Kind, LogicalType
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.rows import RowsDecoder, rows_table_id
from zeroetl.sources.mysql.tablemap import parse_table_map


def _packed(n: int) -> bytes:
    if n < 251:
        return bytes([n])
    if n < 2**16:
        return b"\xfc" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(8, "little")


def _field(kind: int, payload: bytes) -> bytes:
    return bytes([kind]) + _packed(len(payload)) + payload


def _names(*names: str) -> bytes:
    return _field(4, b"".join(_packed(len(n)) + n.encode() for n in names))


def _body(
    types: list[int], meta: bytes, nullable: int, optional: bytes, table_id: int = 77
) -> memoryview:
    n = len(types)
    out = table_id.to_bytes(6, "little") + b"\x01\x00"
    out += bytes([2]) + b"db\x00" + bytes([1]) + b"t\x00"
    out += _packed(n) + bytes(types) + _packed(len(meta)) + meta
    out += nullable.to_bytes((n + 7) // 8, "little") + optional
    return memoryview(out)


def test_mysql8_shapes() -> None:
    types = [
        T.LONG,
        T.YEAR,
        T.LONGLONG,
        T.STRING,
        T.STRING,
        T.VARCHAR,
        T.GEOMETRY,
        T.JSON,
        T.NEWDECIMAL,
        T.BLOB,
    ]
    meta = (
        bytes([T.STRING ^ 0x10, 0x90])  # CHAR(100) utf8mb4 = 400 bytes: high length bits in byte 0
        + bytes([T.ENUM, 1])
        + (300).to_bytes(2, "little")
        + bytes([4])  # geometry
        + bytes([4])  # json
        + bytes([65, 30])
        + bytes([2])
    )
    optional = (
        _field(1, bytes([0b01100000]))  # signedness bits: LONG, YEAR, LONGLONG, NEWDECIMAL
        + _field(
            2, _packed(255) + _packed(2) + _packed(63)
        )  # default utf8mb4_0900_ai_ci; blob binary
        + _field(10, _packed(8))  # enum/set default latin1
        + _names("id", "y", "big", "c", "e", "v", "g", "j", "d", "b")
        + _field(6, _packed(2) + _packed(1) + b"a" + _packed(2) + b"\xe9t")  # ENUM('a','ét') latin1
        + _field(7, _packed(1))
        + _field(12, b"\xff\xff")  # COLUMN_VISIBILITY: unknown to us, skipped
        + _field(9, _packed(0) + _packed(0) + _packed(3) + _packed(10))  # PK (id, c(10))
    )
    tm = parse_table_map(_body(types, meta, 0b1111111110, optional))
    assert tm.table_id == 77 and (tm.schema, tm.table) == ("db", "t")
    assert tm.column_types[3] == T.STRING and tm.column_meta[3] == 400
    assert tm.column_types[4] == T.ENUM and tm.column_meta[4] == 1
    assert tm.column_meta[5] == 300 and tm.column_meta[8] == (65 << 8 | 30)
    assert tm.unsigned[:3] == (False, True, True) and not any(tm.unsigned[3:])
    assert tm.collations[3] == 255 and tm.collations[5] == 255 and tm.collations[9] == 63
    assert tm.collations[6] is None  # MySQL gives GEOMETRY no charset
    assert tm.enum_values[4] == ("a", "ét")
    assert tm.geometry_types[6] == 1
    assert tm.primary_key == (0, 3)
    ts = tm.table_schema()
    kinds = [c.type.kind if c.type else None for c in ts.columns]
    assert kinds == [Kind.INT32, Kind.INT16, Kind.UINT64, Kind.STRING, Kind.STRING, Kind.STRING,
                     Kind.BINARY, Kind.JSON, Kind.DECIMAL_TEXT, Kind.BINARY]  # fmt: skip
    assert ts.columns[8].type == LogicalType(Kind.DECIMAL_TEXT, 65, 30)
    assert ts.primary_key == ("id", "c") and ts.columns[1].nullable and not ts.columns[0].nullable
    RowsDecoder(tm)  # every column has a row layout


def test_mariadb_counts_geometry_among_character_columns() -> None:
    types = [T.LONG, T.GEOMETRY, T.VARCHAR]
    meta = bytes([4]) + (40).to_bytes(2, "little")
    optional = _field(3, _packed(63) + _packed(8)) + _names("id", "g", "v") + _field(8, _packed(0))
    tm = parse_table_map(_body(types, meta, 0, optional))
    assert tm.collations == (None, 63, 8)
    assert tm.charset(2) == "latin1"
    # the same bytes, told explicitly
    assert parse_table_map(_body(types, meta, 0, optional), flavor="mariadb").collations == (
        None,
        63,
        8,
    )


def test_names_are_required() -> None:
    with pytest.raises(DecodeError, match="binlog_row_metadata=FULL"):
        parse_table_map(_body([T.LONG], b"", 0, _field(8, _packed(0))))


def test_unknown_charset_makes_column_unsupported() -> None:
    optional = _field(3, _packed(32)) + _names("a")  # armscii8: no Python codec
    tm = parse_table_map(_body([T.VARCHAR], (10).to_bytes(2, "little"), 1, optional))
    col = tm.table_schema().columns[0]
    assert col.type is None and "armscii8" in col.unsupported_reason
    assert tm.table_schema().problem() is not None


def test_rows_table_id() -> None:
    assert rows_table_id(memoryview((2**40 + 5).to_bytes(6, "little") + b"\x00\x00")) == 2**40 + 5
