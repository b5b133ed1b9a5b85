"""PostgreSQL wire protocol v3 codec: framing, frontend message parsing, backend message builders.

Only byte-level work lives here (no I/O policy, no session state), so both the server and the
tests' raw protocol client can use it. Reference: PostgreSQL docs, "Frontend/Backend Protocol".
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROTOCOL_V3 = 196608  # 3 << 16
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

# Startup packets are small; a huge length is a port scanner or a confused client.
MAX_STARTUP_LEN = 10_000
# Biggest regular message we accept (a Bind with large parameters); PostgreSQL allows 1 GB.
MAX_MESSAGE_LEN = 256 * 1024 * 1024
# Before login a client is anonymous: SASL and password messages are a few hundred bytes.
MAX_AUTH_MESSAGE_LEN = 8192

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_HDR = struct.Struct("!ci")
NULL_FIELD = b"\xff\xff\xff\xff"


class ProtocolViolation(Exception):
    """The peer sent bytes that are not valid protocol; the connection is closed (SQLSTATE 08P01)."""


class InvalidText(ProtocolViolation):
    """A string field is not valid UTF-8. Before login the connection is closed (08P01); after,
    the message is refused like PostgreSQL does (SQLSTATE 22021) and the session goes on."""


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise InvalidText(f'invalid byte sequence for encoding "UTF8": 0x{bad}') from None


# --------------------------------------------------------------------------- reading


async def read_startup(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read an untyped startup-phase packet: (code, payload after the code)."""
    (length,) = _I32.unpack(await reader.readexactly(4))
    if length < 8:
        raise ProtocolViolation(f"invalid startup packet length {length}")
    if length > MAX_STARTUP_LEN:
        raise ProtocolViolation(
            f"startup packet too long: {length} bytes, at most {MAX_STARTUP_LEN} accepted"
        )
    body = await reader.readexactly(length - 4)
    (code,) = _I32.unpack_from(body)
    return code, body[4:]


async def read_message(
    reader: asyncio.StreamReader, max_len: int = MAX_MESSAGE_LEN
) -> tuple[bytes, bytes]:
    """Read one typed message: (type byte, payload). A length over `max_len` is refused from the
    header, before the body is read."""
    header = await reader.readexactly(5)
    kind, length = _HDR.unpack(header)
    if length < 4:
        raise ProtocolViolation(f"invalid message length {length} for message type {kind!r}")
    if length > max_len:
        raise ProtocolViolation(
            f"message of type {kind!r} too long: {length} bytes, at most {max_len} accepted"
            + (" before login" if max_len == MAX_AUTH_MESSAGE_LEN else "")
        )
    return kind, await reader.readexactly(length - 4)


class Buffer:
    """Cursor over one message's payload."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise ProtocolViolation("message too short")
        (v,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def int32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise ProtocolViolation("message too short")
        (v,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def cstr(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolViolation("unterminated string in message")
        s = decode_text(self.data[self.pos : end])
        self.pos = end + 1
        return s

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolViolation("message too short")
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return v

    def rest(self) -> bytes:
        v = self.data[self.pos :]
        self.pos = len(self.data)
        return v


def parse_startup_params(payload: bytes) -> dict[str, str]:
    """Key/value pairs of a StartupMessage (after the protocol code)."""
    parts = payload.split(b"\x00")
    params: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        if not parts[i]:
            break
        params[decode_text(parts[i])] = decode_text(parts[i + 1])
    return params


@dataclass(frozen=True, slots=True)
class Parse:
    name: str
    query: str
    param_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


def parse_parse(payload: bytes) -> Parse:
    b = Buffer(payload)
    name, query = b.cstr(), b.cstr()
    oids = tuple(b.int32() & 0xFFFFFFFF for _ in range(b.int16()))
    return Parse(name, query, oids)


def parse_bind(payload: bytes) -> Bind:
    b = Buffer(payload)
    portal, statement = b.cstr(), b.cstr()
    pformats = tuple(b.int16() for _ in range(b.int16()))
    values: list[bytes | None] = []
    for _ in range(b.int16()):
        n = b.int32()
        values.append(None if n == -1 else b.take(n))
    rformats = tuple(b.int16() for _ in range(b.int16()))
    return Bind(portal, statement, pformats, tuple(values), rformats)


def expand_formats(codes: Sequence[int], n: int) -> list[int]:
    """Per-item format codes from a Bind list: none = all text, one = all alike, else one each."""
    if not codes:
        return [0] * n
    if len(codes) == 1:
        return [codes[0]] * n
    if len(codes) != n:
        raise ProtocolViolation(f"{len(codes)} format codes given for {n} items")
    return list(codes)


# --------------------------------------------------------------------------- building


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + _I32.pack(len(payload) + 4) + payload


def cstr(s: str) -> bytes:
    return s.encode("utf-8") + b"\x00"


def auth_ok() -> bytes:
    return message(b"R", _I32.pack(0))


def auth_md5(salt: bytes) -> bytes:
    return message(b"R", _I32.pack(5) + salt)


def auth_sasl(mechanisms: Iterable[str]) -> bytes:
    return message(b"R", _I32.pack(10) + b"".join(cstr(m) for m in mechanisms) + b"\x00")


def auth_sasl_continue(data: bytes) -> bytes:
    return message(b"R", _I32.pack(11) + data)


def auth_sasl_final(data: bytes) -> bytes:
    return message(b"R", _I32.pack(12) + data)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstr(name) + cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message(b"K", struct.pack("!ii", pid, secret))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def negotiate_protocol_version(minor: int, unknown: Sequence[str]) -> bytes:
    payload = _I32.pack(minor) + _I32.pack(len(unknown)) + b"".join(cstr(o) for o in unknown)
    return message(b"v", payload)


def row_description(fields: Sequence[tuple[str, int, int, int, int]]) -> bytes:
    """fields: (name, type oid, typlen, typmod, format code)."""
    parts = [_I16.pack(len(fields))]
    for name, oid, typlen, typmod, fmt in fields:
        parts.append(cstr(name) + struct.pack("!ihihih", 0, 0, oid, typlen, typmod, fmt))
    return message(b"T", b"".join(parts))


def parameter_description(oids: Sequence[int]) -> bytes:
    return message(b"t", _I16.pack(len(oids)) + b"".join(struct.pack("!I", o) for o in oids))


def command_complete(tag: str) -> bytes:
    return message(b"C", cstr(tag))


def copy_out_response(ncols: int) -> bytes:
    """CopyOutResponse: text format overall and for every column."""
    return message(b"H", b"\x00" + _I16.pack(ncols) + _I16.pack(0) * ncols)


def copy_data(lines: Iterable[bytes]) -> bytes:
    return b"".join(message(b"d", line) for line in lines)


COPY_DONE = message(b"c")
NO_DATA = message(b"n")
PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
PORTAL_SUSPENDED = message(b"s")
EMPTY_QUERY = message(b"I")


def error_response(
    severity: str,
    sqlstate: str,
    msg: str,
    *,
    detail: str = "",
    hint: str = "",
    notice: bool = False,
) -> bytes:
    # 'S' is localised severity, 'V' the non-localised one (clients since PG 9.6 read 'V').
    fields = [b"S" + cstr(severity), b"V" + cstr(severity), b"C" + cstr(sqlstate), b"M" + cstr(msg)]
    if detail:
        fields.append(b"D" + cstr(detail))
    if hint:
        fields.append(b"H" + cstr(hint))
    return message(b"N" if notice else b"E", b"".join(fields) + b"\x00")


def data_rows(columns: Sequence[Sequence[bytes | None]], nrows: int) -> bytes:
    """DataRow messages for nrows rows given each column's encoded values (None = NULL)."""
    ncols = len(columns)
    head = _I16.pack(ncols)
    pack = _I32.pack
    # Pre-frame every value once per column: the row loop below then only joins.
    framed: list[list[bytes]] = []
    for col in columns:
        framed.append([NULL_FIELD if v is None else pack(len(v)) + v for v in col])
    out: list[bytes] = []
    append = out.append
    if ncols == 0:
        return message(b"D", head) * nrows
    for row in zip(*framed, strict=True):
        body = b"".join(row)
        append(b"D" + pack(len(body) + 6) + head + body)
    return b"".join(out)
