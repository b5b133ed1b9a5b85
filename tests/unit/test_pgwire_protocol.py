"""Protocol-level tests with a raw client: what libpq-based clients cannot show directly
(Execute row limits, exact SQLSTATEs at start-up, status bytes, error recovery until Sync)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pgwire_standin import PASSWORD, Endpoint, make_database

from zeroetl.server.pgwire import messages as m


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    con = make_database(Path(tmp_path_factory.mktemp("pgwire")) / "w.duckdb")
    ep = Endpoint(con)
    yield ep
    ep.close()
    con.close()


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self) -> tuple[bytes, bytes]:
        kind, length = struct.unpack("!ci", self._read(5))
        return kind, self._read(length - 4)

    def until(self, kind: bytes) -> list[tuple[bytes, bytes]]:
        out = []
        while True:
            msg = self.recv()
            out.append(msg)
            if msg[0] == kind:
                return out

    def startup(
        self, user: str = "admin", password: str = PASSWORD, database: str = "dev"
    ) -> list[tuple[bytes, bytes]]:
        params = m.cstr("user") + m.cstr(user) + m.cstr("database") + m.cstr(database) + b"\x00"
        self.send(struct.pack("!ii", len(params) + 8, m.PROTOCOL_V3) + params)
        kind, payload = self.recv()
        assert kind == b"R" and struct.unpack("!i", payload[:4])[0] == 10
        cnonce = "fyko+d2lbbFgONRv9qkxdawL"
        first_bare = f"n=,r={cnonce}"
        first = ("n,," + first_bare).encode()
        body = m.cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first
        self.send(m.message(b"p", body))
        kind, payload = self.recv()
        if kind == b"E":
            return [(kind, payload)]
        server_first = payload[4:].decode()
        attrs = dict(p.split("=", 1) for p in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_msg = f"{first_bare},{server_first},{without_proof}".encode()
        sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
        self.send(m.message(b"p", f"{without_proof},p={base64.b64encode(proof).decode()}".encode()))
        msgs = [self.recv()]
        while msgs[-1][0] not in (b"E", b"Z"):
            msgs.append(self.recv())
        return msgs

    def close(self) -> None:
        self.send(m.message(b"X"))
        self.sock.close()


def fields(payload: bytes) -> dict[str, str]:
    out = {}
    for part in payload.split(b"\x00"):
        if part:
            out[chr(part[0])] = part[1:].decode()
    return out


def parse(name: str, sql: str, oids: tuple[int, ...] = ()) -> bytes:
    return m.message(
        b"P", m.cstr(name) + m.cstr(sql) + struct.pack(f"!h{len(oids)}i", len(oids), *oids)
    )


def bind(portal: str, stmt: str, params: tuple[bytes | None, ...] = (), fmt: int = 0) -> bytes:
    body = (
        m.cstr(portal) + m.cstr(stmt) + struct.pack("!hh", 1, fmt) + struct.pack("!h", len(params))
    )
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    return m.message(b"B", body + struct.pack("!h", 0))


def execute(portal: str, max_rows: int = 0) -> bytes:
    return m.message(b"E", m.cstr(portal) + struct.pack("!i", max_rows))


SYNC = m.message(b"S")


def query(sql: str) -> bytes:
    return m.message(b"Q", m.cstr(sql))


def test_startup_reports_parameters(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    msgs = c.startup()
    status = dict(p[1].decode().split("\x00")[:2] for p in msgs if p[0] == b"S")
    assert status["server_version"].startswith("15.")
    assert status["client_encoding"] == "UTF8" and status["TimeZone"] == "UTC"
    assert status["integer_datetimes"] == "on" and status["standard_conforming_strings"] == "on"
    assert status["DateStyle"].startswith("ISO")
    assert any(k == b"K" for k, _ in msgs) and msgs[-1] == (b"Z", b"I")
    c.close()


def test_wrong_password_is_28P01(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    (kind, payload), *_ = c.startup(password="wrong")
    assert kind == b"E"
    f = fields(payload)
    assert (f["S"], f["C"]) == ("FATAL", "28P01") and "admin" in f["M"]
    c2 = RawClient(endpoint.port)
    (kind, payload), *_ = c2.startup(user="nobody", password="x")
    assert fields(payload)["C"] == "28P01"


def test_unknown_database_is_3D000(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    msgs = c.startup(database="nope")
    assert msgs[-1][0] == b"E" and fields(msgs[-1][1])["C"] == "3D000"


def test_ssl_request_refused_without_tls(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.send(struct.pack("!ii", 8, m.SSL_REQUEST))
    assert c._read(1) == b"N"
    assert c.startup()[-1] == (b"Z", b"I")


def test_execute_row_limit_suspends_portal(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.startup()
    c.send(
        parse("s1", "select id from big where id < $1 order by id", (20,))
        + bind("p1", "s1", (b"10",))
    )
    c.send(m.message(b"D", b"P" + m.cstr("p1")) + execute("p1", 4) + m.message(b"H"))
    msgs = [c.recv() for _ in range(4)]
    assert [k for k, _ in msgs] == [b"1", b"2", b"T", b"D"]
    got = [c.recv() for _ in range(4)]
    assert [k for k, _ in got] == [b"D", b"D", b"D", b"s"]
    c.send(execute("p1", 4) + execute("p1", 0) + SYNC)
    rest = c.until(b"Z")
    kinds = [k for k, _ in rest]
    assert kinds == [b"D"] * 4 + [b"s"] + [b"D", b"D", b"C", b"Z"]
    assert rest[-2][1] == m.cstr("SELECT 2")
    c.close()


def test_error_skips_to_sync_and_statement_reuse(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.startup()
    c.send(parse("", "select * from missing_table") + bind("", "") + execute("") + SYNC)
    msgs = c.until(b"Z")
    assert [k for k, _ in msgs] == [b"1", b"2", b"E", b"Z"]
    assert fields(msgs[2][1])["C"] == "42P01"
    # a named statement is analysed at Parse, as PostgreSQL does: the error comes there,
    # Bind/Execute are skipped and the name stays free
    c.send(parse("bad", "select * from missing_table") + bind("", "bad") + execute("") + SYNC)
    msgs = c.until(b"Z")
    assert [k for k, _ in msgs] == [b"E", b"Z"]
    assert fields(msgs[0][1])["C"] == "42P01"
    c.send(parse("bad", "select 1") + bind("", "bad") + execute("") + SYNC)
    assert [k for k, _ in c.until(b"Z")] == [b"1", b"2", b"D", b"C", b"Z"]
    # named statement reused with different parameters, binary parameter format
    c.send(parse("q", "select label from big where id = $1", (20,)))
    for i in (7, 8):
        c.send(bind("", "q", (struct.pack("!q", i),), fmt=1) + execute(""))
    c.send(SYNC)
    rows = [p for k, p in c.until(b"Z") if k == b"D"]
    assert [r[6:] for r in rows] == [b"row 7", b"row 8"]
    c.send(parse("q", "select 1") + SYNC)
    msgs = c.until(b"Z")
    assert fields(msgs[0][1])["C"] == "42P05"
    c.send(m.message(b"D", b"S" + m.cstr("q")) + SYNC)
    kinds = [k for k, _ in c.until(b"Z")]
    assert kinds == [b"t", b"T", b"Z"]
    c.close()


def test_transaction_status_bytes(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.startup()
    c.send(query("begin"))
    assert c.until(b"Z")[-1] == (b"Z", b"T")
    c.send(query("select nope_column from big"))
    assert c.until(b"Z")[-1] == (b"Z", b"E")
    c.send(query("rollback"))
    assert c.until(b"Z")[-1] == (b"Z", b"I")
    c.send(query(""))
    assert [k for k, _ in c.until(b"Z")] == [b"I", b"Z"]
    c.send(query("select 1; select nope(); select 2"))
    kinds = [k for k, _ in c.until(b"Z")]
    assert kinds == [b"T", b"D", b"C", b"E", b"Z"]
    c.close()


def test_cursor_statements(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.startup()
    c.send(query("begin; declare cur cursor for select id from big order by id; fetch 3 from cur"))
    msgs = c.until(b"Z")
    assert [k for k, _ in msgs] == [b"C", b"C", b"T", b"D", b"D", b"D", b"C", b"Z"]
    assert msgs[1][1] == m.cstr("DECLARE CURSOR") and msgs[-2][1] == m.cstr("FETCH 3")
    c.send(query("move forward 10 from cur; fetch next from cur; close cur; commit"))
    msgs = c.until(b"Z")
    assert (b"C", m.cstr("MOVE 10")) in msgs and (b"C", m.cstr("CLOSE CURSOR")) in msgs
    assert [p for k, p in msgs if k == b"D"] == [b"\x00\x01\x00\x00\x00\x0213"]
    c.send(query("declare c2 cursor for select 1"))
    assert fields(c.until(b"Z")[0][1])["C"] == "25P01"
    c.close()
