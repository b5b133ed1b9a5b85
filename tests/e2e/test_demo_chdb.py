"""`zeroetl demo --destination chdb` as a user runs it: the sandbox MariaDB, TICKIT, the service,
the integration replicating into embedded ClickHouse (DIR/clickhouse), the sample analytics
printed, then live traffic with the console, the API and the SQL endpoint reachable, until
Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.e2e.test_cli import _titles_agree_with_rows, zeroetl
from tests.service_support import wait_for

from zeroetl.sandbox.mariadb import free_port
from zeroetl.sandbox.tickit import SAMPLE_QUERIES

# about 45 s with its re-runs; `make test` (CI: .ci/run) runs slow tests too
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_on_chdb(tmp_path: Path) -> None:
    port, api, sql = free_port(), free_port(), free_port()
    log = tmp_path / "demo.out"
    args = ["demo", "--destination", "chdb", "--scale", "0.03", "--rate", "5", "--port", str(port),
            "--dir", str(tmp_path), "--api-port", str(api), "--sql-port", str(sql)]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zeroetl.cli.main", *args],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or "\nlive:" in log.read_text(),
                 "the demo to reach its live traffic", 420)  # fmt: skip
        text = log.read_text()
        assert proc.poll() is None, text[-4000:]
        assert f"(in chdb://{(tmp_path / 'clickhouse').resolve()})" in text, text
        assert "active after" in text and "San Diego" in text, text
        assert "read from ClickHouse" in text and "source -> ClickHouse" in text
        for title, _sql in SAMPLE_QUERIES:
            assert title in text, title
        _titles_agree_with_rows(text)
        assert "Traceback" not in text and "ERROR" not in text

        # the console and the API with the token the demo printed
        token = re.search(r"#token=(\S+)", text)
        assert token is not None, text
        assert httpx.get(f"http://127.0.0.1:{api}/", timeout=10).status_code == 200
        listed = httpx.get(f"http://127.0.0.1:{api}/v1/integrations", timeout=10,
                           headers={"Authorization": f"Bearer {token.group(1)}"}).json()  # fmt: skip
        assert [(i["name"], i["destination"]) for i in listed["items"]] == [
            ("zero-etl-demo", f"chdb://{(tmp_path / 'clickhouse').resolve()}")
        ]

        # the SQL endpoint as the demo says (psycopg: psql's connection string), on ClickHouse
        password = (tmp_path / "warehouse" / "sql.password").read_text().strip()
        dsn = f"host=127.0.0.1 port={sql} user=admin dbname=aurora_zeroetl password={password}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("set search_path to demodb")
            before = conn.execute("select count(*) from sales").fetchone()
            assert before is not None and before[0] > 0
            tables = conn.execute(
                "select table_name from information_schema.tables where table_schema = 'demodb'"
                " order by 1"
            ).fetchall()
            assert [t for (t,) in tables] == sorted(
                ["users", "venue", "category", "date", "event", "listing", "sales"]
            )
            # the live traffic reaches ClickHouse
            wait_for(
                lambda: conn.execute("select count(*) from sales").fetchone()[0] > before[0],  # type: ignore[index]
                "live sales to be replicated",
                60,
            )

        # Ctrl-C: the traffic, the service and the demo stop cleanly
        proc.send_signal(signal.SIGINT)
        assert proc.wait(90) == 0, log.read_text()[-4000:]
        text = log.read_text()
        assert "\nstopped" in text and "The service stopped with the demo" in text, text[-2000:]
        assert "Traceback" not in text
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=2)

        # a re-run reuses the sandbox, the data and the integration in ClickHouse ...
        again = zeroetl("demo", *args[1:], "--once")
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "already loaded" in again.stdout and "read from ClickHouse" in again.stdout
        _titles_agree_with_rows(again.stdout)
        # ... and is refused, saying why, when asked for the other destination
        other = zeroetl("demo", *[a for a in args[1:] if a not in ("--destination", "chdb")],
                        "--once")  # fmt: skip
        assert other.returncode != 0 and "replicates into chdb://" in other.stderr, other.stderr
        assert "--destination chdb" in other.stderr and "Traceback" not in other.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        zeroetl("sandbox", "down", "--dir", str(tmp_path / "sandbox"))
