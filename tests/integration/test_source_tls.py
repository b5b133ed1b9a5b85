"""TLS to the source, against a private MariaDB with TLS on and a replication user that must
use it (REQUIRE SSL): every connection of ours (prerequisite checks, snapshot, binlog dump)
has to be encrypted for replication to work at all."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from tests.service_support import wait_for
from tests.tls_support import Pki, make_pki

from zeroetl.errors import SourceAccessDenied, SourceUnavailable
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.service.service import Service
from zeroetl.service.service_config import ServiceConfig
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.prereq import check_source

pytestmark = pytest.mark.integration

USER, PW = "tlsrepl", "Tls-repl-pw-9"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[MariaDBServer, Pki]]:
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-mariadb-tls-"))
    pki = make_pki(tmp / "pki")
    server = MariaDBServer(
        datadir=tmp / "data",
        port=free_port(),
        server_id=3,
        extra_args=(f"--ssl-ca={pki.ca}", f"--ssl-cert={pki.cert}", f"--ssl-key={pki.key}"),
    )
    server.start()
    root = server.root()
    with root.cursor() as cur:
        cur.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PW}' REQUIRE SSL")
        cur.execute(f"GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{USER}'@'%'")
        cur.execute("CREATE DATABASE shop")
        cur.execute("CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2))")
        cur.execute("INSERT INTO shop.orders VALUES (1, 10.50), (2, 20.00)")
    root.close()
    try:
        yield server, pki
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _url(server: MariaDBServer, query: str = "") -> str:
    return f"mysql://{USER}:{PW}@127.0.0.1:{server.port}" + (f"/?{query}" if query else "")


def _cipher(params: SourceParams) -> str:
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            return str(cur.fetchone()[1])
    finally:
        conn.close()


def test_ssl_modes_against_a_tls_server(tls_server: tuple[MariaDBServer, Pki]) -> None:
    server, pki = tls_server
    # Without TLS the server refuses this user: the test would notice any plain connection.
    with pytest.raises(SourceAccessDenied, match="authentication failed"):
        SourceParams.from_url(_url(server, "ssl=disabled")).connect()
    # The default (preferred) uses TLS when offered, as MySQL's clients do.
    assert _cipher(SourceParams.from_url(_url(server)))
    required = SourceParams.from_url(_url(server, "ssl=required"))
    assert _cipher(required)  # encrypted
    assert check_source(required).ready
    # verify: the system CA store does not know our private CA -> a clear refusal.
    with pytest.raises(SourceUnavailable) as e:
        SourceParams.from_url(_url(server, "ssl=verify")).connect()
    assert "certificate is not trusted" in str(e.value) and "ssl_ca" in str(e.value)
    assert PW not in str(e.value)
    report = check_source(SourceParams.from_url(_url(server, "ssl=verify")))
    assert not report.ready and "not trusted" in report.checks[0].actual
    # verify with the CA (read on the client, as the CLI does): connects.
    verified = SourceParams.from_url(_url(server, f"ssl=verify&ssl_ca={pki.ca}"), local=True)
    assert _cipher(verified) and check_source(verified).ready
    # The name must match too: "localhost" is in the certificate, a wrong CA is not enough.
    other = make_pki(pki.ca.parent / "other", cn="another CA")
    with pytest.raises(SourceUnavailable, match="not trusted"):
        SourceParams.from_url(_url(server, f"ssl=verify&ssl_ca={other.ca}"), local=True).connect()


def test_required_tls_server_without_tls_is_a_clear_error(mariadb: MariaDBServer) -> None:
    """The session's server has no TLS: ssl=required refuses to go on in clear."""
    with pytest.raises(SourceUnavailable, match="does not offer TLS"):
        SourceParams.from_url(mariadb.url() + "/?ssl=required").connect()


def test_replicate_over_tls_cli_and_service(
    tls_server: tuple[MariaDBServer, Pki], tmp_path: Path
) -> None:
    server, pki = tls_server
    # `zeroetl replicate` (the user's own process) with ssl=required: snapshot and binlog.
    root = server.root()
    with root.cursor() as cur:
        cur.execute("INSERT INTO shop.orders VALUES (3, 30.00)")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "zeroetl.cli.main",
            "replicate",
            "--source",
            _url(server, "ssl=required"),
            "--warehouse",
            str(tmp_path / "wh1"),
            "--database",
            "cli",
            "--data-filter",
            "include: shop.*",
            "--until-caught-up",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with duckdb.connect(str(tmp_path / "wh1" / "databases" / "cli.duckdb"), read_only=True) as duck:
        assert duck.execute("SELECT count(*) FROM shop.orders").fetchone() == (3,)

    # The service, with ssl=verify and the CA's PEM text given in the request (the service
    # reads no CA file for a caller): snapshot, then changes streamed over the binlog.
    svc = Service(ServiceConfig(warehouse=tmp_path / "wh2", sql_port=None))
    svc.start()
    try:
        it = svc.create_integration(
            name="tls",
            source=f"mysql://{USER}@127.0.0.1:{server.port}/?ssl=verify",
            source_password=PW,
            source_ssl_ca=pki.ca.read_text(),
            data_filter="include: shop.*",
            target_database="tlsdb",
        )
        assert it["source"]["ssl"] == "verify" and it["source"]["url"].endswith("?ssl=verify")
        with root.cursor() as cur:
            cur.execute("INSERT INTO shop.orders VALUES (4, 40.00)")
            cur.execute("UPDATE shop.orders SET total = 11.00 WHERE id = 1")

        def replicated() -> bool:
            cur = svc.hub_cursor()
            try:
                rows = cur.execute("SELECT id, total FROM tlsdb.shop.orders ORDER BY id").fetchall()
            except duckdb.Error:
                return False
            finally:
                cur.close()
            return [(r[0], float(r[1])) for r in rows] == [
                (1, 11.0),
                (2, 20.0),
                (3, 30.0),
                (4, 40.0),
            ]

        wait_for(replicated, "the changes to arrive over TLS", 60)
    finally:
        svc.shutdown()
        root.close()
