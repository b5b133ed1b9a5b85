"""Which tables a source holds and their current schemas, from INFORMATION_SCHEMA.

Used to plan a snapshot (and to re-plan after a data filter change). Decoding binlog events never
uses this: rows are decoded with the schema in force at their position (from TABLE_MAP).
Whole-source queries, not one per table: a source may hold thousands of tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from zeroetl.model import ColumnSchema, TableId, TableSchema
from zeroetl.sources.mysql.types import column_schema

SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})

_SYSTEM_LIST = ", ".join(f"'{s}'" for s in sorted(SYSTEM_SCHEMAS))


def _text(v: Any) -> str:
    # Some server/driver combinations return INFORMATION_SCHEMA text as bytes.
    return v.decode("utf-8") if isinstance(v, bytes | bytearray) else str(v)


def list_tables(conn: Any) -> list[TableId]:
    """Every base table outside the system schemas (views excluded), sorted."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
            f"WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ({_SYSTEM_LIST})"
        )
        rows = cur.fetchall()
    return sorted((TableId(_text(s), _text(t)) for s, t in rows), key=lambda t: (t.schema, t.table))


def load_schemas(conn: Any, tables: Iterable[TableId] | None = None) -> dict[TableId, TableSchema]:
    """Schemas of `tables` (default: every table of `list_tables`), in two queries.

    Tables that do not exist (or are views) are left out of the result. Columns are in ordinal
    order; the primary key is in key order.
    """
    wanted = set(list_tables(conn) if tables is None else tables)
    if not wanted:
        return {}
    schemas = sorted({t.schema for t in wanted})
    placeholders = ", ".join(["%s"] * len(schemas))
    columns: dict[TableId, list[ColumnSchema]] = defaultdict(list)
    keys: dict[TableId, list[str]] = defaultdict(list)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, "
            "c.CHARACTER_SET_NAME, c.IS_NULLABLE "
            "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
            "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
            f"WHERE t.TABLE_TYPE = 'BASE TABLE' AND c.TABLE_SCHEMA IN ({placeholders}) "
            "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            schemas,
        )
        for schema, table, name, dtype, ctype, charset, nullable in cur.fetchall():
            tid = TableId(_text(schema), _text(table))
            if tid in wanted:
                columns[tid].append(
                    column_schema(
                        _text(name),
                        _text(dtype),
                        _text(ctype),
                        _text(charset) if charset is not None else None,
                        _text(nullable) == "YES",
                    )
                )
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            f"WHERE CONSTRAINT_NAME = 'PRIMARY' AND TABLE_SCHEMA IN ({placeholders}) "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
            schemas,
        )
        for schema, table, name in cur.fetchall():
            tid = TableId(_text(schema), _text(table))
            if tid in wanted:
                keys[tid].append(_text(name))
    return {
        tid: TableSchema(id=tid, columns=tuple(cols), primary_key=tuple(keys.get(tid, ())))
        for tid, cols in sorted(columns.items(), key=lambda kv: (kv[0].schema, kv[0].table))
    }


def row_estimates(conn: Any, tables: Iterable[TableId]) -> dict[TableId, int]:
    """information_schema's row counts (InnoDB's estimates) of `tables`, by database."""
    wanted = set(tables)
    out = {t: 0 for t in wanted}
    for db in sorted({t.schema for t in wanted}):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s",
                (db,),
            )
            for name, rows in cur.fetchall():
                t = TableId(db, _text(name))
                if t in wanted:
                    out[t] = int(rows or 0)
    return out
