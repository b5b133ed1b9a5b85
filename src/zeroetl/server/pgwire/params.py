"""Decode Bind parameters (text or binary format) into Python values by PostgreSQL type OID.

Unknown (OID 0) and unrecognised types are passed on as text: the SQL layer / DuckDB casts them
where they are used, as PostgreSQL does with `unknown` literals.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Callable
from decimal import Decimal

from zeroetl.server.pgwire.types import PG_EPOCH_DAYS

_PG_EPOCH = dt.datetime(2000, 1, 1)
_PG_EPOCH_DATE = dt.date(2000, 1, 1)


class ParamError(ValueError):
    """A parameter value does not parse as its declared type (SQLSTATE 22P02)."""


def _text_bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("t", "true", "y", "yes", "on", "1"):
        return True
    if v in ("f", "false", "n", "no", "off", "0"):
        return False
    raise ValueError(s)


def _text_bytea(s: str) -> bytes:
    if s.startswith("\\x"):
        return bytes.fromhex(s[2:])
    return s.encode("latin-1")  # escape format is rare from clients; keep bytes as given


def _text_timestamptz(s: str) -> dt.datetime:
    v = dt.datetime.fromisoformat(s.strip())
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


_TEXT: dict[int, Callable[[str], object]] = {
    16: _text_bool,
    17: _text_bytea,
    20: int,
    21: int,
    23: int,
    26: int,
    700: float,
    701: float,
    1700: Decimal,
    1082: lambda s: dt.date.fromisoformat(s.strip()),
    1083: lambda s: dt.time.fromisoformat(s.strip()),
    1114: lambda s: dt.datetime.fromisoformat(s.strip()),
    1184: _text_timestamptz,
    2950: uuid.UUID,
}


def numeric_from_binary(b: bytes) -> Decimal:
    ndigits, weight, sign, dscale = struct.unpack_from("!hhHh", b)
    if sign == 0xC000:
        return Decimal("NaN")
    if sign in (0xD000, 0xF000):
        return Decimal("-Infinity" if sign == 0xF000 else "Infinity")
    digits = struct.unpack_from(f"!{ndigits}H", b, 8)
    value = 0
    for d in digits:
        value = value * 10000 + d
    # value * 10000^(weight - ndigits + 1), shown with dscale decimals; built exactly from
    # integers (Decimal arithmetic would round at the context's 28 digits).
    shift = 4 * (weight - ndigits + 1) + dscale
    coef = value * 10**shift if shift >= 0 else value // 10**-shift
    digits_t = tuple(int(c) for c in str(coef))
    return Decimal((1 if sign == 0x4000 else 0, digits_t, -dscale))


def _bin_interval(b: bytes) -> object:
    us, days, months = struct.unpack("!qii", b)
    if months == 0:
        return dt.timedelta(days=days, microseconds=us)
    return f"{months} months {days} days {us} microseconds"


_BINARY: dict[int, Callable[[bytes], object]] = {
    16: lambda b: b != b"\x00",
    17: bytes,
    20: lambda b: struct.unpack("!q", b)[0],
    21: lambda b: struct.unpack("!h", b)[0],
    23: lambda b: struct.unpack("!i", b)[0],
    26: lambda b: struct.unpack("!I", b)[0],
    700: lambda b: struct.unpack("!f", b)[0],
    701: lambda b: struct.unpack("!d", b)[0],
    1700: numeric_from_binary,
    1082: lambda b: dt.date.fromordinal(_PG_EPOCH_DATE.toordinal() + struct.unpack("!i", b)[0]),
    1083: lambda b: (dt.datetime.min + dt.timedelta(microseconds=struct.unpack("!q", b)[0])).time(),
    1114: lambda b: _PG_EPOCH + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
    1184: lambda b: (_PG_EPOCH + dt.timedelta(microseconds=struct.unpack("!q", b)[0])).replace(
        tzinfo=dt.UTC
    ),
    1186: _bin_interval,
    2950: lambda b: uuid.UUID(bytes=b),
    3802: lambda b: b[1:].decode("utf-8"),  # jsonb: version byte 1, then text
}

assert (_PG_EPOCH_DATE - dt.date(1970, 1, 1)).days == PG_EPOCH_DAYS


def decode_param(value: bytes | None, oid: int, fmt: int) -> object:
    """One Bind parameter as a Python value (None for SQL NULL)."""
    if value is None:
        return None
    try:
        if fmt == 1:
            fn = _BINARY.get(oid)
            if fn is not None:
                return fn(value)
            return value.decode("utf-8")  # text-like types send their text in binary too
        s = value.decode("utf-8")
        tfn = _TEXT.get(oid)
        return tfn(s) if tfn is not None else s
    except (ValueError, struct.error, OverflowError, UnicodeDecodeError) as exc:
        kind = "binary" if fmt == 1 else "text"
        raise ParamError(f"invalid {kind} value for parameter of type OID {oid}: {exc}") from exc


_PROBES: dict[int, object] = {
    16: True,
    17: b"x",
    20: 2**40,  # BIGINT: a smaller sample would describe INTEGER and big values would not fit
    21: 1,
    23: 1,
    26: 1,
    700: 1.5,
    701: 1.5,
    25: "x",
    1043: "x",
    1042: "x",
    19: "x",
    1082: dt.date(2000, 1, 1),
    1083: dt.time(1, 2, 3),
    1114: dt.datetime(2000, 1, 1),
    1184: dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    2950: uuid.UUID(int=1),
}


def probe_value(oid: int) -> object:
    """A sample value of a parameter type the client declared at Parse, for describing the
    statement; None (type left open) for unknown, numeric (its precision follows the value)
    and the rest."""
    return _PROBES.get(oid)
