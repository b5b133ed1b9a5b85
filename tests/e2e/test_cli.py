"""The `zeroetl` command as a user runs it: exit codes, messages, no tracebacks, no secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support import assert_table_equal, open_duck

from zeroetl.sandbox.mariadb import free_port

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-Pa55word!"


def zeroetl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zeroetl.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def secret_user(mariadb) -> str:
    """A replication user whose password is easy to grep for."""
    mariadb.create_replication_user("secretive", SECRET)
    return f"mysql://secretive:{SECRET.replace('!', '%21')}@127.0.0.1:{mariadb.port}"


def test_source_check_ready(source_url) -> None:
    out = zeroetl("source", "check", source_url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ready" in out.stdout and "FAIL" not in out.stdout
    report = json.loads(zeroetl("source", "check", source_url, "--json").stdout)
    assert report["ready"] is True


MARKS = {"ok": "ok  ", "warning": "warn", "fail": "FAIL", "skipped": "skip"}


def test_source_check_human_and_json_agree(mariadb, source_url) -> None:
    """Each line's mark is the status --json gives, a warning included (a retention of one
    hour); mariadb:// works like mysql://."""
    root = mariadb.root()
    try:
        with root.cursor() as cur:
            cur.execute("SET GLOBAL binlog_expire_logs_seconds = 3600")
        url = source_url.replace("mysql://", "mariadb://")
        human = zeroetl("source", "check", url)
        data = json.loads(zeroetl("source", "check", url, "--json").stdout)
    finally:
        with root.cursor() as cur:
            cur.execute("SET GLOBAL binlog_expire_logs_seconds = 604800")
        root.close()
    assert human.returncode == 0 and data["ready"] is True, human.stdout
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    # (sessions: ok or, after other tests' SET GLOBAL on this shared server, a warning)
    assert statuses["binlog_retention"] == "warning" and "sessions" in statuses, statuses

    def steady(text: str) -> str:  # the growth rate is measured anew by each of the two runs
        return re.sub(r"grows ~[0-9.]+ MB/day", "grows ~N MB/day", text)

    for c in data["checks"]:
        line = f"[{MARKS[c['status']]}] {c['name']}: {c['actual']}"
        assert steady(line) in steady(human.stdout), c
    assert "note: SET GLOBAL binlog_expire_logs_seconds = 604800;" in human.stdout


def test_source_check_problems_are_one_line(mariadb) -> None:
    out = zeroetl("source", "check", "postgres://x@localhost")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "must start with mysql:// or mariadb:// (got postgres://)" in out.stderr
    port = free_port()
    out = zeroetl("source", "check", f"mysql://nobody@127.0.0.1:{port}")
    # Not reached: no empty "( )" where the server's name and version would be.
    assert out.stdout.splitlines()[0] == f"source mysql://nobody@127.0.0.1:{port}", out.stdout
    assert "[FAIL] connect: cannot connect" in out.stdout and "NOT ready" in out.stdout
    out = zeroetl("source", "check", f"mysql://nobody:{SECRET}@127.0.0.1:{free_port()}")
    assert out.returncode != 0 and "Traceback" not in out.stdout + out.stderr
    assert SECRET not in out.stdout + out.stderr
    out = zeroetl("source", "check", f"mysql://zeroetl:wrong-{SECRET}@127.0.0.1:{mariadb.port}")
    assert out.returncode != 0 and SECRET not in out.stdout + out.stderr


def test_replicate_resumes_and_never_shows_the_password(
    db_conn, test_db, secret_user, tmp_path
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        cur.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    wh = tmp_path / "wh"
    args = [
        "-vv",
        "replicate",
        "--source",
        secret_user,
        "--warehouse",
        str(wh),
        "--database",
        "appdb",
        "--data-filter",
        f"exclude: *.*, include: {test_db}.*",
        "--until-caught-up",
    ]
    first = zeroetl(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    with db_conn.cursor() as cur:
        cur.execute("UPDATE t SET v = 'uno' WHERE id = 1")
        cur.execute("INSERT INTO t VALUES (3, 'three')")
    second = zeroetl(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "snapshot" not in second.stderr.lower().replace("snapshot_start", ""), second.stderr
    duck = open_duck(wh / "databases" / "appdb.duckdb")
    try:
        assert_table_equal(db_conn, duck, test_db, "t")
    finally:
        duck.close()
    for out in (first, second):
        assert SECRET not in out.stdout + out.stderr
    assert SECRET.encode() not in (wh / "databases" / "appdb.duckdb").read_bytes()


def test_replicate_bad_input_is_a_clear_error(tmp_path, source_url) -> None:
    out = zeroetl(
        "replicate",
        "--source",
        source_url,
        "--warehouse",
        str(tmp_path),
        "--database",
        "x",
        "--data-filter",
        "include: [oops",
    )
    assert out.returncode == 1 and "data filter" in out.stderr and "Traceback" not in out.stderr
    out = zeroetl(
        "replicate",
        "--source",
        f"mysql://u:{SECRET}@127.0.0.1:{free_port()}",
        "--warehouse",
        str(tmp_path),
        "--database",
        "x",
        "--until-caught-up",
    )
    assert out.returncode == 1 and "cannot connect" in out.stderr, out.stderr
    assert SECRET not in out.stderr and "Traceback" not in out.stderr


def test_demo_once(tmp_path: Path) -> None:
    """The quickstart's main job, small: sandbox, TICKIT, service, integration, analytics."""
    port, api, sql = free_port(), free_port(), free_port()
    where = ["--dir", str(tmp_path), "--api-port", str(api), "--sql-port", str(sql)]
    try:
        out = zeroetl("demo", "--once", "--scale", "0.03", "--port", str(port), *where)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        assert "San Diego" in out.stdout and "active after" in out.stdout, out.stdout
        assert f"http://127.0.0.1:{api}/#token=" in out.stdout
        # It says what it leaves running and how to stop it.
        assert f"keeps running on 127.0.0.1:{port}" in out.stdout
        assert f"zeroetl sandbox down --dir {tmp_path / 'sandbox'}" in out.stdout
        _titles_agree_with_rows(out.stdout)
        curl = next(ln for ln in out.stdout.splitlines() if ln.startswith("API:")).split(None, 1)[1]

        # Without --port the re-run finds the sandbox where it runs (its directory records it).
        again = zeroetl("demo", "--once", *where)
        assert again.returncode == 0 and "already loaded" in again.stdout, (
            again.stdout + again.stderr
        )
        assert f"running on 127.0.0.1:{port}" in again.stdout
        # the analytics again, this time over the wire from a client
        serve = subprocess.Popen(
            [sys.executable, "-m", "zeroetl.cli.main", "serve", "--warehouse", str(tmp_path / "warehouse"),
             "--api-port", str(api), "--sql-port", str(sql)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            q = None
            for _ in range(100):  # no --port: the service recorded it in its warehouse
                q = zeroetl("tickit", "queries", "--warehouse", str(tmp_path / "warehouse"))
                if q.returncode == 0:
                    break
                time.sleep(0.2)
            assert q is not None and q.returncode == 0, q.stderr if q else ""
            assert "San Diego" in q.stdout and "select" in q.stdout.lower()
            _titles_agree_with_rows(q.stdout)
            # The curl hint, pasted into a shell as printed.
            listed = subprocess.run(["sh", "-c", curl + " -s"], capture_output=True, text=True)
            assert listed.returncode == 0, listed.stderr
            assert json.loads(listed.stdout)["items"][0]["name"] == "zero-etl-demo"
        finally:
            serve.terminate()
            serve.wait(60)
    finally:
        zeroetl("sandbox", "down", "--dir", str(tmp_path / "sandbox"))


def _titles_agree_with_rows(text: str) -> None:
    """Every "-- Top N ..." result shows all of its rows (N, or fewer when the small sample
    has fewer), never a cut below N, and its footer counts what is shown."""
    lines = text.splitlines()
    tops = [i for i, ln in enumerate(lines) if ln.startswith("-- Top ")]
    assert len(tops) >= 3, text
    for i in tops:
        n = int(lines[i].split()[2])
        footer = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("("))
        shown = footer - i - 2  # title, header, then the rows
        assert 0 < shown <= n and lines[footer] == f"({shown} rows)", lines[i : footer + 1]
