"""TLS on the SQL endpoint of a real `zeroetl serve`: a self-signed certificate made at first start
(key 0600, kept across restarts), psql with sslmode require / verify-full / disable, a configured
certificate from a private CA, and --sql-require-tls refusing start-ups without TLS (28000)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redshift_connector
from tests.service_support import Serve
from tests.tls_support import make_pki

from zeroetl.server.pgwire import messages as m


def psql(
    serve: Serve, sslmode: str, *args: str, host: str = "127.0.0.1", **conn: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=serve.sql_password, PGCONNECT_TIMEOUT="10")
    extra = " ".join(f"{k}={v}" for k, v in conn.items())
    conninfo = f"host={host} port={serve.sql_port} user=admin dbname=dev sslmode={sslmode} {extra}"
    return subprocess.run(
        ["psql", conninfo, "-X", "-At", "-v", "ON_ERROR_STOP=1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    tmp = tmp_path_factory.mktemp("tls")
    serve = Serve(tmp / "wh", tmp / "serve.log")
    serve.start()
    yield serve
    serve.stop()


def test_self_signed_certificate_is_made_once(self_signed: Serve) -> None:
    cert, key = self_signed.warehouse / "sql-tls.crt", self_signed.warehouse / "sql-tls.key"
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert key.stat().st_mode & 0o777 == 0o600
    log = self_signed.log.read_text()
    assert "self-signed certificate" in log and "SHA-256" in log
    assert "PRIVATE KEY" not in log


def test_psql_sslmode_require_uses_tls(self_signed: Serve) -> None:
    r = psql(self_signed, "require", "-c", "select 1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    with psycopg.connect(self_signed.sql_dsn() + " sslmode=require") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.info.parameter_status("server_version") == "15.0"


def test_psql_verify_full_against_the_generated_certificate(self_signed: Serve) -> None:
    root = self_signed.warehouse / "sql-tls.crt"
    for host in ("localhost", "127.0.0.1"):
        r = psql(self_signed, "verify-full", "-c", "select 2", host=host, sslrootcert=str(root))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "2"


def test_redshift_connector_defaults_trusting_the_generated_certificate(
    self_signed: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The driver always checks the chain against OpenSSL's default trust (plus Amazon's CAs):
    # pointing SSL_CERT_FILE at the generated certificate is how an analyst trusts it.
    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed.warehouse / "sql-tls.crt"))
    for host in ("localhost", "127.0.0.1"):
        with redshift_connector.connect(
            host=host,
            port=self_signed.sql_port,
            database="dev",
            user="admin",
            password=self_signed.sql_password,
        ) as conn:
            cur = conn.cursor()
            cur.execute("select 8")
            assert cur.fetchone()[0] == 8


JAVA = """
import java.sql.*;
public class Tls {
  public static void main(String[] a) throws Exception {
    try (Connection c = DriverManager.getConnection(a[0], a[1], a[2]);
         ResultSet r = c.createStatement().executeQuery("select 41 + 1")) {
      r.next();
      System.out.println("ok " + r.getInt(1));
    }
  }
}
"""
PGJDBC = Path("/usr/share/java/postgresql.jar")


@pytest.mark.skipif(
    not PGJDBC.exists() or shutil.which("java") is None, reason="pgJDBC (Debian) not installed"
)
def test_pgjdbc_modes(self_signed: Serve, tmp_path: Path) -> None:
    src = tmp_path / "Tls.java"
    src.write_text(JAVA)
    root = self_signed.warehouse / "sql-tls.crt"
    base = f"jdbc:postgresql://localhost:{self_signed.sql_port}/dev"
    for query in ("", "?sslmode=require", f"?sslmode=verify-full&sslrootcert={root}"):
        r = subprocess.run(
            ["java", "-cp", str(PGJDBC), str(src), base + query, "admin", self_signed.sql_password],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.stdout.strip() == "ok 42", (query, r.stderr[-2000:])


def test_verify_full_refuses_an_untrusted_certificate(self_signed: Serve, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", cn="some other CA")
    r = psql(self_signed, "verify-full", "-c", "select 1", sslrootcert=str(other.ca))
    assert r.returncode != 0
    assert "certificate verify failed" in r.stderr


def test_sslmode_disable_still_accepted(self_signed: Serve) -> None:
    r = psql(self_signed, "disable", "-c", "select 3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"
    with psycopg.connect(self_signed.sql_dsn() + " sslmode=disable") as conn:
        assert not conn.pgconn.ssl_in_use


def test_certificate_survives_a_restart(self_signed: Serve) -> None:
    cert = self_signed.warehouse / "sql-tls.crt"
    before = cert.read_bytes()
    self_signed.stop()
    self_signed.start()
    assert cert.read_bytes() == before
    r = psql(self_signed, "verify-full", "-c", "select 4", host="localhost", sslrootcert=str(cert))
    assert r.returncode == 0, r.stderr


def test_configured_certificate_and_require_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    serve = Serve(
        tmp_path / "wh",
        tmp_path / "serve.log",
        "--sql-tls-cert",
        str(pki.cert),
        env={"ZEROETL_SQL_TLS_KEY": str(pki.key), "ZEROETL_SQL_REQUIRE_TLS": "1"},
    )
    serve.start()
    try:
        assert not (serve.warehouse / "sql-tls.crt").exists()  # nothing self-signed made
        r = psql(serve, "verify-full", "-c", "select 5", host="localhost", sslrootcert=str(pki.ca))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "5"
        r = psql(serve, "disable", "-c", "select 6")
        assert r.returncode != 0
        assert "requires TLS" in r.stderr
        # the refusal, byte by byte: FATAL 28000 before any password is asked for
        with socket.create_connection(("127.0.0.1", serve.sql_port), timeout=10) as s:
            body = m.cstr("user") + m.cstr("admin") + m.cstr("database") + m.cstr("dev") + b"\0"
            s.sendall(struct.pack("!ii", len(body) + 8, m.PROTOCOL_V3) + body)
            answer = s.recv(4096)
        assert answer[:1] == b"E" and b"C28000\x00" in answer and b"SFATAL\x00" in answer
    finally:
        serve.stop()


def test_certificate_without_key_is_a_clear_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    serve = Serve(tmp_path / "wh", tmp_path / "serve.log", "--sql-tls-cert", str(pki.cert))
    with pytest.raises(AssertionError) as err:
        serve.start()
    assert "--sql-tls-key" in str(err.value)
    serve.kill()
