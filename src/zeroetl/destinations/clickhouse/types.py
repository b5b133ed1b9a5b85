"""LogicalType -> ClickHouse column type (docs/clickhouse.md has the table), quoting, and the
deterministic row version.

Lossless by construction: ClickHouse 26's Date32 and DateTime64 cover MySQL's years 1000-9999,
Decimal goes to 76 digits (so DECIMAL(65,30) is a number, not text), UInt64 holds BIGINT
UNSIGNED and BIT(64), Time64(6) holds TIME's microseconds, and String holds any bytes (BINARY,
BLOB, GEOMETRY as WKB). A column is Nullable exactly where the source allows NULL; key columns
never are (they are the ORDER BY).
"""

from __future__ import annotations

from zeroetl.errors import TableFailed
from zeroetl.model import ColumnSchema, Kind, LogicalType, Position, TableId

from .conn import _quote

MAX_DECIMAL_PRECISION = 76

_SIMPLE: dict[Kind, str] = {
    Kind.INT8: "Int8",
    Kind.INT16: "Int16",
    Kind.INT32: "Int32",
    Kind.INT64: "Int64",
    Kind.UINT8: "UInt8",
    Kind.UINT16: "UInt16",
    Kind.UINT32: "UInt32",
    Kind.UINT64: "UInt64",
    Kind.FLOAT32: "Float32",
    Kind.FLOAT64: "Float64",
    Kind.STRING: "String",  # CHAR/VARCHAR/TEXT, ENUM and SET as their text
    Kind.BINARY: "String",  # ClickHouse strings are bytes
    Kind.DATE: "Date32",
    # MySQL DATETIME is a wall-clock value: stored as that value in UTC, read back naive.
    Kind.TIMESTAMP: "DateTime64(6, 'UTC')",
    Kind.TIMESTAMPTZ: "DateTime64(6, 'UTC')",
    Kind.TIME: "Time64(6)",
    Kind.JSON: "String",  # the exact text; JSON functions (JSONExtract*) read it
}

# Columns every replicated table carries after the source's own.
VERSION, DELETED, SYNCED_AT = "_version", "_is_deleted", "_synced_at"
RESERVED = (VERSION, DELETED, SYNCED_AT)


def clickhouse_type(t: LogicalType) -> str:
    if t.kind in (Kind.DECIMAL, Kind.DECIMAL_TEXT):
        if t.kind is Kind.DECIMAL_TEXT and t.precision == 0:
            return "String"  # precision unknown: the exact decimal text
        if not 1 <= t.precision <= MAX_DECIMAL_PRECISION or not 0 <= t.scale <= t.precision:
            raise ValueError(f"DECIMAL({t.precision},{t.scale}) does not fit ClickHouse's Decimal")
        return f"Decimal({t.precision}, {t.scale})"
    return _SIMPLE[t.kind]


def column_type(table: TableId, c: ColumnSchema, key: bool) -> str:
    """The column's ClickHouse type; a column without a usable type fails its table."""
    if c.type is None:
        raise TableFailed(str(table), c.unsupported_reason or f"unsupported type {c.source_type}")
    if c.name in RESERVED:
        raise TableFailed(
            str(table), f"column name {c.name!r} is reserved by the ClickHouse table design"
        )
    try:
        base = clickhouse_type(c.type)
    except ValueError as e:
        raise TableFailed(str(table), f"column {c.name!r}: {e}") from None
    return base if key or not c.nullable else f"Nullable({base})"


def ident(name: str) -> str:
    return _quote(name)


def qualified(table: TableId) -> str:
    """MySQL database -> ClickHouse database, table -> table."""
    return f"{ident(table.schema)}.{ident(table.table)}"


def literal(text: str) -> str:
    """A ClickHouse string literal: backslash and quote escaped (ClickHouse reads C escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def version_of(pos: Position | None) -> int:
    """The `_version` of rows committed at `pos`: (binlog file index << 32) | offset.

    Binlog offsets are 32-bit in MySQL's event header, so this is monotonic in the source's
    order, fits UInt64 for any file index below 2^32, and depends on nothing but the position:
    a replay that commits at the same position writes the same version (docs/clickhouse.md)."""
    if pos is None:
        return 0
    return (pos.file_index << 32) | (pos.offset & 0xFFFFFFFF)
