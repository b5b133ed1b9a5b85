"""MySQL 8 binary JSON (the JSON column's binlog/storage format) -> compact JSON text.

Format: sql-common/json_binary.h. Every value is a type byte followed by its data; objects and
arrays hold tables of offsets relative to their own start, and small scalars are inlined in
those tables. Output uses `,`/`:` separators and keeps non-ASCII characters as they are.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from zeroetl.errors import DecodeError

SMALL_OBJECT, LARGE_OBJECT, SMALL_ARRAY, LARGE_ARRAY = 0x00, 0x01, 0x02, 0x03
LITERAL, INT16, UINT16, INT32, UINT32, INT64, UINT64 = 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A
DOUBLE, STRING, OPAQUE = 0x0B, 0x0C, 0x0F
_LITERALS = {0x00: None, 0x01: True, 0x02: False}

# Opaque payloads MySQL prints in their SQL form (others print as "base64:typeN:...").
_MYSQL_NEWDECIMAL, _MYSQL_DATE, _MYSQL_TIME, _MYSQL_DATETIME, _MYSQL_TIMESTAMP = 246, 10, 11, 12, 7
_MYSQL_TIMESTAMP2, _MYSQL_DATETIME2, _MYSQL_TIME2 = 17, 18, 19


class _Raw(str):
    """Text emitted verbatim (decimals keep their exact digits)."""


def json_text(data: bytes | memoryview) -> str:
    """One binary JSON document -> JSON text. An empty document is JSON null."""
    buf = bytes(data)
    if not buf:
        return "null"
    try:
        value = _value(buf[0], buf, 1, len(buf))
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise DecodeError(f"malformed MySQL binary JSON: {e}") from e
    return _dump(value)


def _dump(v: Any) -> str:
    if isinstance(v, _Raw):
        return str(v)
    if isinstance(v, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dump(x)}" for k, x in v.items())
            + "}"
        )
    if isinstance(v, list):
        return "[" + ",".join(_dump(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def _var_len(buf: bytes, pos: int) -> tuple[int, int]:
    """7 bits per byte, least significant first; high bit set means more bytes follow."""
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7


def _value(t: int, buf: bytes, pos: int, end: int) -> Any:
    if t in (SMALL_OBJECT, LARGE_OBJECT, SMALL_ARRAY, LARGE_ARRAY):
        return _container(t, buf, pos)
    if t == LITERAL:
        return _LITERALS[buf[pos]]
    if t in _SCALARS:
        return _SCALARS[t].unpack_from(buf, pos)[0]
    if t == STRING:
        n, pos = _var_len(buf, pos)
        return buf[pos : pos + n].decode("utf-8")
    if t == OPAQUE:
        field_type = buf[pos]
        n, pos = _var_len(buf, pos + 1)
        return _opaque(field_type, buf[pos : pos + n])
    raise DecodeError(f"unknown MySQL binary JSON type 0x{t:02x}")


_SCALARS = {
    INT16: struct.Struct("<h"), UINT16: struct.Struct("<H"), INT32: struct.Struct("<i"),
    UINT32: struct.Struct("<I"), INT64: struct.Struct("<q"), UINT64: struct.Struct("<Q"),
    DOUBLE: struct.Struct("<d"),
}  # fmt: skip


def _container(t: int, buf: bytes, base: int) -> Any:
    large = t in (LARGE_OBJECT, LARGE_ARRAY)
    w = 4 if large else 2
    count = int.from_bytes(buf[base : base + w], "little")
    pos = base + 2 * w  # skip the byte size
    keys: list[str] = []
    if t in (SMALL_OBJECT, LARGE_OBJECT):
        for _ in range(count):
            off = int.from_bytes(buf[pos : pos + w], "little")
            klen = int.from_bytes(buf[pos + w : pos + w + 2], "little")
            keys.append(buf[base + off : base + off + klen].decode("utf-8"))
            pos += w + 2
    values: list[Any] = []
    for _ in range(count):
        vt = buf[pos]
        inline = vt in (LITERAL, INT16, UINT16) or (large and vt in (INT32, UINT32))
        if inline:
            values.append(_value(vt, buf, pos + 1, pos + 1 + w))
        else:
            off = int.from_bytes(buf[pos + 1 : pos + 1 + w], "little")
            values.append(_value(vt, buf, base + off, len(buf)))
        pos += 1 + w
    if t in (SMALL_OBJECT, LARGE_OBJECT):
        return dict(zip(keys, values, strict=True))
    return values


def _opaque(field_type: int, data: bytes) -> Any:
    if field_type == _MYSQL_NEWDECIMAL and len(data) >= 2:
        from zeroetl.sources.mysql.decimal import decimal_text

        return _Raw(decimal_text(data[2:], data[0], data[1]))
    if field_type in (_MYSQL_DATE, _MYSQL_TIME, _MYSQL_DATETIME, _MYSQL_TIMESTAMP,
                      _MYSQL_TIMESTAMP2, _MYSQL_DATETIME2, _MYSQL_TIME2) and len(data) == 8:  # fmt: skip
        return _packed_temporal(field_type, int.from_bytes(data, "little", signed=True))
    return f"base64:type{field_type}:{base64.b64encode(data).decode('ascii')}"


def _packed_temporal(field_type: int, packed: int) -> str:
    """MySQL's in-memory packed longlong: (ymd << 17 | hms) << 24 | microseconds."""
    sign = "-" if packed < 0 else ""
    packed = abs(packed)
    frac = packed % (1 << 24)
    ymdhms = packed >> 24
    ymd, hms = ymdhms >> 17, ymdhms % (1 << 17)
    ym, day = ymd >> 5, ymd % 32
    year, month = divmod(ym, 13)
    hour, minute, second = hms >> 12, (hms >> 6) % 64, hms % 64
    if field_type == _MYSQL_DATE:
        return f"{year:04d}-{month:02d}-{day:02d}"
    clock = f"{hour:02d}:{minute:02d}:{second:02d}.{frac:06d}"
    if field_type in (_MYSQL_TIME, _MYSQL_TIME2):
        # TIME keeps hours past 24 in the day/hour fields of the packed form.
        return f"{sign}{(ymdhms >> 12) % (1 << 23):02d}:{minute:02d}:{second:02d}.{frac:06d}"
    return f"{year:04d}-{month:02d}-{day:02d} {clock}"
