"""MySQL 8 binary JSON -> JSON text, from hand-built documents covering every binary type."""

from __future__ import annotations

import json
import struct

import pytest

from zeroetl.errors import DecodeError
from zeroetl.sources.mysql.decimal import decimal_size
from zeroetl.sources.mysql.jsonb import json_text


def _var_len(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _scalar(t: int, payload: bytes) -> bytes:
    return bytes([t]) + payload


def _container(items: list[tuple[str | None, int, bytes]], large: bool, obj: bool) -> bytes:
    """items: (key, type, value bytes without the type byte). Returns the body (no type byte)."""
    w = 4 if large else 2
    fmt = "<I" if large else "<H"
    n = len(items)
    header = 2 * w + (n * (w + 2) if obj else 0) + n * (1 + w)
    keys = b""
    key_entries = b""
    if obj:
        for k, _, _ in items:
            kb = k.encode()  # type: ignore[union-attr]
            key_entries += struct.pack(fmt, header + len(keys)) + struct.pack("<H", len(kb))
            keys += kb
    values = b""
    value_entries = b""
    inline = {0x04, 0x05, 0x06} | ({0x07, 0x08} if large else set())
    for _, t, v in items:
        if t in inline:
            value_entries += bytes([t]) + v.ljust(w, b"\0")
        else:
            value_entries += bytes([t]) + struct.pack(fmt, header + len(keys) + len(values))
            values += v
    body = key_entries + value_entries + keys + values
    size = 2 * w + len(body)
    return struct.pack(fmt, n) + struct.pack(fmt, size) + body


def _doc(t: int, body: bytes) -> bytes:
    return bytes([t]) + body


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_doc(0x04, b"\x00"), "null"),
        (_doc(0x04, b"\x01"), "true"),
        (_doc(0x04, b"\x02"), "false"),
        (_doc(0x05, struct.pack("<h", -32768)), "-32768"),
        (_doc(0x06, struct.pack("<H", 65535)), "65535"),
        (_doc(0x07, struct.pack("<i", -(2**31))), str(-(2**31))),
        (_doc(0x08, struct.pack("<I", 2**32 - 1)), str(2**32 - 1)),
        (_doc(0x09, struct.pack("<q", -(2**63))), str(-(2**63))),
        (_doc(0x0A, struct.pack("<Q", 2**64 - 1)), str(2**64 - 1)),
        (_doc(0x0B, struct.pack("<d", 1.5e300)), "1.5e+300"),
        (_doc(0x0B, struct.pack("<d", -0.0)), "-0.0"),
        (
            _doc(0x0C, _var_len(5) + b"h\xc3\xa9llo"[:5]),
            json.dumps("h\u00e9ll", ensure_ascii=False),
        ),
        (_doc(0x0C, _var_len(200) + b"x" * 200), json.dumps("x" * 200)),
        (_doc(0x0C, _var_len(4) + "😀".encode()), '"😀"'),
        (b"", "null"),
    ],
)
def test_scalars(doc: bytes, expected: str) -> None:
    assert json_text(doc) == expected


def test_small_object_with_every_value_kind() -> None:
    inner_arr = _container(
        [(None, 0x05, struct.pack("<h", 1)), (None, 0x04, b"\x00")], False, False
    )
    inner_obj = _container([("k", 0x0C, _var_len(1) + b"v")], False, True)
    body = _container(
        [
            ("a", 0x05, struct.pack("<h", -5)),
            ("b", 0x06, struct.pack("<H", 7)),
            ("c", 0x04, b"\x01"),
            ("d", 0x07, struct.pack("<i", 100000)),
            ("e", 0x0B, struct.pack("<d", 0.25)),
            ("f", 0x02, inner_arr),
            ("g", 0x00, inner_obj),
            ("h", 0x0C, _var_len(2) + b'\\"'),
        ],
        False,
        True,
    )
    text = json_text(_doc(0x00, body))
    assert (
        text
        == '{"a":-5,"b":7,"c":true,"d":100000,"e":0.25,"f":[1,null],"g":{"k":"v"},"h":"\\\\\\""}'
    )
    assert json.loads(text)["h"] == '\\"'


def test_large_containers_inline_int32() -> None:
    arr = _container(
        [
            (None, 0x07, struct.pack("<i", -7)),
            (None, 0x08, struct.pack("<I", 9)),
            (None, 0x09, struct.pack("<q", 2**40)),
        ],
        True,
        False,
    )
    obj = _container([("x", 0x03, arr), ("y", 0x04, b"\x02")], True, True)
    assert json_text(_doc(0x01, obj)) == '{"x":[-7,9,1099511627776],"y":false}'


def test_big_array_needs_large_format() -> None:
    items = [(None, 0x0C, _var_len(3) + b"abc") for _ in range(20000)]
    body = _container(items, True, False)
    assert json.loads(json_text(_doc(0x03, body))) == ["abc"] * 20000


def _decimal_bytes(text: str, precision: int, scale: int) -> bytes:
    neg = text.startswith("-")
    ip, _, fp = text.lstrip("-").partition(".")
    fp = fp.ljust(scale, "0")
    intg = precision - scale
    dig2 = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
    digits_i = ip.rjust(intg, "0")
    out = b""
    lead = intg % 9
    if lead:
        out += int(digits_i[:lead]).to_bytes(dig2[lead], "big")
    for k in range(lead, intg, 9):
        out += int(digits_i[k : k + 9]).to_bytes(4, "big")
    for k in range(0, scale - scale % 9, 9):
        out += int(fp[k : k + 9]).to_bytes(4, "big")
    if scale % 9:
        out += int(fp[scale - scale % 9 :]).to_bytes(dig2[scale % 9], "big")
    assert len(out) == decimal_size(precision, scale)
    b = bytearray(out)
    b[0] ^= 0x80
    if neg:
        b = bytearray(x ^ 0xFF for x in b)
    return bytes(b)


def test_opaque_values() -> None:
    dec = bytes([10, 3]) + _decimal_bytes("-1234.500", 10, 3)
    assert json_text(_doc(0x0F, bytes([246]) + _var_len(len(dec)) + dec)) == "-1234.500"
    # DATETIME 2015-01-15 23:24:25.000123 in MySQL's packed longlong
    ymd = ((2015 * 13 + 1) << 5) | 15
    hms = (23 << 12) | (24 << 6) | 25
    packed = ((ymd << 17 | hms) << 24) | 123
    payload = struct.pack("<q", packed)
    assert (
        json_text(_doc(0x0F, bytes([12]) + _var_len(8) + payload)) == '"2015-01-15 23:24:25.000123"'
    )
    assert (
        json_text(_doc(0x0F, bytes([10]) + _var_len(8) + struct.pack("<q", (ymd << 17) << 24)))
        == '"2015-01-15"'
    )
    tpacked = ((30 << 12 | 1 << 6 | 2) << 24) | 500000
    assert (
        json_text(_doc(0x0F, bytes([11]) + _var_len(8) + struct.pack("<q", tpacked)))
        == '"30:01:02.500000"'
    )
    assert (
        json_text(_doc(0x0F, bytes([11]) + _var_len(8) + struct.pack("<q", -tpacked)))
        == '"-30:01:02.500000"'
    )
    assert (
        json_text(_doc(0x0F, bytes([252]) + _var_len(3) + b"\x00\xff\x10"))
        == '"base64:type252:AP8Q"'
    )


def test_decimal_roundtrip_helper_matches_decoder() -> None:
    from zeroetl.sources.mysql.decimal import decimal_text

    for text, p, s in [("0.000", 10, 3), ("-99999.99", 7, 2), ("9" * 35 + "." + "9" * 30, 65, 30),
                       ("-0.000000000000000000000000000001", 65, 30), ("12345678901234567890", 20, 0)]:  # fmt: skip
        assert decimal_text(_decimal_bytes(text, p, s), p, s) == text


def test_malformed_raises() -> None:
    with pytest.raises(DecodeError):
        json_text(b"\x0e\x00")
    with pytest.raises(DecodeError):
        json_text(_doc(0x00, b"\x05\x00"))
