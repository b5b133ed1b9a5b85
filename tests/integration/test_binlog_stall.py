"""The binlog connection never times out because of our own slowness, and the reconnect
backoff resets after progress.

A private MariaDB runs with `net_write_timeout=1`: its dump thread drops a replica that stops
reading for a second. A destination whose commit sleeps while the source writes tens of MB
stands in for a long warehouse commit (a transaction touching thousands of tables).
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_source_faults import Live
from tests.service_support import wait_for

from zeroetl.sandbox.mariadb import MariaDBServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS_PER_TXN = 400
PAD = 2000  # bytes per row: each transaction is ~0.8 MB of binlog


@pytest.fixture(scope="module")
def impatient() -> Iterator[MariaDBServer]:
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-stall-"))
    srv = MariaDBServer(
        tmp / "data", free_port(), server_id=1, extra_args=("--net-write-timeout=1",)
    )
    srv.start()
    srv.create_replication_user()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _count(live: Live, db: str) -> int:
    cur = live.dest.reader()
    try:
        row = cur.execute(f'SELECT count(*) FROM "{db}".big').fetchone()
        return int(row[0]) if row else 0
    finally:
        cur.close()


def test_slow_commit_keeps_the_binlog_connection(impatient, tmp_path) -> None:
    db = "stall"
    conn = impatient.root()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.big (id INT PRIMARY KEY, pad VARCHAR({PAD}))")
        cur.execute(f"INSERT INTO {db}.big VALUES (0, 'first')")
    live = Live(impatient, tmp_path / "wh", db)
    loaded = threading.Event()
    in_commit = threading.Event()
    slow = [False]
    commit = live.dest.commit

    def slow_commit() -> None:  # the writer thread stalls while the source writes ~30 MB
        if slow[0]:
            slow[0] = False
            in_commit.set()
            loaded.wait(60)
            time.sleep(3)  # three net_write_timeouts past the end of the load
        commit()

    live.dest.commit = slow_commit  # type: ignore[method-assign]
    try:
        live.wait_state(db, "big", "Synced")
        slow[0] = True
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {db}.big VALUES (1, 'wake the writer')")
        in_commit.wait(30)
        pad = "x" * PAD
        n = 2
        with conn.cursor() as cur:
            for _ in range(36):
                cur.executemany(
                    f"INSERT INTO {db}.big VALUES (%s, %s)",
                    [(n + i, pad) for i in range(ROWS_PER_TXN)],
                )
                n += ROWS_PER_TXN
        loaded.set()
        wait_for(lambda: _count(live, db) == n, f"{n} rows replicated", timeout=120)
        assert live.rep.reconnects == 0
        assert live.rep.phase == "streaming"
    finally:
        loaded.set()
        live.stop()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE {db}")
        conn.close()


def _kill_dump_threads(server: MariaDBServer) -> int:
    conn = server.root()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'"
            )
            ids = [r[0] for r in cur.fetchall()]
            for i in ids:
                cur.execute(f"KILL {int(i)}")
        return len(ids)
    finally:
        conn.close()


def test_backoff_resets_after_progress(mariadb, db_conn, test_db, tmp_path, caplog) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, qty INT, note TEXT)")
    live = Live(mariadb, tmp_path / "wh", test_db, reconnect_max_s=30.0)
    caplog.set_level(logging.WARNING, logger="zeroetl.engine.runner")
    try:
        live.wait_state(test_db, "orders", "Synced")
        for i in range(4):
            before = live.rep.committed
            with db_conn.cursor() as cur:
                cur.execute(f"INSERT INTO orders VALUES ({i}, {i}, 'row')")
            wait_for(lambda: live.rep.committed != before, "the insert committed")  # noqa: B023
            assert _kill_dump_threads(mariadb) >= 1
            wait_for(lambda: live.rep.reconnects == i + 1, "a reconnect")  # noqa: B023
            wait_for(lambda: live.rep.phase == "streaming", "streaming again")
    finally:
        live.stop()
    waits = [
        float(m.group(1))
        for r in caplog.records
        if (m := re.search(r"reconnecting in ([\d.]+)s", r.getMessage()))
    ]
    assert waits == [0.5, 0.5, 0.5, 0.5]
