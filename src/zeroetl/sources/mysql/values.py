"""Per-column layouts and finishers for the row decoder.

A column's *layout* says how the generated walker reads its raw value out of the row bytes
(a struct code, a fixed byte count, or a length-prefixed slice). Its *finisher* turns the list of
raw values (None where NULL) into the Arrow array of the column's logical type, counting zero
dates it turns into NULL. Raw forms are chosen so the walker does as little as possible.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from zeroetl.errors import TableFailed, UnsupportedSchema
from zeroetl.model import Kind, LogicalType
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.decimal import decimal_size, format_scaled, scaled_int_column
from zeroetl.sources.mysql.jsonb import json_text
from zeroetl.sources.mysql.tablemap import TableMap

Finisher = Callable[[list], "tuple[pa.Array, int]"]  # type: ignore[type-arg]

_INT_CODES = {T.TINY: "b", T.SHORT: "h", T.LONG: "i", T.LONGLONG: "q"}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Layout:
    """How the walker reads one column: a struct code (fixed width; `conv` then turns the raw
    value into the finisher's input), or a length prefix of 1-4 bytes (a byte string)."""

    code: str = ""
    conv: ColumnConv | None = None  # raw column -> finisher input, one call per column
    prefix: int = 0


_ARRAY_CODES = {
    pa.int8(): "b", pa.uint8(): "B", pa.int16(): "h", pa.uint16(): "H", pa.int32(): "i",
    pa.uint32(): "I", pa.int64(): "q", pa.uint64(): "Q", pa.float32(): "f", pa.float64(): "d",
    pa.date32(): "i", pa.timestamp("us"): "q", pa.timestamp("us", tz="UTC"): "q",
    pa.time64("us"): "q",
}  # fmt: skip


def fixed_array(col: list[Any], arrow: pa.DataType, code: str = "") -> pa.Array:
    """A fixed-width Arrow array; without NULLs straight from an array.array buffer (cheaper
    than pa.array's per-call overhead on the ~100-row columns of one event)."""
    code = code or _ARRAY_CODES[arrow]
    if None in col:
        return pa.array(col, pa.int64() if code == "q" else arrow).view(arrow)
    return pa.Array.from_buffers(arrow, len(col), [None, pa.py_buffer(array(code, col))])


ColumnConv = Callable[[list[Any]], list[Any]]
_from = int.from_bytes


def _be(col: list[Any]) -> list[Any]:
    return [None if v is None else _from(v, "big") for v in col]


def _le(col: list[Any]) -> list[Any]:
    return [None if v is None else _from(v, "little") for v in col]


def _le_signed(col: list[Any]) -> list[Any]:
    return [None if v is None else _from(v, "little", signed=True) for v in col]


def _frac_bytes(fsp: int) -> int:
    return (fsp + 1) // 2


def layout(tmap: TableMap, i: int) -> Layout:
    t, meta = tmap.column_types[i], tmap.column_meta[i]
    unsigned = tmap.unsigned[i]
    if t in _INT_CODES:
        code = _INT_CODES[t]
        return Layout(code.upper() if unsigned else code)
    if t == T.INT24:
        return Layout("3s", _le if unsigned else _le_signed)
    if t == T.FLOAT:
        return Layout("f")
    if t == T.DOUBLE:
        return Layout("d")
    if t == T.YEAR:
        return Layout("B")
    if t == T.ENUM:
        return Layout("B" if meta == 1 else "H")
    if t == T.NEWDECIMAL:
        size = decimal_size(meta >> 8, meta & 0xFF)
        return Layout(f"{size}s", scaled_int_column(meta >> 8, meta & 0xFF))
    if t in (T.DATETIME2, T.TIMESTAMP2, T.TIME2):
        base = {T.DATETIME2: 5, T.TIMESTAMP2: 4, T.TIME2: 3}[t]
        return Layout(f"{base + _frac_bytes(meta)}s", _be)
    if t in (T.DATE, T.NEWDATE):
        return Layout("3s", _le)
    if t == T.TIMESTAMP:
        return Layout("I")
    if t == T.DATETIME:
        return Layout("Q")
    if t == T.TIME:
        return Layout("3s", _le_signed)
    if t == T.BIT:
        return Layout(f"{(meta >> 8) + (1 if meta & 0xFF else 0)}s", _be)
    if t == T.SET:
        return Layout(f"{meta}s", _le)
    if t == T.VARCHAR or t == T.STRING:
        return Layout(prefix=1 if meta < 256 else 2)
    if t in T.BLOB_TYPES or t in (T.JSON, T.GEOMETRY, T.VECTOR):
        return Layout(prefix=meta)
    raise UnsupportedSchema(
        f"table {tmap.schema}.{tmap.table}: column {tmap.column_names[i]!r} has binlog type {t} "
        "whose row format zeroetl cannot read"
    )


def finisher(tmap: TableMap, i: int, lt: LogicalType | None) -> Finisher:
    t, meta = tmap.column_types[i], tmap.column_meta[i]
    name = f"{tmap.schema}.{tmap.table}"
    if lt is None:
        return lambda col: (pa.nulls(len(col)), 0)
    kind = lt.kind
    if t == T.NEWDECIMAL:
        return _decimal(lt, name, tmap.column_names[i])
    if t in (T.DATETIME2, T.DATETIME):
        return _datetime(t, meta)
    if t in (T.TIMESTAMP2, T.TIMESTAMP):
        return _timestamp(t, meta)
    if t in (T.TIME2, T.TIME):
        return _time(t, meta, name, tmap.column_names[i])
    if t in (T.DATE, T.NEWDATE):
        return _date
    if t == T.YEAR:
        return lambda col: (pa.array([v and v + 1900 for v in col], pa.int16()), 0)
    if t == T.ENUM:
        return _enum(tmap.enum_values[i] or (), name, tmap.column_names[i])
    if t == T.SET:
        return _set(tmap.enum_values[i] or ())
    if t == T.JSON:
        return lambda col: (
            pa.array([None if v is None else json_text(v) for v in col], pa.string()),
            0,
        )
    if t == T.GEOMETRY:
        return lambda col: (pa.array([None if v is None else v[4:] for v in col], pa.binary()), 0)
    if kind is Kind.BINARY:
        if t == T.STRING and meta > 0:  # BINARY(n): SELECT returns it padded with 0x00 to n
            return lambda col: (
                pa.array([None if v is None else v.ljust(meta, b"\0") for v in col], pa.binary()),
                0,
            )
        return lambda col: (pa.array(col, pa.binary()), 0)
    if kind is Kind.STRING:
        return _text(T.CODECS[tmap.charset(i) or "utf8mb4"])
    arrow = lt.arrow()
    if arrow in _ARRAY_CODES:
        return lambda col: (fixed_array(col, arrow), 0)
    return lambda col: (pa.array(col, arrow), 0)


_ASCII = bytes(range(128))


def _text(codec: str) -> Finisher:
    if codec == "utf-8":

        def utf8(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
            # View the bytes as UTF-8 and validate (a full cast costs ~5x more per call).
            text = pa.array(col, pa.binary()).view(pa.string())
            try:
                text.validate(full=True)
                return text, 0
            except pa.ArrowInvalid:  # invalid bytes: replace them rather than stop the table
                return pa.array(
                    [None if v is None else v.decode("utf-8", "replace") for v in col], pa.string()
                ), 0

        return utf8
    dec = T.decoder_for(codec)

    def decode(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        return pa.array([None if v is None else dec(v) for v in col], pa.string()), 0

    if dec(_ASCII) != _ASCII.decode("ascii"):
        return decode  # UTF-16/32: bytes are not characters

    def ascii_compatible(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        # In these character sets every byte below 0x80 is that ASCII character, and a
        # multi-byte character starts with a byte above: all-ASCII bytes are the same UTF-8
        # text, viewed as is (decoding value by value cost most of a wide table's apply).
        text = pa.array(col, pa.binary()).view(pa.string())
        if pc.all(pc.string_is_ascii(text)).as_py() is not False:
            return text, 0
        return decode(col)

    return ascii_compatible


def decimal_out_of_range(table: str, column: str, arrow: pa.DataType) -> TableFailed:
    """A packed DECIMAL whose digit groups add up to more digits than its precision: only a
    corrupt or hostile binlog writes one (each group holds at most 9 digits on a real server)."""
    return TableFailed(
        table,
        f"DECIMAL value out of range in column {column!r}: more digits than its type "
        f"{arrow} allows (a corrupt row image)",
    )


def _decimal(lt: LogicalType, table: str, column: str) -> Finisher:
    p, s = lt.precision, lt.scale
    if lt.kind is Kind.DECIMAL_TEXT:
        return lambda col: (
            pa.array([None if v is None else format_scaled(v, s) for v in col], pa.string()),
            0,
        )
    arrow = lt.arrow()
    if p <= 18:
        d64 = pa.decimal64(p, s)
        widen = pc.CastOptions(target_type=arrow)

        def small(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
            try:
                ints = fixed_array(col, d64, "q")
                return pc.call_function("cast", [ints], widen), 0
            except (OverflowError, pa.ArrowInvalid):
                raise decimal_out_of_range(table, column, arrow) from None

        return small

    def wide(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        data = b"".join((v or 0).to_bytes(16, "little", signed=True) for v in col)
        valid = pa.array([v is not None for v in col], pa.bool_())
        validity = valid.buffers()[1] if valid.false_count else None
        return pa.Array.from_buffers(arrow, len(col), [validity, pa.py_buffer(data)]), 0

    return wide


_DAYS: dict[int, int | None] = {}


def _days(year: int, month: int, day: int) -> int | None:
    """Days since 1970-01-01, or None for zero/invalid dates."""
    try:
        return dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


def _ym_days(ymd: int) -> int | None:
    """DATETIME2's 17-bit year*13+month / day field -> epoch days (cached)."""
    try:
        return _DAYS[ymd]
    except KeyError:
        ym, d = ymd >> 5, ymd & 31
        v = _DAYS[ymd] = _days(ym // 13, ym % 13, d)
        return v


def _frac_us(fsp: int) -> Callable[[int], int]:
    fb = _frac_bytes(fsp)
    mult = {0: 0, 1: 10_000, 2: 100, 3: 1}[fb]
    return lambda f: f * mult


def _datetime(t: int, fsp: int) -> Finisher:
    fb = _frac_bytes(fsp) if t == T.DATETIME2 else 0
    mult = {0: 0, 1: 10_000, 2: 100, 3: 1}[fb]
    fshift = fb * 8
    fmask = (1 << fshift) - 1
    off = 0x8000000000
    us_per_day = _US_PER_DAY

    # The value without its fraction is (ymd << 17 | hms) + 2**39. Memoise the epoch second of
    # each (ymd, hour) (key: value >> 12) and look minute*60+second up by the low 12 bits.
    hours: dict[int, int | None] = {}
    low = [(k >> 6) * 60 + (k & 63) for k in range(4096)]
    ashift = fshift + 12

    def hour_start(key: int) -> int | None:
        x = (key << 12) - off
        d = _ym_days(x >> 17)
        v = hours[key] = None if d is None else d * 86400 + ((x >> 12) & 31) * 3600
        return v

    def dt2(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        try:
            out = [
                None
                if v is None
                else (hours[v >> ashift] + low[v >> fshift & 4095]) * 1_000_000 + (v & fmask) * mult
                for v in col
            ]
            return fixed_array(out, pa.timestamp("us")), 0
        except (KeyError, TypeError):  # an hour not seen yet, or a zero date (None)
            pass
        zeros = 0
        out = []
        for v in col:
            if v is None:
                out.append(None)
                continue
            key = v >> ashift
            base = hours[key] if key in hours else hour_start(key)
            if base is None:
                zeros += 1
                out.append(None)
            else:
                out.append((base + low[v >> fshift & 4095]) * 1_000_000 + (v & fmask) * mult)
        return pa.array(out, pa.int64()).view(pa.timestamp("us")), zeros

    def dt_old(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        out: list[int | None] = []
        zeros = 0
        for v in col:
            if v is None:
                out.append(None)
                continue
            ymd, hms = divmod(v, 1_000_000)
            d = _days(ymd // 10000, ymd // 100 % 100, ymd % 100)
            if d is None:
                zeros += 1
                out.append(None)
                continue
            out.append(
                d * us_per_day
                + (hms // 10000 * 3600 + hms // 100 % 100 * 60 + hms % 100) * 1_000_000
            )
        return pa.array(out, pa.int64()).view(pa.timestamp("us")), zeros

    return dt2 if t == T.DATETIME2 else dt_old


def _timestamp(t: int, fsp: int) -> Finisher:
    fb = _frac_bytes(fsp) if t == T.TIMESTAMP2 else 0
    mult = {0: 0, 1: 10_000, 2: 100, 3: 1}[fb]
    fshift = fb * 8
    fmask = (1 << fshift) - 1
    utc = pa.timestamp("us", tz="UTC")

    def ts(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        out = [None if v is None else (v >> fshift) * 1_000_000 + (v & fmask) * mult for v in col]
        zeros = out.count(0)  # 0 seconds is the zero timestamp: MySQL never stores the epoch
        if zeros:
            out = [None if v == 0 else v for v in out]
        return fixed_array(out, utc), zeros

    return ts


def _time(t: int, fsp: int, table: str, column: str) -> Finisher:
    fb = _frac_bytes(fsp) if t == T.TIME2 else 0
    mult = {0: 0, 1: 10_000, 2: 100, 3: 1}[fb]
    fshift = fb * 8
    fmask = (1 << fshift) - 1
    off = 0x800000

    def bad(v: int) -> TableFailed:
        return TableFailed(
            table,
            f"TIME value out of range in column {column!r} (negative or 24:00:00 and over; "
            f"raw {v:#x}): zeroetl maps TIME to a time of day",
        )

    def time2(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        out: list[int | None] = []
        for v in col:
            if v is None:
                out.append(None)
                continue
            x = (v >> fshift) - off
            h = x >> 12
            if x < 0 or h >= 24:
                raise bad(v)
            out.append(
                (h * 3600 + ((x >> 6) & 63) * 60 + (x & 63)) * 1_000_000 + (v & fmask) * mult
            )
        return pa.array(out, pa.int64()).cast(pa.time64("us")), 0

    def time_old(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        out: list[int | None] = []
        for v in col:
            if v is None:
                out.append(None)
                continue
            if v < 0 or v // 10000 >= 24:
                raise bad(v)
            out.append((v // 10000 * 3600 + v // 100 % 100 * 60 + v % 100) * 1_000_000)
        return pa.array(out, pa.int64()).cast(pa.time64("us")), 0

    return time2 if t == T.TIME2 else time_old


def _date(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
    out: list[int | None] = []
    zeros = 0
    for v in col:
        if v is None:
            out.append(None)
            continue
        d = _DATE_CACHE.get(v, -1)
        if d == -1:
            d = _DATE_CACHE[v] = _days(v >> 9, (v >> 5) & 15, v & 31)
        if d is None:
            zeros += 1
        out.append(d)
    return pa.array(out, pa.int32()).view(pa.date32()), zeros


_DATE_CACHE: dict[int, int | None] = {}


def _enum(members: tuple[str, ...], table: str, column: str) -> Finisher:
    names = pa.array(["", *members], pa.string())

    def enum(col: list) -> tuple[pa.Array, int]:  # type: ignore[type-arg]
        idx = pa.array(col, pa.uint16())
        top = pc.max(idx).as_py()
        if top is not None and top > len(members):  # only a garbled event gets here
            raise TableFailed(
                table,
                f"ENUM value {top} out of range in column {column!r} ({len(members)} members)",
            )
        return names.take(idx), 0

    return enum


def _set(members: tuple[str, ...]) -> Finisher:
    cache: dict[int, str] = {}

    def text(mask: int) -> str:
        s = cache.get(mask)
        if s is None:
            s = cache[mask] = ",".join(m for k, m in enumerate(members) if mask >> k & 1)
        return s

    return lambda col: (pa.array([None if v is None else text(v) for v in col], pa.string()), 0)


__all__ = ["Layout", "finisher", "layout"]
