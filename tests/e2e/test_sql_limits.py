"""Bounds on SQL sessions in a real `zeroetl serve`: statement_timeout as in PostgreSQL (and the
service's default and maximum), running slots shared by all sessions, a disconnect that cancels
its query, per-session memory and temp space set by the service.

Queries that would run for many minutes without the bound are the probes: a test that passes
shows the bound cut them (no timing is asserted)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.service_support import Serve, wait_for

pytestmark = pytest.mark.integration

FOREVER = "select sum(i) from range(100000000000) t(i)"  # minutes of CPU, no memory


def error_of(conn: psycopg.Connection[Any], sql: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as err:
        conn.execute(sql).fetchall()
    return err.value


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("limits")
    serve = Serve(
        root / "wh",
        root / "serve.log",
        "--sql-statement-timeout", "30s",
        "--sql-max-statement-timeout", "3s",
        "--sql-max-running", "1",
        "--memory-limit", "600MB",
        "--sql-session-memory", "32MB",
        "--temp-limit", "64MB",
    )  # fmt: skip
    serve.start()
    yield serve
    serve.stop()


def test_statement_timeout_as_in_postgresql(limited: Serve) -> None:
    with psycopg.connect(limited.sql_dsn(), autocommit=True) as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("30s",)  # the default
        for value, shown in (("'1s'", "1s"), ("1000", "1s"), ("'1500ms'", "1500ms"),
                             ("'2min'", "2min"), ("'0'", "0"), ("0", "0")):  # fmt: skip
            conn.execute(f"set statement_timeout = {value}")
            assert conn.execute("show statement_timeout").fetchone() == (shown,)
        err = error_of(conn, "set statement_timeout = 'soon'")
        assert err.sqlstate == "22023" and "statement_timeout" in str(err)
        err = error_of(conn, "set statement_timeout = -5")
        assert err.sqlstate == "22023"
        conn.execute("set statement_timeout to 1000")
        err = error_of(conn, FOREVER)
        assert err.sqlstate == "57014"
        assert err.diag.message_primary == "canceling statement due to statement timeout"
        assert conn.execute("select 1").fetchone() == (1,)  # the session goes on
        conn.execute("reset statement_timeout")
        assert conn.execute("show statement_timeout").fetchone() == ("30s",)
        # No session outlives the service's maximum (3s here), whatever it sets.
        conn.execute("set statement_timeout = 0")
        err = error_of(conn, FOREVER)
        assert (err.sqlstate, err.diag.message_primary) == (
            "57014",
            "canceling statement due to statement timeout",
        )


def test_timeout_in_a_transaction_and_extended_protocol(limited: Serve) -> None:
    with psycopg.connect(limited.sql_dsn()) as conn:
        conn.execute("set statement_timeout = '1s'")
        err = error_of(conn, "select sum(i) from range(%s) t(i)" % (10**11))
        assert err.sqlstate == "57014"
        conn.rollback()
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("select sum(i) + %s from range(100000000000) t(i)", [1]).fetchall()
        assert raised.value.sqlstate == "57014"
        conn.rollback()
        assert conn.execute("select %s::int", [7]).fetchone() == (7,)


def test_one_running_slot_is_shared_and_a_disconnect_frees_it(limited: Serve) -> None:
    """With one slot, a running statement makes the others wait (their timeout counts the
    wait); a client that vanishes mid-query gives its slot back at once."""
    started = threading.Event()

    def hog(conn: psycopg.Connection[Any]) -> None:
        started.set()
        try:
            conn.execute("set statement_timeout = 0")  # capped at 3s by the service
            conn.execute(FOREVER)
        except psycopg.Error:
            pass

    hogger = psycopg.connect(limited.sql_dsn(), autocommit=True)
    t = threading.Thread(target=hog, args=(hogger,))
    t.start()
    started.wait(10)
    with psycopg.connect(limited.sql_dsn(), autocommit=True) as other:
        other.execute("set statement_timeout = 300")

        def waits() -> bool:  # until the hog holds the slot, `select 1` may get through
            try:
                other.execute("select 1").fetchone()
                return False
            except psycopg.Error as e:
                assert e.sqlstate == "57014" and "statement timeout" in str(e)
                return True

        wait_for(waits, "select 1 to wait for the only slot", 10)
    t.join(30)
    hogger.close()

    # A client that vanishes: its statement is cancelled and the slot comes back.
    raw = psycopg.connect(limited.sql_dsn(), autocommit=True)
    raw.execute("set statement_timeout = 0")
    sock = socket.socket(fileno=raw.fileno())
    raw.pgconn.send_query(FOREVER.encode())
    with psycopg.connect(limited.sql_dsn(), autocommit=True) as other:
        other.execute("set statement_timeout = 300")
        wait_for(lambda: _blocked(other), "the vanishing client's query to hold the slot", 10)
        sock.shutdown(socket.SHUT_RDWR)
        sock.detach()
        other.execute("set statement_timeout = '2500ms'")  # less than the 3s maximum
        assert other.execute("select 42").fetchone() == (42,)
    with contextlib.suppress(Exception):
        raw.close()


def _blocked(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute("select 1").fetchone()
        return False
    except psycopg.Error as e:
        return e.sqlstate == "57014"


def test_memory_and_temp_space_are_bounded(limited: Serve) -> None:
    with psycopg.connect(limited.sql_dsn(), autocommit=True) as conn:
        conn.execute("set statement_timeout = 0")
        # Non-spillable state far beyond the service's memory: refused, not the host's RAM.
        err = error_of(conn, "select length(list(i)::varchar) from range(200000000) t(i)")
        assert err.sqlstate == "53200", str(err)
        # A sort far bigger than the session's memory spills, within the temp space cap.
        err = error_of(
            conn,
            "select count(*) from (select i, repeat('x', 200) as s from range(3000000) t(i)"
            " order by s desc, i)",
        )
        assert err.sqlstate in ("53100", "53200"), str(err)
        assert conn.execute("select count(*) from range(1000)").fetchone() == (1000,)
    temp = limited.warehouse / "tmp"
    assert temp.is_dir() and temp.stat().st_mode & 0o077 == 0

    def spilled() -> int:
        # DuckDB's `_owner` mark aside, the bytes of spill files still in the temp directory
        return sum(p.stat().st_size for p in temp.iterdir() if not p.name.endswith("_owner"))

    # The server closes the session's cursor (and DuckDB frees its spill, hundreds of MB here)
    # just after the client hangs up. Under the pressure this test makes, DuckDB may also have
    # evicted one block of a long-lived buffer (96-256 KiB), which stays until that is freed:
    # allow a few blocks, never the session's spill.
    deadline = time.monotonic() + 10
    while spilled() > 1 << 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spilled() <= 1 << 20, f"spill files left behind: {sorted(temp.iterdir())}"
    assert "memory limit 572.2 MiB" in limited.log.read_text()  # 600MB, as DuckDB prints it


def test_settings_of_the_hub_are_out_of_reach(limited: Serve) -> None:
    with psycopg.connect(limited.sql_dsn(), autocommit=True) as conn:
        for sql in ("set memory_limit = '10GB'", "set threads = 64",
                    "set max_temp_directory_size = '1TB'", "set operator_memory_limit = '10GB'",
                    "reset memory_limit", "set global memory_limit = '10GB'"):  # fmt: skip
            err = error_of(conn, sql)
            assert err.sqlstate == "42501", (sql, str(err))
        err = error_of(conn, "select length(list(i)::varchar) from range(200000000) t(i)")
        assert err.sqlstate == "53200"  # still bounded


def test_other_sessions_cannot_see_each_others_settings(limited: Serve) -> None:
    with (
        psycopg.connect(limited.sql_dsn(), autocommit=True) as a,
        psycopg.connect(limited.sql_dsn(), autocommit=True) as b,
    ):
        a.execute("set timezone = 'Asia/Tokyo'")
        a.execute("set statement_timeout = '7s'")
        a.execute("set application_name = 'secret-app'")
        assert b.execute("show timezone").fetchone() == ("UTC",)
        assert b.execute("show statement_timeout").fetchone() == ("30s",)
        assert b.execute("show application_name").fetchone() == ("",)
        assert b.execute("select '2026-01-01 00:00:00+00'::timestamptz::varchar").fetchone() == (
            "2026-01-01 00:00:00+00",
        )


def test_the_hub_directories(limited: Serve) -> None:
    wh: Path = limited.warehouse
    assert (wh / "databases").is_dir() and (wh / "tmp").is_dir()
    assert (wh / "databases").stat().st_mode & 0o077 == 0


def test_statement_timeout_from_the_connection_options(limited: Serve) -> None:
    """libpq's `options` (PGOPTIONS) set parameters at connect time, as SET does."""
    dsn = limited.sql_dsn() + " options='-c statement_timeout=1500 -c application_name=probe'"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("1500ms",)
        assert conn.execute("show application_name").fetchone() == ("probe",)
        assert error_of(conn, FOREVER).sqlstate == "57014"
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(limited.sql_dsn() + " options='-c memory_limit=100GB'")
    assert "memory_limit" in str(err.value)
