"""Arrow types -> PostgreSQL types: OIDs, lengths, and text/binary encoders of whole columns.

Encoders work a column (Arrow array) at a time and return one `bytes | None` per row, so the
per-row loop that frames DataRow messages only joins bytes. Fixed-width binary values and most
text values are produced by Arrow/numpy kernels; only temporal text and numeric binary need a
Python call per value. Parameter decoding (text and binary, by type OID) is in `params.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Encoded = list[bytes | None]


@dataclass(frozen=True, slots=True)
class PgType:
    oid: int
    typlen: int  # bytes, or -1 for variable length
    name: str
    array_oid: int = 0


BOOL = PgType(16, 1, "bool", 1000)
BYTEA = PgType(17, -1, "bytea", 1001)
INT8 = PgType(20, 8, "int8", 1016)
INT2 = PgType(21, 2, "int2", 1005)
INT4 = PgType(23, 4, "int4", 1007)
TEXT = PgType(25, -1, "text", 1009)
JSON = PgType(114, -1, "json", 199)
FLOAT4 = PgType(700, 4, "float4", 1021)
FLOAT8 = PgType(701, 8, "float8", 1022)
BPCHAR = PgType(1042, -1, "bpchar", 1014)
VARCHAR = PgType(1043, -1, "varchar", 1015)
DATE = PgType(1082, 4, "date", 1182)
TIME = PgType(1083, 8, "time", 1183)
TIMESTAMP = PgType(1114, 8, "timestamp", 1115)
TIMESTAMPTZ = PgType(1184, 8, "timestamptz", 1185)
INTERVAL = PgType(1186, 16, "interval", 1187)
NUMERIC = PgType(1700, -1, "numeric", 1231)
UUID = PgType(2950, 16, "uuid", 2951)
# The catalog's vector columns (pg_index.indkey, ...), sent as PostgreSQL prints them ('1 2'):
# psqlODBC parses indkey only when it comes typed int2vector.
INT2VECTOR = PgType(22, -1, "int2vector", 1006)
OIDVECTOR = PgType(30, -1, "oidvector", 1013)
_VECTORS = {"int2vector": INT2VECTOR, "oidvector": OIDVECTOR}

PG_EPOCH_DAYS = 10957  # 2000-01-01 - 1970-01-01
PG_EPOCH_US = PG_EPOCH_DAYS * 86_400_000_000
_INT32_MAX, _INT64_MAX = 2**31 - 1, 2**63 - 1
_UNIX_EPOCH = dt.datetime(1970, 1, 1)
_ORD_1970 = dt.date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class ColumnCodec:
    """How one result column goes on the wire."""

    pg: PgType
    typmod: int
    text: Callable[[pa.Array], Encoded]
    binary: Callable[[pa.Array], Encoded]
    array_of: ColumnCodec | None = None

    def encode(self, arr: pa.Array, fmt: int) -> Encoded:
        return (self.binary if fmt == 1 else self.text)(_unwrap(arr))


def _unwrap(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _with_nulls(arr: pa.Array, out: Encoded) -> Encoded:
    if arr.null_count:
        for i in np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False)):
            out[i] = None
    return out


# --------------------------------------------------------------------------- text encoders


def _text_via_string(arr: pa.Array) -> Encoded:
    return pc.cast(pc.cast(arr, pa.large_string()), pa.large_binary()).to_pylist()


def _text_int(arr: pa.Array) -> Encoded:
    # a few values: Python's own formatting (the same digits) beats two Arrow casts' overhead
    if len(arr) <= 64:
        return [None if v is None else str(v).encode() for v in arr.to_pylist()]
    return _text_via_string(arr)


def _text_bool(arr: pa.Array) -> Encoded:
    return [None if v is None else (b"t" if v else b"f") for v in arr.to_pylist()]


_FLOAT_SPECIAL = {b"inf": b"Infinity", b"-inf": b"-Infinity", b"nan": b"NaN"}


def _text_float(arr: pa.Array) -> Encoded:
    out = _text_via_string(arr)
    if not pc.all(pc.is_finite(arr)).as_py():
        out = [_FLOAT_SPECIAL.get(v, v) if v is not None else None for v in out]
    return out


def _text_string(arr: pa.Array) -> Encoded:
    if pa.types.is_string_view(arr.type):
        arr = pc.cast(arr, pa.large_string())
    return pc.cast(arr, pa.large_binary()).to_pylist()


def _text_bytea(arr: pa.Array) -> Encoded:
    return [None if v is None else b"\\x" + v.hex().encode() for v in _bytes_list(arr)]


def _bytes_list(arr: pa.Array) -> list[bytes | None]:
    if pa.types.is_fixed_size_binary(arr.type) or pa.types.is_binary_view(arr.type):
        arr = pc.cast(arr, pa.large_binary())
    return arr.to_pylist()


def _ints(arr: pa.Array, target: pa.DataType) -> np.ndarray:
    """Integer storage of a temporal array (nulls as 0) in the given unit."""
    if arr.type != target:
        arr = pc.cast(arr, target, safe=False)  # ns -> us truncates, as PostgreSQL stores us
    storage = pa.int32() if target in (pa.date32(), pa.time32("s"), pa.time32("ms")) else pa.int64()
    return arr.view(storage).fill_null(0).to_numpy(zero_copy_only=False)


def _fraction(us: int) -> str:
    return f".{us:06d}".rstrip("0") if us else ""


def _text_date(arr: pa.Array) -> Encoded:
    out: Encoded = []
    for d in _ints(arr, pa.date32()).tolist():
        if d >= _INT32_MAX:
            out.append(b"infinity")
        elif d <= -_INT32_MAX:
            out.append(b"-infinity")
        else:
            try:
                out.append(dt.date.fromordinal(_ORD_1970 + d).isoformat().encode())
            except (ValueError, OverflowError):  # outside Python's years 1-9999
                out.append(
                    str(
                        pc.cast(pa.array([d], pa.int32()).view(pa.date32()), pa.string())[0]
                    ).encode()
                )
    return _with_nulls(arr, out)


def _format_time(us: int) -> bytes:
    secs, frac = divmod(us, 1_000_000)
    h, rem = divmod(secs, 3600)
    return f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}{_fraction(frac)}".encode()


def _text_time(arr: pa.Array) -> Encoded:
    return _with_nulls(arr, [_format_time(v) for v in _ints(arr, pa.time64("us")).tolist()])


def _timestamp_texter(suffix: bytes) -> Callable[[pa.Array], Encoded]:
    def encode(arr: pa.Array) -> Encoded:
        out: Encoded = []
        target = pa.timestamp("us", arr.type.tz)
        for v in _ints(arr, target).tolist():
            if v >= _INT64_MAX:
                out.append(b"infinity")
            elif v <= -_INT64_MAX:
                out.append(b"-infinity")
            else:
                try:
                    t = _UNIX_EPOCH + dt.timedelta(microseconds=v)
                except OverflowError:
                    out.append(str(v).encode())
                    continue
                s = f"{t:%Y-%m-%d %H:%M:%S}{_fraction(t.microsecond)}".encode()
                out.append(s + suffix)
        return _with_nulls(arr, out)

    return encode


def _format_interval(months: int, days: int, us: int) -> bytes:
    parts: list[str] = []
    years, mons = divmod(abs(months), 12)
    sign = "-" if months < 0 else ""
    if years:
        parts.append(f"{sign}{years} year{'s' if years != 1 else ''}")
    if mons:
        parts.append(f"{sign}{mons} mon{'s' if mons != 1 else ''}")
    if days:
        parts.append(f"{days} day{'s' if abs(days) != 1 else ''}")
    if us or not parts:
        t = _format_time(abs(us)).decode()
        parts.append(("-" if us < 0 else "") + t)
    return " ".join(parts).encode()


def _interval_parts(arr: pa.Array) -> list[tuple[int, int, int] | None]:
    if pa.types.is_duration(arr.type):
        us = pc.cast(arr, pa.duration("us"), safe=False).view(pa.int64()).to_pylist()
        return [None if v is None else (0, 0, v) for v in us]
    return [
        None if v is None else (v.months, v.days, v.nanoseconds // 1000) for v in arr.to_pylist()
    ]


def _text_interval(arr: pa.Array) -> Encoded:
    return [None if p is None else _format_interval(*p) for p in _interval_parts(arr)]


def _text_uuid(arr: pa.Array) -> Encoded:
    return [None if v is None else str(uuid.UUID(bytes=v)).encode() for v in _bytes_list(arr)]


def _text_json_value(arr: pa.Array) -> Encoded:
    return [
        None if v is None else json.dumps(v, default=str, ensure_ascii=False).encode()
        for v in arr.to_pylist()
    ]


# --------------------------------------------------------------------------- binary encoders


def _fixed(
    np_type: str, width: int, *, source: pa.DataType | None = None
) -> Callable[[pa.Array], Encoded]:
    def encode(arr: pa.Array) -> Encoded:
        a = pc.cast(arr, source) if source is not None and arr.type != source else arr
        values = a.fill_null(0).to_numpy(zero_copy_only=False)
        buf = np.ascontiguousarray(values.astype(np_type)).tobytes()
        out: Encoded = [buf[i : i + width] for i in range(0, len(buf), width)]
        return _with_nulls(arr, out)

    return encode


def _bin_bool(arr: pa.Array) -> Encoded:
    return [None if v is None else (b"\x01" if v else b"\x00") for v in arr.to_pylist()]


def _bin_date(arr: pa.Array) -> Encoded:
    d = _ints(arr, pa.date32()).astype(np.int64)
    pg = np.where(
        d >= _INT32_MAX, _INT32_MAX, np.where(d <= -_INT32_MAX, -(2**31), d - PG_EPOCH_DAYS)
    )
    buf = pg.astype(">i4").tobytes()
    return _with_nulls(arr, [buf[i : i + 4] for i in range(0, len(buf), 4)])


def _bin_time(arr: pa.Array) -> Encoded:
    buf = _ints(arr, pa.time64("us")).astype(">i8").tobytes()
    return _with_nulls(arr, [buf[i : i + 8] for i in range(0, len(buf), 8)])


def _bin_timestamp(arr: pa.Array) -> Encoded:
    v = _ints(arr, pa.timestamp("us", arr.type.tz))
    # DuckDB's +-infinity are +-INT64_MAX; PostgreSQL's are INT64_MAX and INT64_MIN.
    pg = np.where(
        v >= _INT64_MAX, _INT64_MAX, np.where(v <= -_INT64_MAX, -(2**63), v - PG_EPOCH_US)
    )
    buf = pg.astype(">i8").tobytes()
    return _with_nulls(arr, [buf[i : i + 8] for i in range(0, len(buf), 8)])


def _bin_interval(arr: pa.Array) -> Encoded:
    return [
        None if p is None else struct.pack("!qii", p[2], p[1], p[0]) for p in _interval_parts(arr)
    ]


def _bin_bytes(arr: pa.Array) -> Encoded:
    return _bytes_list(arr)


def numeric_to_binary(d: Decimal) -> bytes:
    """PostgreSQL's binary NUMERIC: base-10000 digits with weight, sign and display scale."""
    if d.is_nan():
        return struct.pack("!hhHh", 0, 0, 0xC000, 0)
    if d.is_infinite():
        return struct.pack("!hhHh", 0, 0, 0xF000 if d < 0 else 0xD000, 0)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    dscale = max(-exp, 0)
    s = "".join(map(str, digits))
    if exp > 0:
        s += "0" * exp
        exp = 0
    point = len(s) + exp  # digits before the decimal point
    if point < 0:
        s = "0" * -point + s
        point = 0
    int_part, frac_part = s[:point], s[point:]
    int_part = "0" * (-len(int_part) % 4) + int_part
    frac_part = frac_part + "0" * (-len(frac_part) % 4)
    groups = [int(int_part[i : i + 4]) for i in range(0, len(int_part), 4)]
    weight = len(groups) - 1
    groups += [int(frac_part[i : i + 4]) for i in range(0, len(frac_part), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    head = struct.pack("!hhHh", len(groups), weight, 0x4000 if sign else 0, dscale)
    return head + struct.pack(f"!{len(groups)}H", *groups)


def _bin_numeric(arr: pa.Array) -> Encoded:
    if pa.types.is_integer(arr.type):
        return [None if v is None else numeric_to_binary(Decimal(v)) for v in arr.to_pylist()]
    return [None if v is None else numeric_to_binary(v) for v in arr.to_pylist()]


def _int128s(arr: pa.Array, signed: bool) -> list[int | None]:
    """DuckDB (U)HUGEINT exported losslessly: 16 bytes, little-endian (two's complement)."""
    return [
        None if v is None else int.from_bytes(v, "little", signed=signed) for v in _bytes_list(arr)
    ]


def _text_int128(arr: pa.Array, signed: bool) -> Encoded:
    return [None if v is None else str(v).encode() for v in _int128s(arr, signed)]


def _bin_int128(arr: pa.Array, signed: bool) -> Encoded:
    return [None if v is None else numeric_to_binary(Decimal(v)) for v in _int128s(arr, signed)]


def _bin_text(arr: pa.Array) -> Encoded:
    return _text_string(arr)


# --------------------------------------------------------------------------- arrays (1-D lists)


def _array_literal_item(v: bytes) -> bytes:
    if v == b"" or any(c in v for c in b'{},"\\ \t\n') or v.upper() == b"NULL":
        return b'"' + v.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return v


def _list_encoder(elem: ColumnCodec, fmt: int) -> Callable[[pa.Array], Encoded]:
    def encode(arr: pa.Array) -> Encoded:
        # .offsets index into the unsliced .values: encode only the window this slice uses.
        offsets = arr.offsets.to_pylist()
        base = offsets[0]
        values = elem.encode(arr.values.slice(base, offsets[-1] - base), fmt)
        offsets = [o - base for o in offsets]
        out: Encoded = []
        for i in range(len(arr)):
            start, end = offsets[i], offsets[i + 1]
            items = values[start:end]
            if fmt == 0:
                body = b",".join(b"NULL" if v is None else _array_literal_item(v) for v in items)
                out.append(b"{" + body + b"}")
            else:
                has_null = int(any(v is None for v in items))
                head = struct.pack("!iiI", 1, has_null, elem.pg.oid) + struct.pack(
                    "!ii", len(items), 1
                )
                if not items:
                    head = struct.pack("!iiI", 0, 0, elem.pg.oid)
                body = b"".join(
                    b"\xff\xff\xff\xff" if v is None else struct.pack("!i", len(v)) + v
                    for v in items
                )
                out.append(head + body)
        return _with_nulls(arr, out)

    return encode


# --------------------------------------------------------------------------- mapping


def _codec(
    pg: PgType,
    text: Callable[[pa.Array], Encoded],
    binary: Callable[[pa.Array], Encoded],
    typmod: int = -1,
) -> ColumnCodec:
    return ColumnCodec(pg, typmod, text, binary)


_STRING_HINT = re.compile(r"^(varchar|bpchar)\((\d+)\)$")


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


_CODECS: dict[tuple[pa.DataType, str], ColumnCodec] = {}
_MAX_CODECS = 4096


def codec_for(t: pa.DataType, pg_type: str = "") -> ColumnCodec:
    """Wire type and encoders for a result column of Arrow type `t` (`_codec_for`), kept per
    (type, hint): a codec is immutable, and finding one cost a few microseconds per column of
    every result (Arrow type checks, a dataclass), repeats and kept results included."""
    key = (t, pg_type)
    try:
        found = _CODECS.get(key)
    except TypeError:  # a type that cannot be a key
        return _codec_for(t, pg_type)
    if found is None:
        found = _codec_for(t, pg_type)
        if len(_CODECS) >= _MAX_CODECS:
            _CODECS.clear()
        _CODECS[key] = found
    return found


def _codec_for(t: pa.DataType, pg_type: str = "") -> ColumnCodec:
    """Wire type and encoders for a result column of Arrow type `t`.

    `pg_type` is what the SQL layer knows beyond Arrow: a string column's declared type and
    length (`varchar(30)`, `bpchar(4)`), announced with PostgreSQL's typmod (length + 4)."""
    if pg_type and _is_string(t) and (m := _STRING_HINT.match(pg_type)):
        # char(n) values go out as the source stores them (MySQL strips the blank padding that
        # PostgreSQL would show): results agree with the source's
        pg = VARCHAR if m.group(1) == "varchar" else BPCHAR
        return _codec(pg, _text_string, _bin_text, int(m.group(2)) + 4)
    if pg_type in _VECTORS and _is_string(t):
        return _codec(_VECTORS[pg_type], _text_string, _bin_text)
    if isinstance(t, pa.BaseExtensionType):
        name = t.extension_name
        if name == "arrow.bool8":  # DuckDB's lossless BOOLEAN: int8 storage
            return _codec(
                BOOL,
                lambda a: _text_bool(pc.not_equal(a, 0)),
                lambda a: _bin_bool(pc.not_equal(a, 0)),
            )
        if name == "arrow.opaque" and t.type_name in ("hugeint", "uhugeint"):
            signed = t.type_name == "hugeint"
            return _codec(
                NUMERIC, lambda a: _text_int128(a, signed), lambda a: _bin_int128(a, signed)
            )
        if name == "arrow.uuid":
            return _codec(UUID, _text_uuid, _bin_bytes)
        if name == "arrow.json":
            return _codec(JSON, _text_string, _bin_text)
        return codec_for(t.storage_type)
    if pa.types.is_dictionary(t):
        return codec_for(t.value_type)
    if pa.types.is_boolean(t):
        return _codec(BOOL, _text_bool, _bin_bool)
    if t in (pa.int8(), pa.uint8(), pa.int16()):
        return _codec(INT2, _text_int, _fixed(">i2", 2))
    if t in (pa.uint16(), pa.int32()):
        return _codec(INT4, _text_int, _fixed(">i4", 4))
    if t in (pa.uint32(), pa.int64()):
        return _codec(INT8, _text_int, _fixed(">i8", 8))
    if t == pa.uint64():
        return _codec(NUMERIC, _text_via_string, _bin_numeric)
    if t in (pa.float16(), pa.float32()):
        return _codec(FLOAT4, _text_float, _fixed(">f4", 4, source=pa.float32()))
    if t == pa.float64():
        return _codec(FLOAT8, _text_float, _fixed(">f8", 8))
    if pa.types.is_decimal(t):
        # typmod is ((precision << 16) | scale) + 4, as PostgreSQL's numeric typmod.
        return _codec(NUMERIC, _text_via_string, _bin_numeric, ((t.precision << 16) | t.scale) + 4)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _codec(TEXT, _text_string, _bin_text)
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    ):
        return _codec(BYTEA, _text_bytea, _bin_bytes)
    if pa.types.is_date(t):
        return _codec(DATE, _text_date, _bin_date)
    if pa.types.is_time(t):
        return _codec(TIME, _text_time, _bin_time)
    if pa.types.is_timestamp(t):
        if t.tz is None:
            return _codec(TIMESTAMP, _timestamp_texter(b""), _bin_timestamp)
        return _codec(TIMESTAMPTZ, _timestamp_texter(b"+00"), _bin_timestamp)
    if pa.types.is_interval(t) or pa.types.is_duration(t):
        return _codec(INTERVAL, _text_interval, _bin_interval)
    if pa.types.is_null(t):
        return _codec(TEXT, _text_json_value, _text_json_value)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        elem = codec_for(t.value_type)
        if elem.pg.array_oid and elem.array_of is None:
            arr_pg = PgType(elem.pg.array_oid, -1, "_" + elem.pg.name)
            return ColumnCodec(arr_pg, -1, _list_encoder(elem, 0), _list_encoder(elem, 1), elem)
    # structs, maps, nested lists, unions: JSON text is the most useful thing a client can get.
    return _codec(JSON, _text_json_value, _text_json_value)
