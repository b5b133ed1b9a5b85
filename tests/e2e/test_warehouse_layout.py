"""Where target databases live: `<warehouse>/databases/`, away from the warehouse's secrets.
A warehouse of the old layout is moved on start and keeps replicating; a database written by
`zeroetl replicate` in the foreground is served by `zeroetl serve` afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from tests.sandbox_support import Warehouse
from tests.service_support import Serve

from zeroetl.service.hub import database_path, migrate_layout

pytestmark = pytest.mark.integration


def test_migrate_layout_moves_each_file_once(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / "a.duckdb").write_bytes(b"A")
    (wh / "a.duckdb.wal").write_bytes(b"W")
    (wh / "b.duckdb").write_bytes(b"B")
    (wh / "catalog.sqlite3").write_bytes(b"C")
    assert migrate_layout(wh, only="b") == ["b"]
    assert database_path(wh, "b").read_bytes() == b"B" and (wh / "a.duckdb").exists()
    # A crash after the WAL moved: the next start finishes the job.
    (wh / "databases").mkdir(exist_ok=True)
    os.replace(wh / "a.duckdb.wal", wh / "databases" / "a.duckdb.wal")
    assert migrate_layout(wh) == ["a"]
    assert database_path(wh, "a").read_bytes() == b"A"
    assert (wh / "databases" / "a.duckdb.wal").read_bytes() == b"W"
    assert migrate_layout(wh) == []
    assert sorted(p.name for p in wh.iterdir()) == ["catalog.sqlite3", "databases"]


def test_old_layout_is_moved_on_start_and_keeps_replicating(mariadb_server, tmp_path) -> None:
    wh = Warehouse.start(mariadb_server, tmp_path, source_db="lay", target="lay_wh")
    try:
        wh.stop()
        for name in ("lay_wh.duckdb", "lay_wh.duckdb.wal"):
            new = wh.path / "databases" / name
            if new.exists():
                os.replace(new, wh.path / name)  # the layout before the data directory
        assert (wh.path / "lay_wh.duckdb").exists()
        wh.serve.start()
        assert database_path(wh.path, "lay_wh").exists()
        assert not (wh.path / "lay_wh.duckdb").exists()
        wh.healthy()
    finally:
        wh.serve.kill()


def test_foreground_replica_is_served_afterwards(mariadb, source_url, tmp_path) -> None:
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS fg")
        cur.execute("CREATE DATABASE fg")
        cur.execute("CREATE TABLE fg.t (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("INSERT INTO fg.t VALUES (1, 'one'), (2, 'two')")
    conn.close()
    wh = tmp_path / "wh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
    out = subprocess.run(
        [sys.executable, "-m", "zeroetl.cli.main", "replicate", "--source", source_url,
         "--warehouse", str(wh), "--database", "fgdb", "--data-filter", "include: fg.*",
         "--until-caught-up"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert database_path(wh, "fgdb").exists()
    serve = Serve(wh, tmp_path / "serve.log")
    serve.start()
    try:
        with psycopg.connect(serve.sql_dsn("fgdb"), autocommit=True) as db:
            assert db.execute("select id, v from fg.t order by id").fetchall() == [
                (1, "one"),
                (2, "two"),
            ]
        names = [d["name"] for d in serve.ok("GET", "/v1/databases")["items"]]
        assert names == ["fgdb"]
        assert "served read-only" in serve.log.read_text()
        # A restart serves it again, registered once.
        serve.stop()
        serve.start()
        assert [d["name"] for d in serve.ok("GET", "/v1/databases")["items"]] == ["fgdb"]
    finally:
        serve.kill()
