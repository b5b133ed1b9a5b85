"""Unit tests of the wire layer's pure parts: SCRAM, the admin password file, type codecs."""

from __future__ import annotations

import base64
import datetime as dt
import struct
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroetl.errors import ConfigError
from zeroetl.server.pgwire import messages as m
from zeroetl.server.pgwire.auth import (
    Authenticator,
    AuthFailed,
    ScramExchange,
    ScramVerifier,
    admin_password,
)
from zeroetl.server.pgwire.params import decode_param, numeric_from_binary
from zeroetl.server.pgwire.types import codec_for, numeric_to_binary


def test_scram_rfc7677_vector() -> None:
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    v = ScramVerifier.from_password("pencil", salt=salt, iterations=4096)
    ex = ScramExchange(v, known_user=True, nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    first = ex.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert first == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = ex.final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_wrong_proof_and_unknown_user() -> None:
    auth = Authenticator({"admin": "pencil"})
    ex = auth.exchange("admin")
    server_first = ex.first(b"n,,n=,r=abc").decode()
    nonce = server_first.split(",")[0][2:]
    with pytest.raises(AuthFailed) as err:
        ex.final(f"c=biws,r={nonce},p={base64.b64encode(b'x' * 32).decode()}".encode())
    assert err.value.sqlstate == "28P01"
    # an unknown user still gets a full-looking exchange, then fails the same way
    ex2 = auth.exchange("nobody")
    assert b"s=" in ex2.first(b"n,,n=,r=abc")
    with pytest.raises(AuthFailed, match="channel binding"):
        auth.exchange("admin").first(b"p=tls-server-end-point,,n=,r=abc")


def test_verifier_text_round_trip() -> None:
    v = ScramVerifier.from_password("pw")
    assert ScramVerifier.parse(v.to_text()) == v
    auth = Authenticator({"a": v.to_text()})
    assert auth.users == ["a"]
    with pytest.raises(ConfigError):
        ScramVerifier.parse("SCRAM-SHA-256$x")


def test_admin_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEROETL_SQL_PASSWORD", raising=False)
    with pytest.raises(ConfigError):
        admin_password(tmp_path, create=False)
    pw = admin_password(tmp_path)
    f = tmp_path / "sql.password"
    assert f.stat().st_mode & 0o777 == 0o600
    assert len(pw) >= 20 and admin_password(tmp_path) == pw
    monkeypatch.setenv("ZEROETL_SQL_PASSWORD", "from-env")  # config.py's to read, not ours
    assert admin_password(tmp_path) == pw
    assert admin_password(tmp_path, "configured") == "configured"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_numeric_binary_round_trip(d: Decimal) -> None:
    if abs(d.as_tuple().exponent) > 1000 or len(d.as_tuple().digits) > 100:  # type: ignore[arg-type]
        return
    assert numeric_from_binary(numeric_to_binary(d)) == d


def test_numeric_binary_known_bytes() -> None:
    # PostgreSQL sends 12345.678 as ndigits=3 weight=1 sign=0 dscale=3 digits [1, 2345, 6780]
    assert numeric_to_binary(Decimal("12345.678")) == struct.pack(
        "!hhHh3H", 3, 1, 0, 3, 1, 2345, 6780
    )
    assert numeric_to_binary(Decimal("-0.001")) == struct.pack("!hhHhH", 1, -1, 0x4000, 3, 10)
    assert numeric_to_binary(Decimal("0")) == struct.pack("!hhHh", 0, 0, 0, 0)


def _text(arr: pa.Array) -> list[bytes | None]:
    return codec_for(arr.type).encode(arr, 0)


def test_text_encoders() -> None:
    assert _text(pa.array([True, False, None])) == [b"t", b"f", None]
    assert _text(pa.array([1.0, float("inf"), float("nan")])) == [b"1", b"Infinity", b"NaN"]
    assert _text(pa.array([dt.date(2024, 2, 29), None])) == [b"2024-02-29", None]
    assert _text(pa.array([2**31 - 1], pa.int32()).view(pa.date32())) == [b"infinity"]
    ts = pa.array([dt.datetime(2020, 1, 2, 3, 4, 5, 120000)], pa.timestamp("us"))
    assert _text(ts) == [b"2020-01-02 03:04:05.12"]
    assert _text(ts.cast(pa.timestamp("us", "UTC"))) == [b"2020-01-02 03:04:05.12+00"]
    iv = pa.array([pa.MonthDayNano([14, 3, 3_600_000_000_000])], pa.month_day_nano_interval())
    assert _text(iv) == [b"1 year 2 mons 3 days 01:00:00"]
    assert _text(pa.array([b"\x00\x01"])) == [b"\\x0001"]
    assert _text(pa.array([[1, None], []], pa.list_(pa.int32()))) == [b"{1,NULL}", b"{}"]
    assert _text(pa.array([["a b", 'q"']], pa.list_(pa.string()))) == [b'{"a b","q\\""}']
    assert _text(pa.array([{"x": 1}])) == [b'{"x": 1}']
    u = uuid.uuid4()
    assert _text(pa.array([u.bytes], pa.uuid())) == [str(u).encode()]
    assert codec_for(pa.decimal128(12, 3)).typmod == ((12 << 16) | 3) + 4


def test_binary_encoders_on_a_slice() -> None:
    arr = pa.array([5, None, -7], pa.int64()).slice(1)
    assert codec_for(arr.type).encode(arr, 1) == [None, struct.pack("!q", -7)]
    d = pa.array([dt.date(2000, 1, 2)])
    assert codec_for(d.type).encode(d, 1) == [struct.pack("!i", 1)]
    lst = pa.array([[1], [2, 3]], pa.list_(pa.int32())).slice(1)
    (enc,) = codec_for(lst.type).encode(lst, 1)
    assert enc == struct.pack("!iiIii", 1, 0, 23, 2, 1) + struct.pack("!ii", 4, 2) + struct.pack(
        "!ii", 4, 3
    )


def test_decode_params() -> None:
    assert decode_param(b"42", 23, 0) == 42
    assert decode_param(struct.pack("!q", -3), 20, 1) == -3
    assert decode_param(b"t", 16, 0) is True
    assert decode_param(b"2024-02-29 01:02:03", 1114, 0) == dt.datetime(2024, 2, 29, 1, 2, 3)
    assert decode_param(struct.pack("!q", 0), 1184, 1) == dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert decode_param(b"\\x00ff", 17, 0) == b"\x00\xff"
    assert decode_param(b"abc", 0, 0) == "abc"
    assert decode_param(None, 23, 1) is None
    with pytest.raises(ValueError):
        decode_param(b"x", 23, 0)


def test_message_framing() -> None:
    bind = (
        m.cstr("p")
        + m.cstr("s")
        + struct.pack("!hh", 1, 1)
        + struct.pack("!h", 2)
        + struct.pack("!i", 4)
        + b"\x00\x00\x00\x07"
        + struct.pack("!i", -1)
        + struct.pack("!hh", 1, 1)
    )
    b = m.parse_bind(bind)
    assert (b.portal, b.statement, b.params, b.result_formats) == (
        "p",
        "s",
        (b"\x00\x00\x00\x07", None),
        (1,),
    )
    assert m.expand_formats((), 3) == [0, 0, 0] and m.expand_formats((1,), 2) == [1, 1]
    rows = m.data_rows([[b"a", None]], 2)
    assert rows == m.message(b"D", b"\x00\x01\x00\x00\x00\x01a") + m.message(
        b"D", b"\x00\x01\xff\xff\xff\xff"
    )
