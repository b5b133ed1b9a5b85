"""Rotating the source password of a running integration, refreshing a table that does not
exist, and the warehouse's file modes, with a real `zeroetl serve` and MariaDB."""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pymysql
import pytest
from tests.service_support import Serve, wait_for

pytestmark = pytest.mark.integration

USER = "rotator"
PW1, PW2, PW3 = "Rot-first-pw-1", "Rot-second-pw-2", "Rot-third-pw-3"


@pytest.fixture
def rotator(mariadb: Any) -> Iterator[Any]:
    """A replication user of its own (the session's shared user keeps its password)."""
    root = mariadb.root()
    with root.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (USER, PW1))
        cur.execute(
            "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s@'%%'", (USER,)
        )
    yield root
    with root.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (USER,))
    root.close()


def _set_password(root: Any, password: str) -> None:
    """Change the password on the source and cut the user's open sessions (a server keeps
    sessions opened with the old password)."""
    with root.cursor() as cur:
        cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (USER, password))
        cur.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (USER,))
        for (pid,) in cur.fetchall():
            with contextlib.suppress(pymysql.err.MySQLError):  # ended meanwhile
                cur.execute(f"KILL CONNECTION {int(pid)}")


def _insert(conn: Any, db: str, ids: range) -> None:
    with conn.cursor() as cur:
        for i in ids:
            cur.execute(f"INSERT INTO `{db}`.t VALUES (%s, %s)", (i, f"v{i}"))


def test_rotate_the_password_then_resume_with_nothing_lost(
    mariadb: Any, rotator: Any, test_db: str, db_conn: Any, tmp_path: Path
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    _insert(db_conn, test_db, range(1, 4))
    svc = Serve(tmp_path / "wh", tmp_path / "serve.log")
    svc.start()
    try:
        svc.ok(
            "POST",
            "/v1/integrations",
            {
                "name": "rot",
                "source": f"mysql://{USER}@127.0.0.1:{mariadb.port}",
                "source_password": PW1,
                "data_filter": f"include: {test_db}.*",
                "target_database": "rotdb",
            },
        )
        table = f"{test_db}.t"
        svc.wait_rows("rot", table, 3)
        svc.wait_state("rot", "active")

        # The password changes on the source: the integration says so and keeps trying.
        _set_password(rotator, PW2)
        _insert(db_conn, test_db, range(4, 7))

        def auth_failed() -> Any:
            it = svc.ok("GET", "/v1/integrations/rot")
            said = f"{it['reason']} {it['errors']}"
            return it if "authentication failed" in said else None

        shown = wait_for(auth_failed, "the integration to report the authentication failure", 90)
        # The fix, in the reason (the integration is failed until modify: retrying the same
        # password cannot help).
        assert "--source-password" in f"{shown['reason']} {shown['errors']}"

        # A wrong new password is checked against the source and refused; nothing changes.
        r = svc.api("PATCH", "/v1/integrations/rot", {"source_password": "not-it"})
        assert r.status_code == 400 and "authentication failed" in r.json()["error"]["message"]

        # The CLI rotates it (read from stdin here; a prompt on a terminal).
        out = svc.cli("modify", "rot", "--source-password-file", "-", stdin=PW2 + "\n")
        assert out.returncode == 0, out.stderr
        svc.wait_rows("rot", table, 6, timeout=90)
        svc.wait_state("rot", "active", timeout=90)

        # And the API's PATCH field, while replication is running.
        _set_password(rotator, PW3)
        it = svc.ok("PATCH", "/v1/integrations/rot", {"source_password": PW3})
        assert it["state"] in ("syncing", "active")
        _insert(db_conn, test_db, range(7, 9))
        svc.wait_rows("rot", table, 8, timeout=90)
        svc.wait_state("rot", "active", timeout=90)

        # Refresh of a table that does not exist: 404 naming it, and no trace of it anywhere.
        r = svc.api("POST", "/v1/integrations/rot/refresh", {"tables": [f"{test_db}.nosuch"]})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "TableNotFound" and "nosuch" in r.text
        out = svc.cli("refresh", "rot", "--tables", f"{test_db}.nosuch")
        assert out.returncode == 1 and "TableNotFound" in out.stderr
        assert set(svc.tables("rot")) == {table}
        changes = svc.ok("GET", "/v1/integrations/rot/tables/state-changes")["items"]
        assert not [c for c in changes if "nosuch" in str(c)]
        svc.stop()
        with duckdb.connect(
            str(svc.warehouse / "databases" / "rotdb.duckdb"), read_only=True
        ) as duck:
            names = duck.execute("SELECT table_name FROM _zeroetl.tables").fetchall()
            assert ("nosuch",) not in names
            assert duck.execute(f'SELECT count(*) FROM "{test_db}".t').fetchone() == (8,)
    finally:
        svc.kill()

    # No password in any response, CLI output, log line or warehouse file.
    seen = "\n".join(svc.seen) + svc.log.read_text()
    for pw in (PW1, PW2, PW3):
        assert pw not in seen
        for f in svc.warehouse.rglob("*"):
            if f.is_file():
                assert pw.encode() not in f.read_bytes(), f
    # The warehouse is private: directory 0700, every file 0600 (no group/other bits).
    entries = [svc.warehouse, *svc.warehouse.rglob("*")]
    assert len(entries) > 5
    for p in entries:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode & 0o077 == 0, (p, oct(mode))
    assert stat.S_IMODE(svc.warehouse.stat().st_mode) == 0o700
