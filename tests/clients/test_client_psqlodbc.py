"""psqlODBC (Debian's odbc-postgresql, the PostgreSQL ODBC driver behind Power BI, Excel and
Tableau's ODBC connections) through unixODBC and pyodbc: SQLTables, SQLColumns, SQLPrimaryKeys, SQLForeignKeys,
SQLGetTypeInfo, SQLStatistics (which asks pg_get_indexdef(oid, n, true) for n = 1, 2, ... until
it gets '', PostgreSQL's answer past the last column) and a query with a parameter, on a
DSN-less connection string naming the driver's library.

Skipped only when the driver library is not installed (.ci/run installs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyodbc
import pytest
from tests.client_support import SOURCE, TARGET, Endpoint

DRIVERS = [
    Path("/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so"),
    Path("/usr/lib/aarch64-linux-gnu/odbc/psqlodbcw.so"),
]
DRIVER = next((d for d in DRIVERS if d.exists()), None)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(DRIVER is None, reason="psqlODBC (odbc-postgresql) not installed"),
]


def _conn_str(ep: Endpoint) -> str:
    return (
        f"DRIVER={DRIVER};SERVER={ep.host};PORT={ep.port};DATABASE={TARGET};"
        f"UID={ep.user};PWD={ep.password};SSLMODE=disable"
    )


@pytest.fixture
def odbc(endpoint: Endpoint) -> Iterator[pyodbc.Cursor]:
    conn = pyodbc.connect(_conn_str(endpoint), timeout=30)
    yield conn.cursor()
    conn.close()


def test_sqltables_and_sqlcolumns(odbc: pyodbc.Cursor) -> None:
    tables = {(r.table_schem, r.table_name): r.table_type for r in odbc.tables(schema=SOURCE)}
    assert tables[(SOURCE, "customers")] == "TABLE"
    assert tables[(SOURCE, "order_lines")] == "TABLE"
    cols = odbc.columns(table="customers", schema=SOURCE).fetchall()
    got = [(c.column_name, c.type_name, c.column_size, c.nullable) for c in cols]
    assert got == [
        ("id", "int4", 10, 0),
        ("name", "varchar", 30, 0),
        ("email", "varchar", 100, 1),
        ("balance", "numeric", 10, 1),
        ("created", "timestamp", 26, 1),
        ("flags", "int2", 5, 1),
    ]
    assert cols[3].decimal_digits == 2


def test_sqlforeignkeys_and_sqlgettypeinfo(odbc: pyodbc.Cursor) -> None:
    assert odbc.foreignKeys(table="order_lines", schema=SOURCE).fetchall() == []
    types = {r.type_name: r.data_type for r in odbc.getTypeInfo()}
    assert types["int4"] == 4 and types["int8"] == -5 and "varchar" in types


def test_sqlprimarykeys(odbc: pyodbc.Cursor) -> None:
    keys = odbc.primaryKeys(table="order_lines", schema=SOURCE).fetchall()
    assert [(k.column_name, k.key_seq, k.pk_name) for k in keys] == [
        ("order_id", 1, "order_lines_pkey"),
        ("line_no", 2, "order_lines_pkey"),
    ]


STATISTICS = """
import json, sys, pyodbc
cur = pyodbc.connect(sys.argv[1], timeout=30).cursor()
rows = cur.statistics(table=sys.argv[2], schema=sys.argv[3]).fetchall()
print(json.dumps([[r.index_name, r.non_unique, r.ordinal_position, r.column_name] for r in rows]))
"""


def test_sqlstatistics_ends(endpoint: Endpoint) -> None:
    # In a child process: when pg_get_indexdef never answers '' the driver loops and then
    # crashes its process, which must fail this test, not end the test session.
    r = subprocess.run(
        [sys.executable, "-c", STATISTICS, _conn_str(endpoint), "order_lines", SOURCE],
        capture_output=True,
        text=True,
        timeout=30,  # it answers in about a second; a loop would go on for minutes
    )
    assert r.returncode == 0, r.stderr[-2000:]
    stats = [tuple(s) for s in json.loads(r.stdout) if s[0]]
    assert stats == [
        ("order_lines_pkey", 0, 1, "order_id"),
        ("order_lines_pkey", 0, 2, "line_no"),
    ]


def test_query_with_parameter(odbc: pyodbc.Cursor) -> None:
    got = odbc.execute(
        f"select name, balance from {SOURCE}.customers where id = ? order by id", 1
    ).fetchall()
    assert [(r[0], str(r[1])) for r in got] == [("Ann", "10.50")]
