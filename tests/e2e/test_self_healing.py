"""A real `zeroetl serve` through the faults an operator meets: the source restarts, a password
stops working, the disk fills up, another process holds a target file. Transient faults show
`needs_attention` with the reason and heal by themselves; a rejected password is `failed` until
`refresh` or `modify`; nothing is ever lost (the warehouse ends equal to the source) and lag never
claims 0 while nothing flows. The monitoring history is pruned to its retention meanwhile."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from tests.service_support import Serve, wait_for
from tests.support import assert_table_equal

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Watch:
    """Polls the integration over the API on a thread; keeps every (state, reason, lag)."""

    def __init__(self, serve: Serve, ident: str) -> None:
        self.serve, self.ident = serve, ident
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                v = self.serve.ok("GET", f"/v1/integrations/{self.ident}")
            except Exception:  # the service is being restarted
                continue
            keys = ("state", "reason", "replication_state", "lag_seconds", "errors")
            self.samples.append({"t": time.monotonic(), **{k: v[k] for k in keys}})

    def stop(self) -> None:
        self._stop.set()
        self._t.join(5)

    def with_state(self, state: str) -> list[dict[str, Any]]:
        return [s for s in self.samples if s["state"] == state]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    made: list[Serve] = []

    def make(*args: str) -> Serve:
        s = Serve(tmp_path / "wh", tmp_path / "serve.log", *args)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.kill()


def _exec(conn: Any, *sql: str) -> None:
    with conn.cursor() as cur:
        for s in sql:
            cur.execute(s)


def _create(serve: Serve, url: str, db: str) -> str:
    view = serve.ok(
        "POST",
        "/v1/integrations",
        {
            "name": "heal",
            "source": url,
            "data_filter": f"exclude: *.*, include: {db}.*",
            "target_database": "target",
        },
    )
    serve.wait_state(view["id"], "active", 60)
    return str(view["id"])


def _equal(serve: Serve, db_conn: Any, db: str, tables: list[str]) -> bool:
    """The warehouse equals the source (read with DuckDB once the service has stopped, or
    through the SQL endpoint's counts while it runs)."""
    with psycopg.connect(serve.sql_dsn("target"), autocommit=True) as pg:
        for t in tables:
            n = pg.execute(f'select count(*), coalesce(sum(v), 0) from "{db}"."{t}"').fetchone()
            with db_conn.cursor() as cur:
                cur.execute(f"SELECT count(*), coalesce(sum(v), 0) FROM `{t}`")
                src = cur.fetchone()
            if (n[0], int(n[1])) != (src[0], int(src[1])):
                return False
    return True


def _final_check(serve: Serve, db_conn: Any, db: str, tables: list[str]) -> None:
    """Stop the service, then compare value by value with the DuckDB file itself."""
    import duckdb

    serve.stop()
    duck = duckdb.connect(str(serve.warehouse / "databases" / "target.duckdb"), read_only=True)
    try:
        for t in tables:
            assert_table_equal(db_conn, duck, db, t)
    finally:
        duck.close()


def test_source_restart_heals_and_history_is_pruned(
    serve, mariadb, db_conn, test_db, source_url
) -> None:
    _exec(db_conn, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 1)")
    s = serve("--history-rows", "5", "--history-prune-s", "0.5")
    ident = _create(s, source_url, test_db)
    watch = Watch(s, ident)
    try:
        for i in range(2, 14):  # separate commits: one activity row each (or a few together)
            _exec(db_conn, f"INSERT INTO t VALUES ({i}, {i})")
            time.sleep(0.3)
        wait_for(lambda: _equal(s, db_conn, test_db, ["t"]), "the inserts", 30)
        mariadb.stop()
        down = time.monotonic()
        try:
            wait_for(lambda: s.state(ident) == "needs_attention", "needs_attention", 30)
            first = s.ok("GET", f"/v1/integrations/{ident}")
            time.sleep(1.5)
            later = s.ok("GET", f"/v1/integrations/{ident}")
            with psycopg.connect(s.sql_dsn("dev"), autocommit=True) as pg:
                state, lag = pg.execute(
                    "select state, current_lag from svv_integration where integration_id = %s",
                    [ident],
                ).fetchone()
                (table_activity,) = pg.execute(
                    "select count(*) from sys_integration_table_activity"
                ).fetchone()
        finally:
            up = time.monotonic()
            mariadb.start()
        conn = mariadb.root(test_db)
        _exec(conn, "INSERT INTO t VALUES (100, 100)", "UPDATE t SET v = v + 1 WHERE id < 5")
        conn.close()
        s.wait_state(ident, "active", 60)
        fresh = mariadb.root(test_db)
        wait_for(lambda: _equal(s, fresh, test_db, ["t"]), "the writes after the restart", 30)
        stats = s.ok("GET", f"/v1/integrations/{ident}/stats")
        activity = s.ok("GET", f"/v1/integrations/{ident}/activity", limit=1000)["items"]
    finally:
        watch.stop()
    # While the source is down: the error, never "caught up".
    assert "retrying" in first["reason"] and "127.0.0.1" in first["reason"]
    assert first["errors"] and "127.0.0.1" in first["errors"][0]["message"], first
    assert first["replication_state"] == "ErrorState" and state == "ErrorState"
    assert first["lag_seconds"] is None or later["lag_seconds"] > first["lag_seconds"] > 0
    assert lag is None or lag > 0
    outage = [x for x in watch.with_state("needs_attention") if down < x["t"] < up]
    assert outage and all(x["lag_seconds"] != 0.0 for x in outage), [
        (x["t"], x["state"], x["lag_seconds"], x["reason"][-60:]) for x in outage
    ]
    # Retention: at most 5 rows kept (plus the commits since the last prune, half a second
    # ago at most), yet the counters count every change.
    assert len(activity) <= 7, activity
    assert table_activity <= 7
    assert stats["rows_applied"] == {"insert": 13, "update": 4, "delete": 0}, stats
    _final_check(s, fresh, test_db, ["t"])
    fresh.close()


def test_rejected_password_fails_until_refresh_or_modify(serve, mariadb, db_conn, test_db) -> None:
    user = f"rot{os.getpid()}"
    root = mariadb.root()
    _exec(root, f"DROP USER IF EXISTS '{user}'@'%'")
    mariadb.create_replication_user(user, "first-pass")
    _exec(db_conn, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 1)")
    s = serve()
    ident = _create(s, mariadb.url(user, "first-pass"), test_db)

    def reject_and_drop() -> None:
        # The DBA changes the password and the integration's connections drop (as on a
        # failover): the reconnect is refused.
        _exec(root, f"ALTER USER '{user}'@'%' IDENTIFIED BY 'other-pass'")
        with root.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
            for (pid,) in cur.fetchall():
                try:
                    cur.execute(f"KILL {int(pid)}")
                except pymysql.err.OperationalError as e:
                    if e.args[0] != 1094:  # Unknown thread id: that session ended meanwhile
                        raise

    try:
        for fix in ("refresh", "modify"):
            reject_and_drop()
            s.wait_state(ident, "failed", 30)
            view = s.ok("GET", f"/v1/integrations/{ident}")
            assert [e["code"] for e in view["errors"]] == ["SourceAccessDenied"], view
            assert "authentication failed" in view["reason"]
            assert view["replication_state"] == "ErrorState"
            assert view["lag_seconds"] is None or view["lag_seconds"] > 0
            assert "other-pass" not in str(view) and "first-pass" not in str(view)
            time.sleep(1)
            assert s.state(ident) == "failed"  # terminal: no retry until someone acts
            _exec(db_conn, f"INSERT INTO t VALUES ({len(fix) + 10}, 7)")
            _exec(root, f"ALTER USER '{user}'@'%' IDENTIFIED BY 'first-pass'")
            if fix == "refresh":
                s.ok("POST", f"/v1/integrations/{ident}/refresh", {"inerror": True})
            else:
                s.ok("PATCH", f"/v1/integrations/{ident}", {"description": "password fixed"})
            s.wait_state(ident, "active", 60)
            assert s.ok("GET", f"/v1/integrations/{ident}")["errors"] == []
            wait_for(lambda: _equal(s, db_conn, test_db, ["t"]), f"catch-up after {fix}", 30)
        _final_check(s, db_conn, test_db, ["t"])
    finally:
        _exec(root, f"DROP USER IF EXISTS '{user}'@'%'")
        root.close()


_HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def test_locked_file_and_full_disk_are_waited_out(
    serve, mariadb, db_conn, test_db, source_url
) -> None:
    _exec(db_conn, "CREATE TABLE t (id INT PRIMARY KEY, v INT, pad VARCHAR(200))")
    _exec(db_conn, "INSERT INTO t SELECT seq, seq, REPEAT('p', 100) FROM seq_1_to_2000")
    s = serve()
    ident = _create(s, source_url, test_db)
    s.stop()

    # Another process holds the target file while the service starts.
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(s.warehouse / "databases" / "target.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        s.start()
        wait_for(lambda: s.state(ident) == "needs_attention", "the lock noticed", 30)
        reason = s.ok("GET", f"/v1/integrations/{ident}")["reason"]
        assert "another process holds the database file" in reason, reason
    finally:
        holder.kill()
        holder.wait(30)
    s.wait_state(ident, "active", 60)

    # The disk fills up (a file size limit on the running service: EFBIG on every write past
    # it), while the source keeps writing.
    assert s.proc is not None
    files = [s.log, *(p for p in s.warehouse.iterdir() if p.is_file())]
    limit = max(p.stat().st_size for p in files) + 256 * 1024
    resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    watch = Watch(s, ident)
    try:
        deadline = time.monotonic() + 60
        while s.state(ident) != "needs_attention":
            assert time.monotonic() < deadline, "the full disk was never noticed"
            _exec(db_conn, "UPDATE t SET v = v + 1, pad = REPEAT('u', 150) WHERE id <= 1000")
            time.sleep(0.2)
        reason = s.ok("GET", f"/v1/integrations/{ident}")["reason"]
        assert "EFBIG" in reason and "retrying" in reason, reason
        _exec(db_conn, "INSERT INTO t VALUES (5000, 1, 'while full')", "DELETE FROM t WHERE id = 7")
        time.sleep(1)
        # Space comes back: replication resumes by itself, with nothing lost.
        resource.prlimit(
            s.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )
        s.wait_state(ident, "active", 60)
        wait_for(lambda: _equal(s, db_conn, test_db, ["t"]), "the writes made while full", 60)
    finally:
        watch.stop()
    assert watch.with_state("needs_attention")
    assert not [x for x in watch.samples if x["state"] == "failed"]
    _final_check(s, db_conn, test_db, ["t"])
