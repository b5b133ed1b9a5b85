"""Users and grants on a real `zeroetl serve` with a replicated MariaDB database, over psycopg and
psql: CREATE USER and logins (SCRAM), unknown users and wrong passwords alike (28P01), an analyst
who reads only what was granted, groups, `\\du` and `svv_user_info`, passwords never in the
service's log or in errors, and everything surviving a real restart of the service."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from tests.sandbox_support import CATEGORIES, Warehouse
from tests.service_support import wait_for

pytestmark = pytest.mark.integration

PW = "Analyst2026pw"
PW2 = "Rotated2027pw"


@pytest.fixture(scope="module")
def wh(mariadb_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    w = Warehouse.start(
        mariadb_server, tmp_path_factory.mktemp("users"), source_db="usrc", target="usrc_wh"
    )
    try:
        yield w
        w.stop()
    finally:
        w.serve.kill()


def dsn(wh: Warehouse, user: str, password: str, dbname: str = "dev") -> str:
    return (
        f"host=127.0.0.1 port={wh.serve.sql_port} user={user} dbname={dbname} password={password}"
    )


def q(conn: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql).fetchall()]


def login_error(wh: Warehouse, user: str, password: str) -> tuple[str, str]:
    """(what failed, the message): psycopg gives no SQLSTATE for a failed connection, so the
    28P01 case is told by PostgreSQL's wording for it."""
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(dsn(wh, user, password), connect_timeout=10).close()
    text = str(e.value)
    if f'password authentication failed for user "{user}"' in text:
        return "28P01", text
    return ("53300" if "too many connections" in text else "?"), text


def _logs_in(wh: Warehouse, user: str, password: str) -> bool:
    try:
        psycopg.connect(dsn(wh, user, password), connect_timeout=10).close()
        return True
    except psycopg.OperationalError:
        return False


def error(conn: psycopg.Connection[Any], sql: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as e:
        conn.execute(sql)
    return e.value


def psql(wh: Warehouse, *args: str, user: str = "admin", password: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=password or wh.serve.sql_password, PGCONNECT_TIMEOUT="10")
    conninfo = f"host=127.0.0.1 port={wh.serve.sql_port} user={user} dbname=dev"
    r = subprocess.run(["psql", conninfo, "-X", *args], env=env, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_users_grants_logins_and_restart(wh: Warehouse) -> None:
    db, src = wh.target, wh.source_db
    table = f"{db}.{src}.category"
    with wh.connect() as admin:
        admin.execute(f"CREATE USER ann PASSWORD '{PW}'")
        admin.execute(f"CREATE USER bob WITH PASSWORD '{PW}' CONNECTION LIMIT 1")
        admin.execute("CREATE GROUP readers WITH USER ann")
        # a password that breaks the rules: the error says why, never what
        bad = error(admin, "CREATE USER carl PASSWORD 'alllowercase1'")
        assert bad.sqlstate == "22023" and "upper-case" in str(bad)
        assert "alllowercase1" not in str(bad)
    # logins: right password in; a wrong one and an unknown user fail alike (28P01)
    with psycopg.connect(dsn(wh, "ann", PW), autocommit=True) as ann:
        assert q(ann, "select current_user") == [("ann",)]
        # nothing replicated until granted; the system views stay readable
        denied = error(ann, f"select * from {table}")
        assert denied.sqlstate == "42501" and str(denied).startswith(
            f"permission denied for schema {src}"
        )
        assert q(ann, "select count(*) from svv_integration") == [(1,)]
        with wh.connect() as admin:
            admin.execute(f"GRANT USAGE ON SCHEMA {db}.{src} TO GROUP readers")
            admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.{src} TO GROUP readers")
            admin.execute(f"GRANT USAGE ON SCHEMA {db}.{src} TO bob")
            admin.execute(f"GRANT SELECT ON {table} TO bob")
            admin.execute(f"REVOKE SELECT ON {table} FROM bob")
        got = q(ann, f"select catid, catdesc from {table} order by catid")
        assert got == [(c[0], c[3]) for c in CATEGORIES]
        # a table replicated later is covered by ALL TABLES IN SCHEMA
        wh.source("CREATE TABLE later (id INT PRIMARY KEY)", "INSERT INTO later VALUES (7)")
        wh.wait_source_rows("later", 1)
        assert q(ann, f"select id from {db}.{src}.later") == [(7,)]
        # ann cannot manage users nor grant on replicated data
        assert error(ann, f"CREATE USER x PASSWORD '{PW}'").sqlstate == "42501"
        assert error(ann, f"GRANT SELECT ON {table} TO bob").sqlstate == "42501"
    wrong, wrong_text = login_error(wh, "ann", "Not-the-password1")
    unknown, unknown_text = login_error(wh, "nobody", PW)
    assert wrong == unknown == "28P01"
    assert "ann" in wrong_text and "nobody" in unknown_text
    with psycopg.connect(dsn(wh, "bob", PW), autocommit=True) as bob:
        assert error(bob, f"select * from {table}").sqlstate == "42501"
        state, text = login_error(wh, "bob", PW)  # CONNECTION LIMIT 1
        assert state == "53300" and "too many connections" in text
    # the first one closed: room again (once the service has seen it go)
    wait_for(lambda: _logs_in(wh, "bob", PW), "bob's closed session to be released", 10)
    # \du and svv_user_info
    du = psql(wh, "-c", r"\du")
    assert "ann" in du and "bob" in du and "readers" in du and "Superuser" in du
    # a regular user: \du works too, svv_user_info shows their own row, SHOW is_superuser off
    du_ann = psql(wh, "-c", r"\du", user="ann", password=PW)
    assert "readers" in du_ann and "admin" in du_ann
    mine = psql(wh, "-At", "-c", "select user_name from svv_user_info", "-c", "show is_superuser",
                user="ann", password=PW)  # fmt: skip
    assert mine.split() == ["ann", "off"]
    with wh.connect() as admin:
        info = q(admin, "select user_name, superuser from svv_user_info order by user_id")
        assert info == [("admin", True), ("ann", False), ("bob", False)]
        assert q(admin, "select passwd from pg_user where usename = 'ann'") == [("********",)]
        admin.execute(f"ALTER USER ann PASSWORD '{PW2}'")
    # everything survives a real restart
    wh.serve.stop()
    wh.serve.start()
    login_error(wh, "ann", PW)  # the old password is gone
    with psycopg.connect(dsn(wh, "ann", PW2), autocommit=True) as ann:
        assert q(ann, f"select count(*) from {table}") == [(len(CATEGORIES),)]
    with psycopg.connect(dsn(wh, "bob", PW), autocommit=True) as bob:
        assert error(bob, f"select * from {table}").sqlstate == "42501"  # still revoked
    with wh.connect() as admin:
        members = q(admin, "select groname, len(grolist) from pg_group")
        assert members == [("readers", 1)]
        admin.execute("DROP USER bob")
    assert login_error(wh, "bob", PW)[0] == "28P01"
    # no password (or verifier) in the service's log, in any form
    log = wh.serve.log.read_text(errors="replace")
    for secret in (PW, PW2, "alllowercase1"):
        assert secret not in log
    assert "SCRAM-SHA-256$" not in log


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_psql_password_change_and_hostile_statements(wh: Warehouse) -> None:
    with wh.connect() as admin:
        admin.execute(f"CREATE USER dana PASSWORD '{PW}'")
        # malformed user statements: the error never echoes the password
        for sql in (
            "CREATE USER eve PASSWORD 'Unterminated9",
            "CREATE USER eve PASSWORD 'Secret9word' NONSENSE 'Secret9word'",
            "ALTER USER dana PASSWORD 'Secret9word' RENAME",
        ):
            e = error(admin, sql)
            assert e.sqlstate == "42601" and "Secret9word" not in str(e)
            assert "Unterminated9" not in str(e)
    # psql's \password: psql hashes the new password itself and sends the SCRAM verifier
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=PW, PGCONNECT_TIMEOUT="10")
    r = subprocess.run(
        ["psql", f"host=127.0.0.1 port={wh.serve.sql_port} user=dana dbname=dev", "-X", "-c",
         r"\password"],
        env=env, input=f"{PW2}\n{PW2}\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert login_error(wh, "dana", PW)[0] == "28P01"
    with psycopg.connect(dsn(wh, "dana", PW2)) as dana:
        assert q(dana, "select current_user") == [("dana",)]
    assert PW2 not in wh.serve.log.read_text(errors="replace")
