"""The SQL endpoint's catalog of a ClickHouse-backed target database, through real psql and
psycopg against a real `zeroetl serve`: the same source tables replicated into chDB (target
database `shop`) and into DuckDB (`shopd`) show the same tables, columns, keys and types in
`\\dt`, `\\d`, information_schema, svv_tables/svv_columns and pg_catalog, except where a query of
ClickHouse returns another type (`text` for a varchar: clickhouse_catalog.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.e2e.test_clickhouse_service import SECRET, _setup, _wait_synced
from tests.service_support import Serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("psql") is None, reason="psql (postgresql-client) not installed"
    ),
]


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "wh", tmp_path / "serve.log", env={"ZEROETL_CLICKHOUSE_PASSWORD": SECRET})
    s.start()
    try:
        yield s
    finally:
        s.kill()


def _psql(svc: Serve, db: str, *args: str, user: str = "admin", password: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=password or svc.sql_password, PGCONNECT_TIMEOUT="10")
    conninfo = f"host=127.0.0.1 port={svc.sql_port} user={user} dbname={db} sslmode=disable"
    r = subprocess.run(
        ["psql", conninfo, "-X", "-v", "ON_ERROR_STOP=1", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def _rows(svc: Serve, db: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(svc.sql_dsn(db), autocommit=True) as conn:
        cur = conn.execute(sql, list(args))
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def _as_clickhouse(text: str) -> str:
    """What DuckDB's listing becomes on ClickHouse: a varchar column is text there."""
    return text.replace("character varying(20)", "text                 ").replace("shopd", "shop")


def test_the_catalog_lists_clickhouse_tables_as_duckdb_ones(
    svc: Serve, tmp_path: Path, source_url: str, db_conn: Any, test_db: str
) -> None:
    _setup(db_conn)
    only = f"exclude: *.*, include: {test_db}.*"
    made = {}
    for name, target, dest in (("shop-ch", "shop", f"chdb://{tmp_path / 'ch'}"),
                               ("shop-duck", "shopd", None)):  # fmt: skip
        body = {"name": name, "source": source_url, "target_database": target, "data_filter": only}
        if dest:
            body["destination"] = dest
        made[target] = svc.ok("POST", "/v1/integrations", body)["id"]
    for iid in made.values():
        _wait_synced(svc, iid, test_db, db_conn)

    # psql: \dt and \d of the tables, qualified and through the search path
    listing = {db: _psql(svc, db, "-c", f'\\dt "{test_db}".*') for db in ("shop", "shopd")}
    assert " a " in listing["shop"] and " b " in listing["shop"] and "nokey" not in listing["shop"]
    assert listing["shop"] == _as_clickhouse(listing["shopd"])
    for table in ("a", "b"):
        d = {db: _psql(svc, db, "-c", f'\\d "{test_db}".{table}') for db in ("shop", "shopd")}
        assert d["shop"] == _as_clickhouse(d["shopd"]), d
        assert f'"{table}_pkey" PRIMARY KEY, btree (id)' in d["shop"]
        assert "_version" not in d["shop"] and "_synced_at" not in d["shop"]
    assert "not null" in _psql(svc, "shop", "-c", f'\\d "{test_db}".a')
    visible = _psql(svc, "shop", "-c", f'set search_path to "{test_db}"', "-c", "\\dt")
    assert " a " in visible and " b " in visible
    assert "Did not find any relations" in _psql(svc, "shop", "-c", "\\dt")  # not on the path

    # information_schema and Redshift's svv_* views, through psycopg
    cols = (
        "select table_schema, table_name, column_name, ordinal_position, is_nullable, data_type,"
        " numeric_precision, numeric_scale from {} where table_schema = %s order by 2, 4"
    )
    for view in ("information_schema.columns", "svv_columns"):
        ch, duck = (_rows(svc, db, cols.format(view), test_db) for db in ("shop", "shopd"))
        assert [r[:3] for r in ch] == [(test_db, "a", "id"), (test_db, "a", "v"),
                                       (test_db, "a", "d"), (test_db, "b", "id"),
                                       (test_db, "b", "amount")]  # fmt: skip
        assert ch == [(*r[:5], "text" if r[5] == "character varying" else r[5], *r[6:])
                      for r in duck]  # fmt: skip
    tables = (
        "select table_catalog, table_name, table_type from {} where table_schema = %s order by 2"
    )
    for view in ("information_schema.tables", "svv_tables"):
        assert _rows(svc, "shop", tables.format(view), test_db) == [
            ("shop", "a", "BASE TABLE"), ("shop", "b", "BASE TABLE")]  # fmt: skip
    # what the catalog says is what a query returns
    with psycopg.connect(svc.sql_dsn("shop"), autocommit=True) as conn:
        cur = conn.execute(f'select * from "{test_db}".b limit 1')
        returned = [(c.name, c.type_code) for c in cur.description or []]
        cataloged = conn.execute(
            "select attname, atttypid from pg_attribute where attrelid = %s::regclass and"
            " attnum > 0 order by attnum",
            [f"{test_db}.b"],
        ).fetchall()
        assert returned == [tuple(r) for r in cataloged] == [("id", 20), ("amount", 1700)]

    # grants: listing needs none (as for DuckDB), reading rows does
    _rows(svc, "dev", "create user ann password 'Annpass123'")
    seen = _psql(svc, "shop", "-c", f'\\dt "{test_db}".*', user="ann", password="Annpass123")
    assert " a " in seen
    ann = f"host=127.0.0.1 port={svc.sql_port} user=ann dbname=shop password=Annpass123"
    with (
        psycopg.connect(ann, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(f'select * from "{test_db}".a')
    svc.stop()
