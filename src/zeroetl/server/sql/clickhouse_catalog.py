"""The replicated tables of a ClickHouse-backed target database in the pg_catalog emulation.

The emulation (catalog.py) lists a DuckDB-backed database from DuckDB's own catalog functions.
A ClickHouse-backed one has no DuckDB tables: its tables are read from ClickHouse
(`clickhouse_run.read_catalog`, the same list the query translation resolves names against:
the source's columns only, never `_version`, `_is_deleted`, `_synced_at`) and its primary keys
from the schemas the destination recorded. They are copied into the hub table
`_zeroetl_pg.zeroetl_ch_columns`, one row per column, with the PostgreSQL type a query of that
column returns (clickhouse_run.to_postgres, then the wire layer): Int32 -> integer, UInt32 ->
bigint, Decimal(p, s) -> numeric(p, s), DateTime64 -> timestamp, Date32 -> date, String ->
text (bytea for the source's binary columns) ...

A session connected to such a database sets two DuckDB variables on its own cursor:
`zeroetl_ch_db` (the catalog views then list that database's ClickHouse tables instead of the
hub's DuckDB objects, and `current_database()` inside them names it) and `zeroetl_ch_path` (its
search path, which `pg_table_is_visible` follows). Sessions refresh the copy before a hub
statement, at most every REFRESH_EVERY_S seconds per database, and write only when it changed.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
import zlib
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl.errors import ZeroEtlError
from zeroetl.model import Kind, TableSchema
from zeroetl.sqltext import ident

from .errors import SqlError
from .pgnames import SCHEMA

TABLE = "zeroetl_ch_columns"
REFRESH_EVERY_S = 1.0
DB_VARIABLE = "zeroetl_ch_db"
PATH_VARIABLE = "zeroetl_ch_path"
# oids of ClickHouse tables and schemas: above DuckDB's own, and + CON_OID (pgnames) still
# within PostgreSQL's uint32
OID_BASE = 800_000_000
OID_SPAN = 400_000_000

Rows = tuple[tuple[Any, ...], ...]

_lock = threading.Lock()
# per backend (one hub each), per database: when the copy was made and its rows
_written: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, Rows]]] = (
    weakref.WeakKeyDictionary()
)

_INTS = {"Int8": 21, "Int16": 21, "UInt8": 21, "Int32": 23, "UInt16": 23, "Int64": 20,
         "UInt32": 20, "Float32": 700, "Float64": 701, "Bool": 16, "Date": 1082,
         "Date32": 1082, "UUID": 2950}  # fmt: skip
_WIDE = ("UInt64", "Int128", "UInt128", "Int256", "UInt256")  # numeric, as DuckDB's UBIGINT
_DECIMAL_N = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}


def create_sql() -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE} (db VARCHAR, schema_name VARCHAR,"
        " table_name VARCHAR, table_oid BIGINT, schema_oid BIGINT, column_name VARCHAR,"
        " attnum SMALLINT, atttypid BIGINT, atttypmod INTEGER, attnotnull BOOLEAN,"
        " pk VARCHAR[], indkey SMALLINT[])"
    )


def tables_view_sql() -> str:
    """One row per table of the copy (catalog.py's views union it)."""
    return (
        f"CREATE OR REPLACE VIEW {SCHEMA}.zeroetl_ch_tables AS SELECT db, schema_name,"
        " table_name, any_value(table_oid) AS table_oid, any_value(schema_oid) AS schema_oid,"
        " count(*)::SMALLINT AS natts, any_value(pk) AS pk, any_value(indkey) AS indkey"
        f" FROM {SCHEMA}.{TABLE} GROUP BY db, schema_name, table_name"
    )


def oid(*names: str) -> int:
    return OID_BASE + zlib.crc32("\x00".join(names).encode()) % OID_SPAN


def pg_type(ch_type: str, binary: bool = False) -> tuple[int, int, bool]:
    """(type oid, typmod, nullable) of what a query of a column of `ch_type` returns."""
    t, nullable = ch_type.strip(), False
    while m := re.fullmatch(r"(Nullable|LowCardinality)\((.*)\)", t):
        nullable = nullable or m.group(1) == "Nullable"
        t = m.group(2).strip()
    name = t.split("(", 1)[0]
    if name in _INTS:
        return _INTS[name], -1, nullable
    if name in _WIDE:
        return 1700, -1, nullable
    if name == "Decimal" or name in _DECIMAL_N:
        nums = [int(n) for n in re.findall(r"\d+", t)]
        p, s = (nums[0], nums[1]) if name == "Decimal" else (_DECIMAL_N[name], nums[0])
        return 1700, ((p << 16) | s) + 4, nullable
    if name.startswith("DateTime"):
        return 1114, -1, nullable  # the wall-clock value (clickhouse_run.to_postgres)
    if name.startswith("Time"):
        return 1083, -1, nullable
    if name in ("String", "FixedString") and binary:
        return 17, -1, nullable
    return 25, -1, nullable


def rows(
    db: str, tables: dict[tuple[str, str], dict[str, str]], schemas: dict[Any, TableSchema]
) -> Rows:
    """The copy's rows for target database `db` (`schemas`: the recorded ones, by TableId)."""
    recorded = {(k.schema, k.table): v for k, v in schemas.items()}
    out = []
    for (schema, table), cols in sorted(tables.items()):
        rec = recorded.get((schema, table))
        kinds = {c.name: c.type.kind for c in rec.columns if c.type} if rec else {}
        names = list(cols)
        pk = [k for k in rec.primary_key if k in cols] if rec else []
        indkey = [names.index(k) + 1 for k in pk]
        t_oid, s_oid = oid(db, schema, table), oid(db, schema)
        for i, (name, ch_type) in enumerate(cols.items(), start=1):
            type_oid, typmod, nullable = pg_type(ch_type, kinds.get(name) is Kind.BINARY)
            out.append((db, schema, table, t_oid, s_oid, name, i, type_oid, typmod,
                        not nullable or name in pk, pk, indkey))  # fmt: skip
    return tuple(out)


def read(dest: Any) -> tuple[dict[tuple[str, str], dict[str, str]], dict[Any, TableSchema]]:
    """The destination's replicated tables and recorded schemas (ClickHouse errors raise)."""
    # Imported here: clickhouse_run pulls in sqlglot, and this module is imported by the
    # service's storage code (via catalog.py) in processes that never query ClickHouse.
    from . import clickhouse_run

    tables = clickhouse_run.read_catalog(dest).tables
    return tables, dest.recorded_schemas()


def refresh(backend: Any, home: str, db: str, dest: Any) -> list[str]:
    """Bring the copy of `db` up to date (at most every REFRESH_EVERY_S), writing through a
    new cursor of `backend`'s hub when it changed; the database's schemas.

    When ClickHouse cannot be read the copy keeps what it listed last: the catalog goes on
    answering, and the query that follows reports ClickHouse's error itself."""
    now = time.monotonic()
    with _lock:
        written = _written.setdefault(backend, {})
    last = written.get(db)
    if last is not None and now - last[0] < REFRESH_EVERY_S:
        return sorted({r[1] for r in last[1]})
    try:
        new = rows(db, *read(dest))
    except (ZeroEtlError, SqlError, OSError):  # a destination closing or failing
        return sorted({r[1] for r in last[1]}) if last else []
    with _lock:  # one writer of the copy at a time (DuckDB's write-write conflicts)
        last = written.get(db)
        if last is None or last[1] != new:
            _replace(backend.cursor(), f"{ident(home)}.{SCHEMA}.{TABLE}", db, new)
        written[db] = (now, new)
    return sorted({r[1] for r in new})


def _replace(con: duckdb.DuckDBPyConnection, target: str, db: str, new: Rows) -> None:
    try:
        con.execute("BEGIN")
        con.execute(f"DELETE FROM {target} WHERE db = ?", [db])
        if new:
            con.register("zq_ch_new", _arrow(new))
            con.execute(f"INSERT INTO {target} SELECT * FROM zq_ch_new")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


_ARROW = pa.schema([("db", pa.string()), ("schema_name", pa.string()), ("table_name", pa.string()),
                    ("table_oid", pa.int64()), ("schema_oid", pa.int64()),
                    ("column_name", pa.string()), ("attnum", pa.int16()),
                    ("atttypid", pa.int64()), ("atttypmod", pa.int32()),
                    ("attnotnull", pa.bool_()), ("pk", pa.list_(pa.string())),
                    ("indkey", pa.list_(pa.int16()))])  # fmt: skip


def _arrow(new: Rows) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(_ARROW.names, r, strict=True)) for r in new], _ARROW)


def set_database(con: duckdb.DuckDBPyConnection, db: str) -> None:
    con.execute(f"SET VARIABLE {DB_VARIABLE} = ?", [db])


def set_path(con: duckdb.DuckDBPyConnection, schemas: list[str]) -> None:
    con.execute(f"SET VARIABLE {PATH_VARIABLE} = ?::VARCHAR[]", [schemas])
