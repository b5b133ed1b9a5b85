"""LogicalType -> DuckDB column type (PRODUCT.md section 6) and identifier quoting.

JSON is DuckDB's built-in `JSON` type (the json extension is statically linked in duckdb 2.0, no
download): values are stored as the exact text and validated on insert.
"""

from __future__ import annotations

from zeroetl.errors import TableFailed
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId
from zeroetl.sqltext import ident as ident  # re-exported: destination code quotes through here
from zeroetl.sqltext import literal as literal

MAX_DECIMAL_PRECISION = 38

_SIMPLE: dict[Kind, str] = {
    Kind.INT8: "TINYINT",
    Kind.INT16: "SMALLINT",
    Kind.INT32: "INTEGER",
    Kind.INT64: "BIGINT",
    Kind.UINT8: "UTINYINT",
    Kind.UINT16: "USMALLINT",
    Kind.UINT32: "UINTEGER",
    Kind.UINT64: "UBIGINT",
    Kind.FLOAT32: "FLOAT",
    Kind.FLOAT64: "DOUBLE",
    Kind.DECIMAL_TEXT: "VARCHAR",  # exact decimal text for precision > 38
    Kind.STRING: "VARCHAR",
    Kind.BINARY: "BLOB",
    Kind.DATE: "DATE",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.TIMESTAMPTZ: "TIMESTAMPTZ",
    Kind.TIME: "TIME",
    Kind.JSON: "JSON",
}


def duckdb_type(t: LogicalType) -> str:
    """The DuckDB spelling of a logical type. Raises ValueError for impossible decimals."""
    if t.kind is Kind.DECIMAL:
        if not 1 <= t.precision <= MAX_DECIMAL_PRECISION or not 0 <= t.scale <= t.precision:
            raise ValueError(f"DECIMAL({t.precision},{t.scale}) does not fit DuckDB's DECIMAL")
        return f"DECIMAL({t.precision},{t.scale})"
    return _SIMPLE[t.kind]


def column_type(table: TableId, c: ColumnSchema) -> str:
    """DuckDB type for one column; a column without a usable type fails its table."""
    if c.type is None:
        raise TableFailed(str(table), c.unsupported_reason or f"unsupported type {c.source_type}")
    try:
        return duckdb_type(c.type)
    except ValueError as e:
        raise TableFailed(str(table), f"column {c.name!r}: {e}") from None


def qualified(table: TableId, catalog: str) -> str:
    """Always three parts: `schema.table` alone is ambiguous when a MySQL database has the same
    name as the DuckDB catalog (the file's stem), e.g. database `demodb` in `demodb.duckdb`."""
    return f"{ident(catalog)}.{ident(table.schema)}.{ident(table.table)}"
