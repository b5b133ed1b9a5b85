"""Debian's psql against the SQL endpoint: what the wire layer owns (catalog-backed `\\d` commands
belong to the SQL layer's tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pgwire_standin import PASSWORD, Endpoint, StandInSession, make_database

from zeroetl.server.pgwire import Authenticator, PgServer

pytestmark = pytest.mark.skipif(
    shutil.which("psql") is None, reason="psql (postgresql-client) not installed"
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    con = make_database(Path(tmp_path_factory.mktemp("pgwire")) / "w.duckdb")
    yield con
    con.close()


@pytest.fixture(scope="module")
def endpoint(db: object) -> Iterator[Endpoint]:
    ep = Endpoint(db)  # type: ignore[arg-type]
    yield ep
    ep.close()


def psql(
    ep: Endpoint, *args: str, password: str = PASSWORD, user: str = "admin"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
    conninfo = f"host=127.0.0.1 port={ep.port} user={user} dbname=dev"
    return subprocess.run(
        ["psql", conninfo, "-X", "-v", "VERBOSITY=verbose", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_psql_connects_with_scram(endpoint: Endpoint) -> None:
    r = psql(endpoint, "-At", "-c", "select 'hello', 42")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello|42"


def test_psql_wrong_password(endpoint: Endpoint) -> None:
    r = psql(endpoint, "-c", "select 1", password="wrong")
    assert r.returncode == 2
    assert 'password authentication failed for user "admin"' in r.stderr


def test_psql_multiple_statements_and_types(endpoint: Endpoint) -> None:
    r = psql(
        endpoint,
        "-At",
        "-c",
        "select 1; select b, d, ts, n from types where id = 1; select 'x' as c",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [
        "1",
        "t|2024-02-29|2024-02-29 13:14:15.123456|12345.678",
        "x",
    ]


def test_psql_error_carries_sqlstate(endpoint: Endpoint) -> None:
    r = psql(endpoint, "-v", "ON_ERROR_STOP=1", "-c", "select * from no_such_table")
    assert r.returncode == 1
    assert "ERROR:  42P01:" in r.stderr and "no_such_table" in r.stderr


def test_psql_script_with_transaction(endpoint: Endpoint, tmp_path: Path) -> None:
    script = tmp_path / "s.sql"
    script.write_text(
        "begin;\ncreate table psql_made (a int);\ninsert into psql_made values (1), (2);\n"
        "commit;\nselect sum(a) from psql_made;\n"
    )
    r = psql(endpoint, "-At", "-v", "ON_ERROR_STOP=1", "-f", str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["BEGIN", "CREATE", "TABLE", "INSERT", "0", "2", "COMMIT", "3"]


def test_psql_large_result(endpoint: Endpoint) -> None:
    n = 1_000_000
    t0 = time.monotonic()
    r = psql(endpoint, "-At", "-c", f"select range, 'label ' || range from range({n})")
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == n and lines[-1] == f"{n - 1}|label {n - 1}"
    print(f"psql fetched {n} rows in {elapsed:.2f}s ({n / elapsed:,.0f} rows/s)")


def test_psql_fetch_count_uses_cursors(endpoint: Endpoint) -> None:
    # FETCH_COUNT makes psql read through DECLARE / FETCH FORWARD n / CLOSE inside a transaction
    r = psql(endpoint, "-At", "-v", "FETCH_COUNT=1000", "-c", "select id from big order by id")
    assert r.returncode == 0, r.stderr
    ids = r.stdout.split()
    assert len(ids) == 300000 and ids[:2] == ["0", "1"] and ids[-1] == "299999"


def test_zeroetl_sql_command(db: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEROETL_SQL_PASSWORD", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    auth = Authenticator.for_warehouse(tmp_path)  # creates <warehouse>/sql.password
    assert (tmp_path / "sql.password").stat().st_mode & 0o777 == 0o600

    def factory(database: str, user: str) -> StandInSession:
        return StandInSession(db, database=database, user=user)  # type: ignore[arg-type]

    server = PgServer("127.0.0.1", 0, auth, factory)
    port = server.start_in_thread()
    try:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "zeroetl.cli.main",
                "sql",
                "--warehouse",
                str(tmp_path),
                "--port",
                str(port),
                "-X",
                "-At",
                "-c",
                "select count(*) from big",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k != "PGPASSWORD"},
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "300000"
    finally:
        server.stop_in_thread()
