"""Commit pacing on real parts: a trickle of small MariaDB transactions into embedded ClickHouse
(chDB) becomes inserts no more often than the destination's interval, and the warehouse equals
the source at the end. `?min_insert_interval_ms=0` is the control: one insert per transaction.

Inserts are counted by ClickHouse itself: every commit writes its rows with one `_version`
(the commit's position), and the trickle only inserts new keys, so nothing is merged away."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zeroetl.destinations import base as destinations
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import TableId
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration

TXNS = 60
EVERY_S = 0.025


def wait_for(cond: Callable[[], bool], errors: list[BaseException], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert not errors, errors
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.mark.parametrize("interval_ms", [0, 500])
def test_a_trickle_becomes_inserts_no_more_often_than_the_interval(
    db_conn: Any, test_db: str, source_url: str, tmp_path: Path, interval_ms: int
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO t VALUES (0, 'seed')")
    url = f"chdb://{tmp_path / 'ch'}?min_insert_interval_ms={interval_ms}"
    dest = destinations.open_url(url, "pacing")
    assert dest.capabilities.min_commit_interval_s == interval_ms / 1000
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id="pacing",
        data_filter=DataFilter.parse(f"exclude: *.*, include: {test_db}.*"),
        settings=EngineSettings(prereq_check_s=0),
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
        started = time.monotonic()
        with db_conn.cursor() as cur:
            for i in range(1, TXNS + 1):
                cur.execute("INSERT INTO t VALUES (%s, %s)", (i, f"v{i}"))  # autocommit
                time.sleep(EVERY_S)
            end = server_binlog_position(db_conn)
        wait_for(lambda: rep.committed is not None and rep.committed >= end, errors)
        took = time.monotonic() - started
    finally:
        rep.stop()
        thread.join(timeout=30)
    assert not errors, errors
    try:
        table = f"`{test_db}`.`t`"
        inserts = dest.query(  # type: ignore[attr-defined]
            f"SELECT uniqExact(_version) AS n FROM {table} WHERE id > 0"
        ).to_pylist()[0]["n"]
        got = dest.read_table(TableId(test_db, "t"), ("id",)).to_pylist()  # type: ignore[attr-defined]
    finally:
        dest.close()
    with db_conn.cursor() as cur:
        cur.execute("SELECT id, v FROM t ORDER BY id")
        want = [{"id": i, "v": v} for i, v in cur.fetchall()]
    assert [{"id": r["id"], "v": r["v"]} for r in got] == want
    if interval_ms:
        # at most one insert per interval (the first one at once), whatever the source does
        assert inserts <= took / (interval_ms / 1000) + 1, (inserts, took)
    else:
        # the control: a commit whenever the stream is quiet (one per transaction, or a few
        # together when a commit takes longer than the gap on a loaded machine)
        assert inserts >= TXNS // 4, inserts
