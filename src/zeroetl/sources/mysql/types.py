"""MySQL column types -> logical types (the project's type mapping), from INFORMATION_SCHEMA.

The binlog side (TABLE_MAP with binlog_row_metadata=FULL) maps the same columns in
`tablemap.py`; both must agree, and a test compares them for every type.
"""

from __future__ import annotations

import re

from zeroetl.model import ColumnSchema, Kind, LogicalType

_INTS = {
    "tinyint": (Kind.INT8, Kind.UINT8),
    "smallint": (Kind.INT16, Kind.UINT16),
    "mediumint": (Kind.INT32, Kind.UINT32),
    "int": (Kind.INT32, Kind.UINT32),
    "integer": (Kind.INT32, Kind.UINT32),
    "bigint": (Kind.INT64, Kind.UINT64),
}
_STRINGS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
_BINARIES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
GEOMETRY_TYPES = frozenset(
    {
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
        "geomcollection",
    }
)
_DECIMAL = re.compile(r"decimal\((\d+)(?:,(\d+))?\)")

MAX_EXACT_DECIMAL = 38  # DuckDB's DECIMAL limit; wider ones are kept as exact text


def decimal_type(precision: int, scale: int) -> LogicalType:
    if precision <= MAX_EXACT_DECIMAL:
        return LogicalType(Kind.DECIMAL, precision, scale)
    return LogicalType(Kind.DECIMAL_TEXT, precision, scale)


def logical_type(data_type: str, column_type: str, charset: str | None) -> LogicalType | None:
    """Map one INFORMATION_SCHEMA.COLUMNS row (DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME)."""
    dt = data_type.lower()
    ct = column_type.lower()
    unsigned = "unsigned" in ct
    if dt in _INTS:
        signed_kind, unsigned_kind = _INTS[dt]
        return LogicalType(unsigned_kind if unsigned else signed_kind)
    if dt in ("decimal", "numeric"):
        m = _DECIMAL.search(ct)
        precision, scale = (int(m.group(1)), int(m.group(2) or 0)) if m else (10, 0)
        return decimal_type(precision, scale)
    if dt == "float":
        return LogicalType(Kind.FLOAT32)
    if dt in ("double", "real", "double precision"):
        return LogicalType(Kind.FLOAT64)
    if dt == "bit":
        return LogicalType(Kind.UINT64)
    if dt in _STRINGS:
        # MariaDB declares some text columns with charset 'binary' only through *BLOB types,
        # but a CHAR ... CHARACTER SET binary is a binary string.
        return LogicalType(Kind.BINARY if charset == "binary" else Kind.STRING)
    if dt in _BINARIES:
        return LogicalType(Kind.BINARY)
    if dt in ("enum", "set"):
        return LogicalType(Kind.STRING)
    if dt == "date":
        return LogicalType(Kind.DATE)
    if dt == "datetime":
        return LogicalType(Kind.TIMESTAMP)
    if dt == "timestamp":
        return LogicalType(Kind.TIMESTAMPTZ)
    if dt == "time":
        return LogicalType(Kind.TIME)
    if dt == "year":
        return LogicalType(Kind.INT16)
    if dt == "json":
        return LogicalType(Kind.JSON)
    if dt in GEOMETRY_TYPES:
        return LogicalType(Kind.BINARY)
    return None


def column_schema(
    name: str, data_type: str, column_type: str, charset: str | None, nullable: bool
) -> ColumnSchema:
    lt = logical_type(data_type, column_type, charset)
    return ColumnSchema(
        name=name,
        type=lt,
        nullable=nullable,
        source_type=column_type,
        unsupported_reason="" if lt else f"unsupported type {column_type}",
    )
