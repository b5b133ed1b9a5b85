"""Redshift-shaped answers from a real `zeroetl serve` over psycopg (and psql): result types
(SUM of integers BIGINT, varchar/char lengths in RowDescription), column labels, schema `public`
and search_path `"$user", public` in dev, and errors that never name internal objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from tests.sandbox_support import Warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wh(mariadb_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    w = Warehouse.start(
        mariadb_server, tmp_path_factory.mktemp("shapes"), source_db="shp", target="shp_wh"
    )
    try:
        w.source(
            "CREATE TABLE typed (id INT PRIMARY KEY, s SMALLINT, b BIGINT, name VARCHAR(30),"
            " code CHAR(4), price DECIMAL(10,2), body TEXT)",
            "INSERT INTO typed VALUES (1, 2, 3, 'abc', 'ab', 1.50, 'x'),"
            " (2, 3, 4, 'de', 'cd', 2.25, 'y')",
        )
        w.wait_source_rows("typed", 2)
        yield w
        w.stop()
    finally:
        w.serve.kill()


def described(cur: psycopg.Cursor[Any]) -> list[tuple[str, int, int]]:
    """(label, type OID, typmod) of each column, as RowDescription sent them."""
    assert cur.description is not None and cur.pgresult is not None
    return [(d.name, d.type_code, cur.pgresult.fmod(i)) for i, d in enumerate(cur.description)]


T = "shp_wh.shp.typed"


@pytest.mark.parametrize("prepare", [False, True], ids=["simple", "extended"])
def test_types_and_lengths_as_redshift_gives_them(wh: Warehouse, prepare: bool) -> None:
    with wh.connect() as c:
        cur = c.execute(f"select * from {T} order by id", prepare=prepare)
        assert described(cur) == [
            ("id", 23, -1), ("s", 21, -1), ("b", 20, -1), ("name", 1043, 34),
            ("code", 1042, 8), ("price", 1700, (10 << 16 | 2) + 4), ("body", 25, -1),
        ]  # fmt: skip
        assert cur.fetchall()[0] == (1, 2, 3, "abc", "ab", Decimal("1.50"), "x")
        cur = c.execute(
            f"select sum(id), sum(s), sum(b), avg(s), avg(price), sum(price), count(*),"
            f" name::varchar(2), cast(id as char(3)) from {T} group by name, id order by name",
            prepare=prepare,
        )
        assert described(cur) == [
            ("sum", 20, -1), ("sum", 20, -1), ("sum", 20, -1), ("avg", 20, -1),
            ("avg", 1700, (38 << 16 | 2) + 4), ("sum", 1700, (38 << 16 | 2) + 4),
            ("count", 20, -1), ("name", 1043, 6), ("id", 1042, 7),
        ]  # fmt: skip
        assert cur.fetchall()[0] == (1, 2, 3, 2, Decimal("1.50"), Decimal("1.50"), 1, "ab", "1")
        # binary results decode as the announced types
        row = c.cursor(binary=True).execute(f"select sum(b), count(*) from {T}").fetchone()
        assert row == (7, 2) and all(type(v) is int for v in row)


def test_labels_as_redshift_gives_them(wh: Warehouse) -> None:
    with wh.connect() as c:
        cur = c.execute(
            f"select current_database(), getdate(), sysdate, datediff(day, '2024-01-01', getdate()),"
            f" dateadd(day, 1, '2024-01-01'), count(*), sum(id), id::int, 1 + 1, nvl(name, '-'),"
            f" current_timestamp, now() from {T} group by id, name"
        )
        assert [d.name for d in cur.description or []] == [
            "current_database", "getdate", "timestamp", "date_diff", "date_add", "count", "sum",
            "id", "?column?", "coalesce", "current_timestamp", "now",
        ]  # fmt: skip
        assert cur.fetchall()[0][0] == "dev"


def test_public_schema_and_search_path_in_dev(wh: Warehouse) -> None:
    with wh.connect() as c:
        assert c.execute("show search_path").fetchall() == [('"$user", public',)]
        assert c.execute("select current_schema(), current_schemas(true)").fetchall() == [
            ("public", ["pg_catalog", "public"])
        ]
        c.execute("drop table if exists shaped_here")
        c.execute("create table shaped_here (a int)")
        c.execute("insert into shaped_here values (1)")
        assert c.execute("select count(*) from public.shaped_here").fetchone() == (1,)
        assert c.execute("select count(*) from dev.public.shaped_here").fetchone() == (1,)
        # SET search_path TO public in dev means dev's public schema (it meant DuckDB's main)
        c.execute("set search_path to public")
        assert c.execute("select a from shaped_here").fetchall() == [(1,)]
        assert c.execute("select current_schemas(false)").fetchone() == (["public"],)
        c.execute("drop table shaped_here")
    with wh.connect(wh.target) as c:  # a replicated database: public too, internals hidden
        assert c.execute("select current_schemas(true)").fetchone() == (["pg_catalog", "public"],)
        assert c.execute("select count(*) from shp.typed").fetchone() == (2,)


MISTAKES = [
    ("select * from tables", "42P01"),  # suggested dev._zeroetl / db._zeroetl tables
    ("select * from objects", "42P01"),
    ("select * from mviews", "42P01"),
    ("select * from checkpoint", "42P01"),
    (f"select * from {T}s", "42P01"),
    ("select * from shp_wh.shpp.typed", "42P01"),
    (f"select nme from {T}", "42703"),
    ("select zeroetl_getdat()", "42883"),
    ("select lenn('x')", "42883"),
    ("select * from pg_clas", "42P01"),
]
HINTS = {"select * from pg_clas": 'Did you mean "pg_class"?', f"select nme from {T}": '"name"'}


@pytest.mark.parametrize("sql,state", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_errors_never_name_internal_objects(wh: Warehouse, sql: str, state: str | None) -> None:
    with wh.connect() as c, pytest.raises(psycopg.Error) as e:
        c.execute(sql)
    diag = e.value.diag
    text = f"{diag.message_primary}\n{diag.message_detail}\n{diag.message_hint}"
    for word in ("zeroetl_", "_zeroetl", "duckdb_", "zq_", "memory.", "LINE 1"):
        assert word not in text, text
    if state is not None:
        assert diag.sqlstate == state, text
    if sql in HINTS:
        assert HINTS[sql] in (diag.message_hint or ""), text


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql not installed")
def test_psql_shows_redshift_labels(wh: Warehouse) -> None:
    env = {**os.environ, "PGPASSWORD": wh.serve.sql_password, "PGCONNECT_TIMEOUT": "10"}
    port = wh.dsn().split("port=")[1].split()[0]
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", port, "-U", "admin", "-d", "dev", "-X", "-A", "-c",
         f"select getdate() is not null, sum(s), current_database() from {T}"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.splitlines()[:2] == ["?column?|sum|current_database", "t|5|dev"]
