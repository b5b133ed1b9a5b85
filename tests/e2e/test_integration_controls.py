"""Pause, resume and restart of one integration, the activity and state-change commands,
`--query-all-states`, svv_integration's latest_detected_change_time, and how the CLI finds a
local service: a real `zeroetl serve`, the real CLI in subprocesses, a real MariaDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.service_support import Serve

from zeroetl.sandbox.mariadb import MariaDBServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "wh", tmp_path / "serve.log")
    s.start()
    try:
        yield s
    finally:
        s.kill()


def zeroetl(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: none of the test run's ZEROETL_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
    return subprocess.run(
        [sys.executable, "-m", "zeroetl.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean | (env or {}),
        cwd=cwd,
    )


def _insert(conn: Any, db: str, ids: range) -> None:
    with conn.cursor() as cur:
        for i in ids:
            cur.execute(f"INSERT INTO `{db}`.t VALUES ({i}, {i * 10})")


def _svv(svc: Serve, iid: str) -> tuple[Any, ...]:
    with psycopg.connect(svc.sql_dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT state, latest_detected_change_time, latest_applied_change_time "
            "FROM svv_integration WHERE integration_id = %s",
            [iid],
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_pause_resume_restart(
    svc: Serve, mariadb: MariaDBServer, db_conn: Any, test_db: str
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    _insert(db_conn, test_db, range(1, 4))
    out = svc.cli(
        "create", "ctl", "--source", mariadb.url(), "--data-filter", f"include: {test_db}.*",
        "--target-database", "ctldb", "--query-all-states",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    it = svc.ok("GET", "/v1/integrations/ctl")
    assert it["query_all_states"] is True and it["errors"] == []
    table = f"{test_db}.t"
    svc.wait_rows("ctl", table, 3)
    svc.wait_state("ctl", "active")
    _insert(db_conn, test_db, range(4, 5))
    svc.wait_rows("ctl", table, 4)
    # The newest change the engine read: known, and never older than the newest applied one.
    state, detected, applied = _svv(svc, it["id"])
    assert state == "CdcRefreshState" and detected is not None and detected >= applied

    out = svc.cli("pause", "ctl")
    assert out.returncode == 0 and out.stdout.startswith("ctl: paused"), out.stdout + out.stderr
    view = svc.ok("GET", "/v1/integrations/ctl")
    assert (view["state"], view["replication_state"], view["phase"]) == (
        "paused",
        "PausedState",
        "paused",
    )
    assert _svv(svc, it["id"])[0] == "PausedState"
    assert svc.cli("pause", "ctl").returncode == 0  # pausing a paused one changes nothing
    refused = svc.cli("refresh", "ctl", "--all")
    assert refused.returncode == 1 and "InvalidIntegrationState" in refused.stderr
    assert "resume it first" in refused.stderr
    refused = svc.cli("restart", "ctl")
    assert refused.returncode == 1 and "paused" in refused.stderr
    _insert(db_conn, test_db, range(5, 8))

    # Paused survives a restart of the service: the changes made meanwhile are not applied.
    svc.stop()
    svc.start()
    assert svc.state("ctl") == "paused"
    assert svc.tables("ctl")[table]["rows"] == 4
    # Nothing read since the service started: the newest change it had applied.
    state, detected, applied = _svv(svc, it["id"])
    assert state == "PausedState" and detected is not None and detected == applied

    out = svc.cli("resume", "ctl")
    assert out.returncode == 0 and "ctl: " in out.stdout, out.stderr
    svc.wait_rows("ctl", table, 7)  # from the checkpoint: nothing lost
    svc.wait_state("ctl", "active")
    out = svc.cli("restart", "ctl", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["name"] == "ctl", out.stderr
    _insert(db_conn, test_db, range(8, 9))
    svc.wait_rows("ctl", table, 8)
    svc.wait_state("ctl", "active")

    # The state log, a page at a time, in JSON and for people.
    first = json.loads(svc.cli("state-changes", "ctl", "--json", "--limit", "2").stdout)
    assert len(first["items"]) == 2 and first["next_token"] == "2"
    everything = json.loads(svc.cli("state-changes", "ctl", "--json", "--limit", "1000").stdout)
    states = [c["state"] for c in everything["items"]]
    assert "paused" in states and states[-1] == "active", states
    reasons = " ".join(c["reason"] for c in everything["items"])
    assert "resumed" in reasons and "restarted on request" in reasons
    rest = json.loads(
        svc.cli("state-changes", "ctl", "--json", "--limit", "1000", "--next-token", "2").stdout
    )
    assert rest["items"] == everything["items"][2:]
    human = svc.cli("state-changes", "ctl", "--limit", "2")
    assert human.stdout.splitlines()[0].split() == ["TIME", "STATE", "REASON"]
    assert human.stdout.rstrip().endswith("(more: --next-token 2)")
    tables = json.loads(svc.cli("state-changes", "ctl", "--tables", "--json").stdout)["items"]
    assert {(c["schema"], c["table"]) for c in tables} == {(test_db, "t")}
    assert {"state", "reason", "checkpoint", "recorded_at"} <= set(tables[0])
    human = svc.cli("state-changes", "ctl", "--tables")
    assert human.stdout.splitlines()[0].split()[:3] == ["TIME", "TABLE", "STATE"]

    activity = json.loads(svc.cli("activity", "ctl", "--json", "--limit", "3").stdout)
    assert len(activity["items"]) == 3 and activity["next_token"] == "3"
    newest = activity["items"][0]
    assert newest["checkpoint_type"] == "cdc" and newest["tables_modified"] == 1, newest
    human = svc.cli("activity", "ctl")
    assert human.returncode == 0 and human.stdout.split()[:2] == ["APPLIED", "TYPE"]

    # target-database --query-all-states, as CREATE DATABASE ... SET QUERY_ALL_STATES = TRUE.
    svc.ok(
        "POST", "/v1/integrations",
        {"name": "later", "source": mariadb.url(), "data_filter": f"include: {test_db}.*"},
    )  # fmt: skip
    out = svc.cli("target-database", "later", "laterdb", "--query-all-states")
    assert out.returncode == 0, out.stderr
    later = svc.ok("GET", "/v1/integrations/later")
    assert later["target_database"] == "laterdb" and later["query_all_states"] is True
    svc.wait_rows("later", table, 8)


def test_the_cli_finds_the_local_service(svc: Serve, tmp_path: Path) -> None:
    wh = str(svc.warehouse)
    # The warehouse names both: service.json the address (no --api-url, no variable), and
    # api.token the token.
    for how in (["--warehouse", wh],):
        out = zeroetl("integration", "list", *how)
        assert out.returncode == 0 and out.stdout.startswith("NAME"), out.stderr
    out = zeroetl("integration", "list", "--json", env={"ZEROETL_WAREHOUSE": wh})
    assert out.returncode == 0 and json.loads(out.stdout) == {"items": []}, out.stderr
    project = tmp_path / "project"
    (project / ".zeroetl").mkdir(parents=True)
    (project / ".zeroetl" / "warehouse").symlink_to(svc.warehouse)
    out = zeroetl("integration", "list", cwd=project)  # where `zeroetl demo` puts it
    assert out.returncode == 0, out.stderr
    out = zeroetl("integration", "list", "--api-url", svc.url, "--api-token", svc.token)
    assert out.returncode == 0, out.stderr

    # The implicit .zeroetl/warehouse never lends its token to a service named elsewhere.
    out = zeroetl("integration", "list", "--api-url", svc.url, cwd=project)
    assert out.returncode == 2 and "no API token" in out.stderr, out.stderr
    for word in ("--warehouse DIR", "ZEROETL_API_TOKEN", "--api-token"):
        assert word in out.stderr

    # A wrong token: refused by the service, with where the token came from.
    out = zeroetl("integration", "list", "--api-url", svc.url, "--api-token", "not-it")
    assert out.returncode == 1 and "Unauthorized" in out.stderr and "--api-token" in out.stderr

    # Not a URL: a usage error, whichever way it came.
    port = svc.port
    out = zeroetl("integration", "list", "--warehouse", wh, "--api-url", f"127.0.0.1:{port}")
    assert out.returncode == 2 and "http://HOST:PORT" in out.stderr, out.stderr
    assert "is `zeroetl serve` running" not in out.stderr
    out = zeroetl("integration", "list", "--warehouse", wh, env={"ZEROETL_API_URL": "ftp://x"})
    assert out.returncode == 2 and "ZEROETL_API_URL" in out.stderr, out.stderr

    # A warehouse whose service is not running: unreachable, naming where the address came from.
    dead = tmp_path / "dead"
    dead.mkdir()
    (dead / "service.json").write_text(json.dumps({"host": "127.0.0.1", "api_port": free_port()}))
    (dead / "api.token").write_text("x")
    out = zeroetl("integration", "list", "--warehouse", str(dead))
    assert out.returncode == 1 and "ServiceUnavailable" in out.stderr
    assert str(dead / "service.json") in out.stderr
