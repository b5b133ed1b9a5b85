"""The catalog rewrites drivers' statements need (pgcompat.py) and the catalog answers behind them,
on a real DuckDB hub through SqlSession (the client matrix in tests/clients/ drives the same
through the real clients)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.sql_backend import HubBackend, add_table, sales_schema

from zeroetl.server.sql import dialect, pgcompat, rewrite
from zeroetl.server.sql.session import SqlSession


def translated(sql: str, database: str = "db") -> str:
    tree = dialect.parse(pgcompat.normalize(rewrite.normalize(sql)))
    pgcompat.rewrite(tree, database=database, home="memory", schema="_zeroetl_pg")
    return dialect.generate(tree)


def test_rewrites() -> None:
    late = translated(
        "select * from pg_get_late_binding_view_cols() cols(view_schema name, view_name name,"
        " col_name name, col_type varchar, col_num int)"
    )
    assert "cols(view_schema, view_name, col_name, col_type, col_num)" in late
    assert "WHERE FALSE" in late.upper()
    assert "ZEROETL_PG_EXPANDARRAY(i.indkey)" in translated(
        "select (information_schema._pg_expandarray(i.indkey)).n from pg_index i"
    )
    assert translated("select current_database as c from current_database()") == (
        "SELECT current_database AS c FROM (SELECT 'db' AS current_database) AS current_database"
    )
    assert '"memory"._zeroetl_pg.zeroetl_is_columns AS "columns"' in translated(
        "select * from information_schema.columns"
    )
    assert "information_schema.routines" in translated("select * from information_schema.routines")
    assert "i.indkey[(ia.attnum - 1) + 1]" in translated(
        "select 1 from pg_index i, pg_attribute ia where ia.attnum = i.indkey[ia.attnum-1]"
    )
    assert "typinput = 'array_in'" in translated(
        "select typinput='pg_catalog.array_in'::regproc from pg_type"
    )
    assert translated("select i.indkey, i.indoption as o from pg_index i") == (
        "SELECT ARRAY_TO_STRING(i.indkey, ' ') AS indkey, ARRAY_TO_STRING(i.indoption, ' ') AS o"
        " FROM pg_index AS i"
    )
    assert translated('select 1 as DEFAULT, 2 as "Keep"') == 'SELECT 1 AS "default", 2 AS "Keep"'


@pytest.fixture
def session(tmp_path: Path) -> Any:
    b = HubBackend(tmp_path)
    add_table(b.attach("aurora"), sales_schema(), [])
    s = SqlSession(b, database="aurora", user="admin")
    yield s
    s.close()


def rows(s: SqlSession, sql: str) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for batch in s.execute(sql).batches:
        out.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    return out


def test_catalog_answers_for_drivers(session: SqlSession) -> None:
    cols = rows(
        session,
        "select column_name, is_nullable, data_type, udt_name, character_maximum_length,"
        " numeric_precision, numeric_scale from information_schema.columns where table_name ="
        " 'sales' order by ordinal_position",
    )
    assert cols == [
        ("salesid", "NO", "integer", "int4", None, 32, 0),
        ("qtysold", "NO", "smallint", "int2", None, 16, 0),
        ("pricepaid", "YES", "numeric", "numeric", None, 8, 2),
        ("saletime", "YES", "timestamp without time zone", "timestamp", None, None, None),
        ("note", "YES", "character varying", "varchar", 20, None, None),
    ]
    index = rows(session, "select indexrelid from pg_index")[0][0]
    # psqlODBC asks column after column until '' (NULL made it loop)
    assert rows(session, f"select pg_get_indexdef({index}, 1, true)") == [("salesid",)]
    assert rows(session, f"select pg_get_indexdef({index}, 2, true)") == [("",)]
    # the index's own attribute rows (psqlODBC's and redshift_connector's primary keys)
    assert rows(session, f"select attname, attnum from pg_attribute where attrelid = {index}") == [
        ("salesid", 1)
    ]
    assert rows(session, "select setting from pg_settings where name = 'max_index_keys'") == [
        ("32",)
    ]
    assert rows(session, "select to_regtype('integer') = 23, format_encoding(0)") == [
        (True, "none")
    ]
    for view in ("svv_tables", "svv_columns", "svv_external_schemas", "svv_external_tables",
                 "svv_external_columns", "pg_proc_info"):  # fmt: skip
        rows(session, f"select * from {view}")  # answers, with Redshift's columns
    assert ("aurora", "demodb", "sales", "BASE TABLE", None) in rows(
        session, "select * from svv_tables"
    )
    assert [r[0] for r in rows(session, "select nspname from pg_namespace")].count("_zeroetl") == 0
