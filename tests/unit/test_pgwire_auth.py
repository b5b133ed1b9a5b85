"""Authentication methods of the SQL endpoint: which one a client is asked for (SCRAM for
PostgreSQL clients, MD5 for Redshift drivers, never cleartext), MD5 verifiers, the one credential
lookup, and unknown users failing exactly like wrong passwords."""

from __future__ import annotations

import hashlib
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pgwire_standin import PASSWORD, Endpoint, make_database

from zeroetl.server.pgwire import messages as m
from zeroetl.server.pgwire.auth import (
    Authenticator,
    AuthFailed,
    Credentials,
    md5_verifier,
    wants_md5,
)
from zeroetl.server.pgwire.server import SERVER_VERSION
from zeroetl.server.sql.catalog import SERVER_VERSION as SQL_SERVER_VERSION


def _md5_answer(user: str, password: str, salt: bytes) -> bytes:
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode() + b"\x00"


def test_md5_verifier_is_postgresqls_form() -> None:
    # PostgreSQL: 'md5' || md5(password || username)
    assert md5_verifier("admin", "pw") == "md5" + hashlib.md5(b"pwadmin").hexdigest()
    creds = Credentials.from_password("admin", "pw")
    assert creds.md5 == md5_verifier("admin", "pw")
    assert "pw" not in repr(creds)  # verifiers only


def test_md5_exchange_right_wrong_unknown() -> None:
    auth = Authenticator({"admin": "pencil"})
    ex = auth.md5_exchange("admin")
    assert len(ex.salt) == 4
    ex.check(_md5_answer("admin", "pencil", ex.salt))
    ex = auth.md5_exchange("admin")
    with pytest.raises(AuthFailed) as wrong:
        ex.check(_md5_answer("admin", "pencil!", ex.salt))
    ex = auth.md5_exchange("nobody")
    with pytest.raises(AuthFailed) as unknown:
        ex.check(_md5_answer("nobody", "pencil", ex.salt))
    assert (wrong.value.sqlstate, str(wrong.value)) == (unknown.value.sqlstate, str(unknown.value))
    assert wrong.value.sqlstate == "28P01"


def test_one_lookup_decides_who_exists() -> None:
    seen: list[str] = []
    creds = Credentials.from_password("ann", "ann-pw")

    def lookup(user: str) -> Credentials | None:
        seen.append(user)
        return creds if user == "ann" else None

    auth = Authenticator(lookup)
    ex = auth.md5_exchange("ann")
    ex.check(_md5_answer("ann", "ann-pw", ex.salt))
    assert b"s=" in auth.exchange("bob").first(b"n,,n=,r=abc")  # a decoy exchange
    assert seen == ["ann", "bob"]
    assert auth.users == []  # a lookup is not enumerable


def test_scram_only_user_cannot_md5(caplog: pytest.LogCaptureFixture) -> None:
    scram_text = Credentials.from_password("a", "pw").scram.to_text()
    auth = Authenticator({"a": scram_text})
    assert "Redshift drivers" in caplog.text  # the operator is told at start
    ex = auth.md5_exchange("a")
    with pytest.raises(AuthFailed):
        ex.check(_md5_answer("a", "pw", ex.salt))


def test_who_gets_md5() -> None:
    assert not wants_md5({"user": "admin", "database": "dev", "application_name": "psql"})
    assert wants_md5({"user": "admin", "client_protocol_version": "2"})
    assert wants_md5({"user": "admin", "driver_version": "Redshift Python Driver 2.2.0"})


def test_server_version_is_plain() -> None:
    packaging_version = pytest.importorskip("packaging.version")
    packaging_version.Version(SERVER_VERSION)  # redshift_connector parses it so
    assert SERVER_VERSION == SQL_SERVER_VERSION and SERVER_VERSION.startswith("15.")


# --------------------------------------------------------------------------- over the wire


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    con = make_database(Path(tmp_path_factory.mktemp("pgwire")) / "w.duckdb")
    ep = Endpoint(con)
    yield ep
    ep.close()
    con.close()


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def recv(self) -> tuple[bytes, bytes]:
        while len(self.buf) < 5 or len(self.buf) < 1 + struct.unpack("!i", self.buf[1:5])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        n = struct.unpack("!i", self.buf[1:5])[0]
        kind, payload, self.buf = self.buf[:1], self.buf[5 : 1 + n], self.buf[1 + n :]
        return kind, payload

    def startup(self, **params: str) -> tuple[bytes, bytes]:
        body = b"".join(m.cstr(k) + m.cstr(v) for k, v in params.items()) + b"\x00"
        self.sock.sendall(struct.pack("!ii", len(body) + 8, m.PROTOCOL_V3) + body)
        return self.recv()

    def close(self) -> None:
        self.sock.close()


REDSHIFT = {"user": "admin", "database": "dev", "client_protocol_version": "2"}


def test_redshift_driver_is_asked_for_md5(endpoint: Endpoint) -> None:
    c = Client(endpoint.port)
    kind, payload = c.startup(**REDSHIFT)
    assert kind == b"R" and struct.unpack("!i", payload[:4])[0] == 5
    c.sock.sendall(m.message(b"p", _md5_answer("admin", PASSWORD, payload[4:8])))
    kind, payload = c.recv()
    assert (kind, payload) == (b"R", struct.pack("!i", 0))
    status = {}
    while (msg := c.recv())[0] != b"Z":
        if msg[0] == b"S":
            name, value, _ = msg[1].split(b"\x00")
            status[name.decode()] = value.decode()
    assert status["server_version"] == SERVER_VERSION
    c.close()


@pytest.mark.parametrize("user", ["admin", "nobody"])
def test_md5_failure_is_the_same_for_unknown_users(endpoint: Endpoint, user: str) -> None:
    c = Client(endpoint.port)
    kind, payload = c.startup(**{**REDSHIFT, "user": user})
    assert struct.unpack("!i", payload[:4])[0] == 5
    c.sock.sendall(m.message(b"p", _md5_answer(user, "wrong", payload[4:8])))
    kind, payload = c.recv()
    assert kind == b"E"
    assert b"C28P01\x00" in payload
    assert f'password authentication failed for user "{user}"'.encode() in payload
    c.close()


def test_postgresql_clients_still_get_scram(endpoint: Endpoint) -> None:
    c = Client(endpoint.port)
    kind, payload = c.startup(user="admin", database="dev", application_name="psql")
    assert kind == b"R" and struct.unpack("!i", payload[:4])[0] == 10
    assert payload[4:] == b"SCRAM-SHA-256\x00\x00"
    c.close()
