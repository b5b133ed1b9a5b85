"""Binlog retention headroom read from a real MariaDB: retention variables, the binlog list and
the start time of the file after the checkpoint's (its FORMAT_DESCRIPTION event)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.service.headroom import HeadroomProbe, read_retention
from zeroetl.sources.mysql.connection import SourceParams

pytestmark = pytest.mark.integration

DAYS_30 = 30 * 86400


def _set_retention(mariadb: MariaDBServer, seconds: int) -> None:
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute(f"SET GLOBAL binlog_expire_logs_seconds = {seconds}")
    conn.close()


@pytest.fixture
def retention(mariadb: MariaDBServer) -> Iterator[None]:
    """30 days (nothing the test server holds is that old, so nothing is purged)."""
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.binlog_expire_logs_seconds")
        (before,) = cur.fetchone()
    conn.close()
    _set_retention(mariadb, DAYS_30)
    try:
        yield
    finally:
        _set_retention(mariadb, int(before))


def _rotate(mariadb: MariaDBServer) -> list[str]:
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW BINARY LOGS")
        files = [str(r[0]) for r in cur.fetchall()]
    conn.close()
    return files


def test_headroom_of_the_active_and_of_a_closed_file(
    mariadb: MariaDBServer, source_url: str, retention: None
) -> None:
    params = SourceParams.from_url(source_url)
    before = time.time()
    files = _rotate(mariadb)
    closed, active = files[-2], files[-1]

    entry = read_retention("itest", params, active)
    assert entry.retention_s == DAYS_30 and entry.closed_at is None and not entry.error

    entry = read_retention("itest", params, closed)
    assert entry.closed_at is not None
    assert before - 2 <= entry.closed_at <= time.time() + 1  # the rotation we just did

    probe = HeadroomProbe()
    seconds, error = probe.seconds("itest", params, closed)
    assert not error and seconds is not None
    assert DAYS_30 - 60 < seconds <= DAYS_30
    assert probe.seconds("itest", params, active) == (DAYS_30, "")


def test_no_automatic_purge_is_infinite_headroom(mariadb: MariaDBServer, source_url: str) -> None:
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.binlog_expire_logs_seconds")
        (before,) = cur.fetchone()
    conn.close()
    _set_retention(mariadb, 0)
    try:
        files = _rotate(mariadb)
        seconds, error = HeadroomProbe().seconds(
            "itest", SourceParams.from_url(source_url), files[0]
        )
        assert seconds is not None and math.isinf(seconds) and not error
    finally:
        _set_retention(mariadb, int(before))


def test_an_unreachable_source_is_unknown_and_cached() -> None:
    params = SourceParams("127.0.0.1", free_port(), "nobody", "pw-never-shown")
    probe = HeadroomProbe()
    seconds, error = probe.seconds("gone", params, "binlog.000001")
    assert seconds is None and error and "pw-never-shown" not in error
    started = time.monotonic()
    assert probe.seconds("gone", params, "binlog.000001") == (None, error)  # from the cache
    assert time.monotonic() - started < 0.5
