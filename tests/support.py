"""Comparing a MariaDB table with its DuckDB replica, value by value.

Both sides are read independently (pymysql's own conversions on one side, DuckDB's on the other)
and normalised to plain Python values, so a bug shared by our snapshot reader and our decoder
cannot hide here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct
from pathlib import Path
from typing import Any

import duckdb
import pymysql


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _dq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _norm(v: Any, mysql_type: str) -> Any:
    t = mysql_type.lower()
    if v is None:
        return None
    if t.startswith("float"):
        return struct.unpack("f", struct.pack("f", float(v)))[0]
    if t.startswith("bit"):
        return int.from_bytes(v, "big") if isinstance(v, bytes | bytearray) else int(v)
    zero_date = isinstance(v, str) and (v.startswith("0000") or v[5:7] == "00" or v[8:10] == "00")
    if zero_date and t.startswith(("date", "timestamp")):
        return None
    if isinstance(v, dt.timedelta):
        secs = v.days * 86400 + v.seconds
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60, v.microseconds)
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, bytearray):
        return bytes(v)
    if isinstance(v, decimal.Decimal):
        return v
    if t == "json" or (t.startswith("longtext") and isinstance(v, str) and v[:1] in "{["):
        try:
            return json.loads(v)
        except ValueError:
            return v
    if t.startswith("decimal") and isinstance(v, str):
        return decimal.Decimal(v)
    return v


def column_types(
    conn: pymysql.connections.Connection, db: str, table: str
) -> list[tuple[str, str, bool]]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, column_type, column_key = 'PRI' FROM information_schema.columns"
            " WHERE table_schema=%s AND table_name=%s ORDER BY ordinal_position",
            (db, table),
        )
        return [(r[0], r[1], bool(r[2])) for r in cur.fetchall()]


def source_rows(conn: pymysql.connections.Connection, db: str, table: str) -> list[tuple]:
    cols = column_types(conn, db, table)
    geo = {"geometry", "point", "linestring", "polygon"}

    def expr(c: str, t: str) -> str:
        base = t.split("(")[0].split(" ")[0]
        if base in geo:
            return f"ST_AsBinary({_q(c)})"
        if base == "float":  # FLOAT's text has 6 significant digits; DOUBLE's is exact
            return f"CAST({_q(c)} AS DOUBLE)"
        return _q(c)

    select = ", ".join(expr(c, t) for c, t, _ in cols)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {select} FROM {_q(db)}.{_q(table)}")
        rows = cur.fetchall()
    types = [t for _, t, _ in cols]
    out = [
        tuple(
            _norm(v, types[i] if types[i].split("(")[0] not in geo else "blob")
            for i, v in enumerate(r)
        )
        for r in rows
    ]
    keys = [i for i, (_, _, pk) in enumerate(cols) if pk]
    return sorted(out, key=lambda r: tuple(repr(r[i]) for i in keys))


def warehouse_rows(
    duck: duckdb.DuckDBPyConnection, db: str, table: str, types: list[str], key_idx: list[int]
) -> list[tuple]:
    duck.execute("SET TimeZone = 'UTC'")
    rows = duck.execute(f"SELECT * FROM {_dq(db)}.{_dq(table)}").fetchall()
    out = [tuple(_norm(v, types[i]) for i, v in enumerate(r)) for r in rows]
    return sorted(out, key=lambda r: tuple(repr(r[i]) for i in key_idx))


def assert_table_equal(
    conn: pymysql.connections.Connection, duck: duckdb.DuckDBPyConnection, db: str, table: str
) -> int:
    cols = column_types(conn, db, table)
    src = source_rows(conn, db, table)
    types = [t for _, t, _ in cols]
    keys = [i for i, (_, _, pk) in enumerate(cols) if pk]
    dst = warehouse_rows(duck, db, table, types, keys)
    wh_cols = [
        r[0]
        for r in duck.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema=? AND table_name=? ORDER BY ordinal_position",
            [db, table],
        ).fetchall()
    ]
    if wh_cols != [c for c, _, _ in cols]:
        # The warehouse follows the source's column order (ADD COLUMN ... FIRST/AFTER too).
        raise AssertionError(
            f"{db}.{table}: columns differ: source {[c for c, _, _ in cols]} warehouse {wh_cols}"
        )
    if src != dst:
        missing = [r for r in src if r not in dst][:3]
        extra = [r for r in dst if r not in src][:3]
        raise AssertionError(
            f"{db}.{table}: {len(src)} source rows vs {len(dst)} warehouse rows; "
            f"missing e.g. {missing}; unexpected e.g. {extra}"
        )
    return len(src)


def open_duck(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)
