"""AWS's redshift_connector 2.2 against a real `zeroetl serve` replicating TICKIT, the way an analyst
uses it: `redshift_connector.connect(host, port, database, user, password)` with the driver's
default settings (TLS with the certificate checked, MD5 auth), queries, parameters, a bad query
that does not break the connection, fetch_dataframe; and psql's `\\copy` of a replicated table
through the same sandbox as any query."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redshift_connector
from tests.service_support import Serve
from tests.tls_support import Pki, make_pki

from zeroetl.sandbox import tickit

pytestmark = pytest.mark.integration


@dataclass
class Env:
    serve: Serve
    pki: Pki
    categories: list[tuple[object, ...]]  # the source's category table, ordered by catid


@pytest.fixture(scope="module")
def env(mariadb_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if not mariadb_server.running():
        mariadb_server.start()
    tmp = tmp_path_factory.mktemp("rsc")
    conn = mariadb_server.root()
    tickit.load(conn, database="demodb", scale=0.01, seed=11)
    with conn.cursor() as cur:
        cur.execute("select * from demodb.category order by catid")
        categories = [tuple(r) for r in cur.fetchall()]
    conn.close()
    pki = make_pki(tmp / "pki")
    serve = Serve(
        tmp / "wh",
        tmp / "serve.log",
        "--sql-tls-cert",
        str(pki.cert),
        "--sql-tls-key",
        str(pki.key),
    )
    serve.start()
    try:
        iid = serve.ok(
            "POST",
            "/v1/integrations",
            {"name": "rsc", "source": mariadb_server.url(), "data_filter": "include: demodb.*"},
        )["id"]
        with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
            dev.execute(f"CREATE DATABASE aurora_zeroetl FROM INTEGRATION '{iid}'")
        serve.wait_state(iid, "active", timeout=120)
        serve.wait_rows(iid, "demodb.category", len(categories))
        yield Env(serve, pki, categories)
    finally:
        serve.stop()
        conn = mariadb_server.root()
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS demodb")
        conn.close()


def connect(env: Env, **extra: object) -> redshift_connector.Connection:
    """The driver's defaults: only where to go and who is asking."""
    return redshift_connector.connect(
        host="localhost",
        port=env.serve.sql_port,
        database="dev",
        user="admin",
        password=env.serve.sql_password,
        **extra,
    )


@pytest.fixture
def trust_ca(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # redshift_connector trusts the system's CAs (OpenSSL's default paths, which SSL_CERT_FILE
    # names) plus Amazon's: an analyst trusts the endpoint's CA the same way.
    monkeypatch.setenv("SSL_CERT_FILE", str(env.pki.ca))


def test_default_settings_connect_over_tls(env: Env, trust_ca: None) -> None:
    with connect(env) as conn:
        assert conn._usock.version() in ("TLSv1.2", "TLSv1.3")  # TLS, certificate verified
        cur = conn.cursor()
        cur.execute("select catid, catgroup, catname, catdesc from aurora_zeroetl.demodb.category"
                    " order by catid")  # fmt: skip
        assert [tuple(r) for r in cur.fetchall()] == env.categories


def test_untrusted_certificate_is_refused(env: Env) -> None:
    # Without the CA the driver refuses (it always checks the chain): no silent downgrade.
    with pytest.raises(redshift_connector.InterfaceError):
        connect(env)


def test_wrong_password_and_unknown_user_fail_alike(env: Env, trust_ca: None) -> None:
    messages = []
    for user, password in (("admin", "wrong"), ("nobody", env.serve.sql_password)):
        with pytest.raises(redshift_connector.ProgrammingError) as err:
            redshift_connector.connect(
                host="localhost", port=env.serve.sql_port, database="dev", user=user,
                password=password,
            )  # fmt: skip
        info = err.value.args[0]
        assert info["C"] == "28P01"
        messages.append(info["M"].replace(user, "<user>"))
    assert messages[0] == messages[1]


def test_errors_parameters_and_dataframes(env: Env, trust_ca: None) -> None:
    with connect(env) as conn:
        cur = conn.cursor()
        with pytest.raises(redshift_connector.ProgrammingError) as err:
            cur.execute("select * from aurora_zeroetl.demodb.no_such_table")
        assert err.value.args[0]["C"] == "42P01"
        conn.rollback()
        # the same connection (and its reused statement names) goes on
        for _ in range(3):
            cur.execute("select count(*) from aurora_zeroetl.demodb.category")
            assert cur.fetchone()[0] == len(env.categories)
        for value in (1, 2**40, -7, "héllo", None, 1.5, True):
            cur.execute("select %s", (value,))
            assert cur.fetchone()[0] == value, value
        cur.execute(
            "select catname from aurora_zeroetl.demodb.category where catid = %s",
            (env.categories[0][0],),
        )
        assert cur.fetchall()[0][0] == env.categories[0][2]
        with pytest.raises(redshift_connector.ProgrammingError) as err:
            cur.execute("select 1/0")
        conn.rollback()
        cur.execute("select catid, catname from aurora_zeroetl.demodb.category order by catid")
        df = cur.fetch_dataframe()
        assert list(df.columns) == ["catid", "catname"]
        assert df["catname"].tolist() == [r[2] for r in env.categories]


def test_sandbox_still_rules_prepared_statements(env: Env, trust_ca: None) -> None:
    with connect(env) as conn:
        cur = conn.cursor()
        with pytest.raises(redshift_connector.ProgrammingError) as err:
            cur.execute("select * from read_text('/etc/passwd')")
        assert err.value.args[0]["C"] == "42501"
        conn.rollback()
        with pytest.raises(redshift_connector.ProgrammingError) as err:
            cur.execute("delete from aurora_zeroetl.demodb.category")
        assert err.value.args[0]["C"] == "25006"
        conn.rollback()
        cur.execute("select count(*) from aurora_zeroetl.demodb.category")
        assert cur.fetchone()[0] == len(env.categories)


def test_without_tls_when_asked(env: Env) -> None:
    with connect(env, ssl=False) as conn:
        cur = conn.cursor()
        cur.execute("select 7")
        assert cur.fetchone()[0] == 7


def _psql(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    pg = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pg.update(PGPASSWORD=env.serve.sql_password, PGCONNECT_TIMEOUT="10")
    conninfo = f"host=127.0.0.1 port={env.serve.sql_port} user=admin dbname=dev"
    return subprocess.run(
        ["psql", conninfo, "-X", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", *args],
        env=pg,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_psql_copy_a_replicated_table_to_a_file(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    r = _psql(
        env,
        "-c",
        f"\\copy (select * from aurora_zeroetl.demodb.category order by catid) to '{out}' csv header",
    )
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["catid", "catgroup", "catname", "catdesc"]
    assert rows[1:] == [[str(v) for v in row] for row in env.categories]


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("copy (select 1) to '/tmp/zeroetl-copy-test.csv'", "COPY"),
        ("copy aurora_zeroetl.demodb.category from stdin", "read-only"),
        ("copy (select * from read_text('/etc/passwd')) to stdout", "read_text"),
    ],
)
def test_other_copies_stay_refused(env: Env, sql: str, says: str) -> None:
    r = _psql(env, "-c", sql)
    assert r.returncode != 0
    assert says.lower() in r.stderr.lower(), r.stderr
    assert not Path("/tmp/zeroetl-copy-test.csv").exists()
