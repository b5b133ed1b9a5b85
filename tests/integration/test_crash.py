"""Nothing lost, nothing doubled: SIGKILL `zeroetl replicate` again and again under a random
workload (DDL included), restart the source, and check the warehouse equals the source."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.support import assert_table_equal, open_duck
from tests.workload import TABLES, Workload

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _replicate_cmd(url: str, wh: Path, db: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "zeroetl.cli.main",
        "replicate",
        "--source",
        url,
        "--warehouse",
        str(wh),
        "--database",
        "target",
        "--data-filter",
        f"exclude: *.*, include: {db}.*",
        "--chunk-rows",
        "50",
        "--batch-ms",
        "50",
        *extra,
    ]


def _catch_up(url: str, wh: Path, db: str) -> subprocess.CompletedProcess[bytes]:
    """`zeroetl replicate --until-caught-up`, which must exit 0."""
    out = subprocess.run(
        _replicate_cmd(url, wh, db, "--until-caught-up"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    return out


def _compare(db_conn, wh: Path, db: str) -> None:
    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        for t in TABLES:
            assert_table_equal(db_conn, duck, db, t)
        states = duck.execute(
            "SELECT table_name, table_state, reason FROM _zeroetl.tables"
        ).fetchall()
    finally:
        duck.close()
    bad = [s for s in states if s[1] not in ("Synced",) and s[0] in TABLES]
    assert not bad, bad


def sigkill_loop(
    source_url: str, wh, db: str, rounds: int, rnd: random.Random, alive_s: tuple[float, float]
) -> None:
    """Start `zeroetl replicate` and SIGKILL it after a random while, `rounds` times."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(rounds):
        proc = subprocess.Popen(
            _replicate_cmd(source_url, wh, db),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(rnd.uniform(*alive_s))
        if proc.poll() is not None:
            raise AssertionError(f"replicate exited early: {proc.stderr.read().decode()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_sigkill_loop_under_workload(mariadb, db_conn, test_db, source_url, tmp_path) -> None:
    wl = Workload(db_conn, test_db, seed=7)
    wl.create(rows=400)
    wh = tmp_path / "wh"
    stop = threading.Event()
    writer_conn = mariadb.root(test_db)
    writer = Workload(writer_conn, test_db, seed=8)
    writer.next_id = 10_000
    t = threading.Thread(target=writer.run, args=(stop,), kwargs={"pause_s": 0.002}, daemon=True)
    t.start()
    try:
        sigkill_loop(source_url, wh, test_db, 6, random.Random(3), (0.5, 2.5))
    finally:
        stop.set()
        t.join(timeout=30)
        writer_conn.close()
    _catch_up(source_url, wh, test_db)
    _compare(db_conn, wh, test_db)


def _dump_sessions(conn) -> set[int]:
    """Ids of the server's binlog dump sessions (other tests' integrations may have some)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'"
        )
        return {row[0] for row in cur.fetchall()}


def _wait_for_binlog_dump(
    conn, proc: subprocess.Popen, before: set[int], timeout: float = 120.0
) -> None:
    """Until the replicate process streams the binlog: a dump session that was not there before
    it started (the server is shared with other tests, whose sessions may linger)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        if _dump_sessions(conn) - before:
            return
        time.sleep(0.2)
    raise AssertionError("the integration never started streaming")


def test_source_restart_and_purged_binlog(mariadb, db_conn, test_db, source_url, tmp_path) -> None:
    wl = Workload(db_conn, test_db, seed=11, ddl=False)
    wl.create(rows=100)
    wh = tmp_path / "wh"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    before = _dump_sessions(db_conn)
    proc = subprocess.Popen(
        _replicate_cmd(source_url, wh, test_db),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # The source crashes under a running integration: once it streams (a source that cannot
        # be reached at start-up is an error at once, and start-up takes seconds under load).
        _wait_for_binlog_dump(db_conn, proc, before)
        mariadb.kill()
        time.sleep(1)
        mariadb.start()
        conn = mariadb.root(test_db)
        wl2 = Workload(conn, test_db, seed=12, ddl=False)
        wl2.next_id = 50_000
        for _ in range(200):
            wl2.step()
        conn.close()
        time.sleep(4)  # reconnects with backoff and catches up
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    out = _catch_up(source_url, wh, test_db)
    fresh = mariadb.root(test_db)
    _compare(fresh, wh, test_db)

    # While the integration is down, the binlog it needs is purged: a clear message and a
    # fresh snapshot, never a silent gap.
    wl3 = Workload(fresh, test_db, seed=13, ddl=False)
    wl3.next_id = 90_000
    for _ in range(50):
        wl3.step()
    with fresh.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        current = cur.fetchone()[0]
        cur.execute(f"PURGE BINARY LOGS TO '{current}'")
    for _ in range(50):
        wl3.step()
    out = _catch_up(source_url, wh, test_db)
    assert b"purged" in out.stderr.lower() or b"fresh snapshot" in out.stderr.lower(), (
        out.stderr.decode()[-2000:]
    )
    _compare(fresh, wh, test_db)
    fresh.close()


def test_sigkill_inside_one_large_source_transaction(
    mariadb, db_conn, test_db, source_url, tmp_path
) -> None:
    """One source transaction far larger than a batch is applied in pieces into one open
    warehouse transaction: SIGKILL while the pieces go in leaves the warehouse as before the
    transaction (no piece visible), and the restart applies it whole, nothing doubled."""
    rows = 150_000
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(30))")
        cur.execute(f"INSERT INTO big SELECT seq, 0, CONCAT('r', seq) FROM seq_1_to_{rows}")
    wh = tmp_path / "wh"
    _catch_up(source_url, wh, test_db)
    with db_conn.cursor() as cur:  # one transaction: update every row, delete some, insert some
        cur.execute("BEGIN")
        cur.execute("UPDATE big SET a = a + 1, b = CONCAT('u', id)")
        cur.execute("DELETE FROM big WHERE id % 10 = 0")
        cur.execute(f"INSERT INTO big SELECT seq, 7, 'new' FROM seq_{rows + 1}_to_{rows + 5000}")
        cur.execute("COMMIT")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [*_replicate_cmd(source_url, wh, test_db), "--batch-rows", "5000"]
    for wait_s in (1.0, 2.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(wait_s)
        if proc.poll() is not None:
            raise AssertionError(f"replicate exited early: {proc.stderr.read().decode()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        duck = open_duck(wh / "databases" / "target.duckdb")
        try:
            got = duck.execute(f'SELECT count(*), sum(a) FROM "{test_db}".big').fetchone()
        finally:
            duck.close()
        # all of the transaction or none of it: never some of its pieces
        assert got in ((rows, 0), (rows - rows // 10 + 5000, (rows - rows // 10) + 7 * 5000)), got
    _catch_up(source_url, wh, test_db)
    _compare_one(db_conn, wh, test_db, "big")


def _compare_one(db_conn, wh: Path, db: str, table: str) -> None:
    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        assert_table_equal(db_conn, duck, db, table)
    finally:
        duck.close()
