"""The dbt example (examples/dbt) against a real `zeroetl serve`: small TICKIT replicated into
`aurora_zeroetl`, then `dbt run`, `dbt test` and `dbt run` again as subprocesses through
dbt-postgres, with a profiles.yml written here. The models land in the workspace `dev`.

dbt lives in an environment of its own (examples/dbt/requirements.txt: dbt-core 1.11 cannot
share one with the project's dev tools); it is built on first use in `.venv-dbt`, or taken from
ZEROETL_DBT (the path of a `dbt` executable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.service_support import Serve, wait_for

from zeroetl.sandbox import tickit
from zeroetl.sandbox.tickit_data import sizes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dbt"
SCALE = 0.01


def dbt_executable() -> Path:
    given = os.environ.get("ZEROETL_DBT")
    if given:
        return Path(given)
    venv = ROOT / ".venv-dbt"
    stamp = venv / ".installed"
    wanted = (EXAMPLE / "requirements.txt").read_text()
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "-r", str(EXAMPLE / "requirements.txt")],
            check=True,
            timeout=900,
        )
        stamp.write_text(wanted)
    return venv / "bin" / "dbt"


@pytest.fixture
def demodb(mariadb) -> Iterator[str]:  # type: ignore[no-untyped-def]
    conn = mariadb.root()
    tickit.load(conn, database="demodb", scale=SCALE, seed=11)
    conn.close()
    yield "demodb"
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS demodb")
    conn.close()


def test_dbt_run_and_test_against_the_endpoint(mariadb, demodb, source_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dbt = dbt_executable()
    serve = Serve(tmp_path / "wh", tmp_path / "serve.log")
    serve.start()
    try:
        created = serve.ok(
            "POST",
            "/v1/integrations",
            {"name": "tickit", "source": source_url, "data_filter": "include: demodb.*"},
        )
        with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
            dev.execute(f"CREATE DATABASE aurora_zeroetl FROM INTEGRATION '{created['id']}'")
        serve.wait_state(created["id"], "active", timeout=120)
        for table, count in sizes(SCALE).items():
            serve.wait_rows(created["id"], f"demodb.{table}", count)

        project = tmp_path / "project"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "logs"))
        profiles = tmp_path / "profiles"
        profiles.mkdir()
        profile = (EXAMPLE / "profiles.yml.example").read_text()
        profile = profile.replace("port: 5439", f"port: {serve.sql_port}")
        (profiles / "profiles.yml").write_text(profile)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ZEROETL_", "DBT_"))},
            "ZEROETL_SQL_PASSWORD": serve.sql_password,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

        def dbt_cmd(*args: str) -> str:
            out = subprocess.run(
                [str(dbt), *args, "--project-dir", str(project), "--profiles-dir", str(profiles)],
                capture_output=True,
                text=True,
                env=env,
                cwd=project,
                timeout=300,
            )
            assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
            return out.stdout

        first = dbt_cmd("run")
        assert "Completed successfully" in first, first
        tested = dbt_cmd("test")
        assert "ERROR=0" in tested and "PASS=" in tested, tested
        again = dbt_cmd("run")  # replaces the views and the table, refreshes the MV
        assert "Completed successfully" in again and "REFRESH MATERIALIZED VIEW" in again, again
        rebuilt = dbt_cmd("run", "--full-refresh")  # the MV replaced through renames
        assert "Completed successfully" in rebuilt, rebuilt

        with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
            views = dev.execute(
                "select viewname from pg_views where schemaname = 'staging' order by 1"
            ).fetchall()
            assert views == [("stg_events",), ("stg_sales",), ("stg_users",)]
            revenue = dev.execute("select sum(revenue) from public.event_sales").fetchone()
            raw = dev.execute("select sum(pricepaid) from aurora_zeroetl.demodb.sales").fetchone()
            assert revenue == raw
            mv = dev.execute(
                "select name, refresh_state, refreshes from svv_mv_info where name ="
                " 'top_sellers_mv'"
            ).fetchone()
            assert mv is not None and mv[1] == "refreshed", mv
            backups = dev.execute(
                "select count(*) from information_schema.tables where table_name like '%__dbt%'"
            ).fetchone()
            assert backups == (0,)
        wait_for(lambda: serve.state(created["id"]) == "active", "replication to stay active")
    finally:
        serve.kill()
