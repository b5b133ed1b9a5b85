"""Adaptive batching, live against a real MariaDB: a quiet stream commits at once (not after
batch_ms), and what a reader sees always ends at a source transaction boundary."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from zeroetl.cli.replicate import open_integration
from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration


@contextmanager
def streaming(
    source_url: str, wh: Path, db: str, **settings: object
) -> Iterator[tuple[Replicator, DuckDBDestination]]:
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
        settings=EngineSettings(**settings),  # type: ignore[arg-type]
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            rep.run()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: rep.phase == "streaming" and rep.committed is not None, errors)
        yield rep, dest
    finally:
        rep.stop()
        thread.join(timeout=30)
        dest.close()
    assert not errors, errors


def wait_for(cond, errors: list[BaseException] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert not errors, errors
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def count(dest: DuckDBDestination, db: str, table: str) -> int:
    cur = dest.reader()
    try:
        row = cur.execute(f'SELECT count(*) FROM "target"."{db}"."{table}"').fetchone()
    finally:
        cur.close()
    assert row is not None
    return int(row[0])


def test_quiet_stream_commits_without_waiting_for_the_batch_age(
    db_conn, test_db, source_url, tmp_path
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    # A batch age of 10 minutes and heartbeats 20 s apart: before adaptive batching, the rows
    # below stayed invisible until the first heartbeat; now the quiet stream commits them.
    with streaming(source_url, tmp_path / "wh", test_db, batch_ms=600_000, heartbeat_s=20) as (
        rep,
        dest,
    ):
        with db_conn.cursor() as cur:
            for i in range(3):
                cur.execute("BEGIN")
                cur.execute("INSERT INTO t VALUES (%s, %s), (%s, %s)", (2 * i, i, 2 * i + 1, i))
                cur.execute("COMMIT")
            end = server_binlog_position(db_conn)
        wait_for(lambda: count(dest, test_db, "t") == 6, timeout=10)
        wait_for(lambda: rep.committed is not None and rep.committed >= end, timeout=10)


def test_readers_see_whole_source_transactions_only(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    # batch_rows far below the transaction's size: the stream seals inside it, and the engine
    # must still commit only at the source's commit.
    with streaming(source_url, tmp_path / "wh", test_db, batch_rows=50) as (_rep, dest):
        seen: set[int] = set()
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                seen.add(count(dest, test_db, "t"))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with db_conn.cursor() as cur:
            for i in range(5):
                cur.execute("BEGIN")
                for j in range(4):
                    lo = i * 2000 + j * 500
                    cur.execute(f"INSERT INTO t SELECT seq, seq FROM seq_{lo}_to_{lo + 499}")
                cur.execute("COMMIT")
        wait_for(lambda: count(dest, test_db, "t") == 10_000)
        stop.set()
        watcher.join(timeout=10)
    assert seen <= {0, 2000, 4000, 6000, 8000, 10_000}, sorted(seen)
