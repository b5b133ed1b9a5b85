"""Hostile bytes on the wire: oversized pre-auth messages, invalid UTF-8 everywhere, unknown
message types, control characters in names that end up in logs, and clients that vanish while
their query runs. Each gets a clear protocol answer, never an uncaught exception."""

from __future__ import annotations

import io
import logging
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pgwire_standin import Endpoint, make_database
from tests.service_support import wait_for
from tests.unit.test_pgwire_protocol import RawClient, fields, query

from zeroetl import logs
from zeroetl.server.pgwire import messages as m


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    con = make_database(Path(tmp_path_factory.mktemp("hostile")) / "w.duckdb")
    ep = Endpoint(con)
    yield ep
    ep.close()
    con.close()


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """What the SQL endpoint logs, through the service's formatter; uncaught errors included."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.SafeFormatter(logs.FORMAT))
    logger = logging.getLogger("zeroetl.pgwire")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(old)


def startup_packet(**params: bytes) -> bytes:
    body = b"".join(k.encode() + b"\x00" + v + b"\x00" for k, v in params.items()) + b"\x00"
    return struct.pack("!ii", len(body) + 8, m.PROTOCOL_V3) + body


def fatal(c: RawClient) -> dict[str, str]:
    kind, payload = c.recv()
    assert kind == b"E", kind
    f = fields(payload)
    assert f["S"] == "FATAL"
    return f


def closed(c: RawClient) -> bool:
    c.sock.settimeout(10)
    try:
        return c.sock.recv(1) == b""
    except ConnectionError:
        return True


def to_sasl(c: RawClient, user: bytes = b"admin") -> None:
    c.send(startup_packet(user=user, database=b"dev"))
    kind, payload = c.recv()
    assert kind == b"R" and struct.unpack("!i", payload[:4])[0] == 10


# --- pre-auth size bounds ---------------------------------------------------------------


def test_huge_sasl_message_is_refused_from_its_header(endpoint: Endpoint, server_log) -> None:
    c = RawClient(endpoint.port)
    to_sasl(c)
    # Announce 40 MB and send only the header: the answer must not wait for the body.
    c.send(b"p" + struct.pack("!i", 40 * 1024 * 1024 + 4))
    f = fatal(c)
    assert f["C"] == "08P01" and "too long" in f["M"] and "before login" in f["M"]
    assert closed(c)
    assert "Traceback" not in server_log.getvalue()


def test_huge_second_sasl_message_is_refused(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    to_sasl(c)
    first = b"n,,n=,r=abcdefghijklmnop"
    c.send(m.message(b"p", m.cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
    assert c.recv()[0] == b"R"
    c.send(b"p" + struct.pack("!i", m.MAX_AUTH_MESSAGE_LEN + 100))
    assert fatal(c)["C"] == "08P01"


def test_huge_startup_packet_is_refused(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.send(struct.pack("!ii", 40 * 1024 * 1024, m.PROTOCOL_V3))
    f = fatal(c)
    assert f["C"] == "08P01" and "too long" in f["M"]


def test_normal_login_still_works_after_the_bounds(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    assert c.startup()[-1] == (b"Z", b"I")
    c.close()


# --- invalid UTF-8 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"user": b"adm\xffin", "database": b"dev"},
        {"user": b"admin", "database": b"d\xc3\x28ev"},
        {"user": b"admin", "database": b"dev", b"\xfe".decode("latin-1"): b"x"},
    ],
    ids=["user", "database", "parameter name"],
)
def test_invalid_utf8_in_startup_is_a_protocol_error(
    endpoint: Endpoint, server_log, params: dict[str, bytes]
) -> None:
    c = RawClient(endpoint.port)
    body = (
        b"".join(k.encode("latin-1") + b"\x00" + v + b"\x00" for k, v in params.items()) + b"\x00"
    )
    c.send(struct.pack("!ii", len(body) + 8, m.PROTOCOL_V3) + body)
    f = fatal(c)
    assert f["C"] == "08P01" and "UTF8" in f["M"]
    assert "Traceback" not in server_log.getvalue()


def test_invalid_utf8_in_scram_is_a_protocol_error(endpoint: Endpoint, server_log) -> None:
    c = RawClient(endpoint.port)
    to_sasl(c)
    first = b"n,,n=,r=\xff\xfe"
    c.send(m.message(b"p", m.cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
    assert fatal(c)["C"] == "08P01"
    c2 = RawClient(endpoint.port)
    to_sasl(c2)
    c2.send(m.message(b"p", b"SCRAM-\xffSHA-256\x00" + struct.pack("!i", 0)))
    assert fatal(c2)["C"] == "08P01"
    c3 = RawClient(endpoint.port)
    to_sasl(c3)
    first = b"n,,n=,r=abcdefghijklmnop"
    c3.send(m.message(b"p", m.cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
    assert c3.recv()[0] == b"R"
    c3.send(m.message(b"p", b"c=\xff\xff,r=abc,p=AAAA"))
    assert fatal(c3)["C"] == "08P01"
    c4 = RawClient(endpoint.port)
    to_sasl(c4)
    c4.send(m.message(b"p", m.cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
    server_first = c4.recv()[1][4:].decode()
    nonce = dict(p.split("=", 1) for p in server_first.split(","))["r"]
    c4.send(m.message(b"p", f"c=%%%,r={nonce},p=AAAA".encode()))  # not base64
    assert fatal(c4)["C"] == "08P01"
    assert "Traceback" not in server_log.getvalue()


def test_invalid_utf8_in_a_query_is_22021_and_the_session_goes_on(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.startup()
    c.send(m.message(b"Q", b"select '\xff'\x00"))
    msgs = c.until(b"Z")
    assert fields(msgs[0][1])["C"] == "22021" and msgs[-1] == (b"Z", b"I")
    c.send(m.message(b"P", b"\x00select '\xc3\x28'\x00\x00\x00") + m.message(b"S"))
    msgs = c.until(b"Z")
    assert fields(msgs[0][1])["C"] == "22021"
    c.send(query("select 42"))
    assert (b"D", b"\x00\x01\x00\x00\x00\x0242") in c.until(b"Z")
    c.close()


# --- unknown message types ---------------------------------------------------------------


def test_unknown_message_type_gets_error_then_ready(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.startup()
    c.send(m.message(b"!", b"junk"))
    msgs = c.until(b"Z")
    assert [k for k, _ in msgs] == [b"E", b"Z"]
    f = fields(msgs[0][1])
    assert f["C"] == "08P01" and "message type" in f["M"]
    c.send(query("select 1"))
    assert c.until(b"Z")[-1] == (b"Z", b"I")
    c.close()


# --- control characters in logged names --------------------------------------------------


def test_user_name_cannot_forge_log_lines(endpoint: Endpoint, server_log) -> None:
    c = RawClient(endpoint.port)
    user = "mallory\n2026-11-30 12:00:00,000 INFO zeroetl.pgwire: admin logged in\x1b[2K"
    (kind, _), *_ = c.startup(user=user, password="wrong")
    assert kind == b"E"
    wait_for(lambda: "mallory" in server_log.getvalue(), "the failed login to be logged", 10)
    text = server_log.getvalue()
    lines = [line for line in text.splitlines() if "mallory" in line or "logged in" in line]
    assert len(lines) == 1, text
    assert "\\n2026-11-30" in lines[0] and "\\x1b" in lines[0] and "\x1b" not in text


# --- a client that goes away ---------------------------------------------------------------


def test_disconnect_cancels_the_running_query(endpoint: Endpoint) -> None:
    before = endpoint.server.session_count
    c = RawClient(endpoint.port)
    c.startup()
    c.send(query("select sum(i) from range(100000000000) t(i)"))
    wait_for(lambda: endpoint.server.session_count == before + 1, "the session to start", 10)
    time.sleep(0.2)  # let the query start running
    c.sock.shutdown(socket.SHUT_RDWR)
    c.sock.close()
    # Without the cancel the sum would run for many minutes and keep its session.
    wait_for(lambda: endpoint.server.session_count == before, "the query to be cancelled", 30)


# --- settings in the startup packet --------------------------------------------------------


def test_startup_options_are_set_like_set() -> None:
    from zeroetl.server.pgwire.server import startup_settings

    assert startup_settings("-c statement_timeout=5s --application_name=a\\ b") == [
        ("statement_timeout", "'5s'"),
        ("application_name", "'a b'"),
    ]
    assert startup_settings("-cstatement_timeout=1000") == [("statement_timeout", "'1000'")]
    for bad in ("-c nothing", "statement_timeout=1", "-c x;drop=1"):
        with pytest.raises(m.ProtocolViolation):
            startup_settings(bad)
