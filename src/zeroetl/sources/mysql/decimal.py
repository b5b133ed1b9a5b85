"""MySQL packed DECIMAL (decimal2bin) -> scaled integers and MySQL's text form.

Digits are stored in groups of nine per four bytes, big-endian, integer part then fraction, with
shorter leading/trailing groups; the top bit is flipped and negative values have every byte
inverted. Each (precision, scale) gets a small generated function that turns the whole field
into one Python int and peels the groups off with shifts (no per-digit work).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def decimal_size(precision: int, scale: int) -> int:
    intg = precision - scale
    return intg // 9 * 4 + _DIG2BYTES[intg % 9] + scale // 9 * 4 + _DIG2BYTES[scale % 9]


def _groups(precision: int, scale: int) -> list[tuple[int, int]]:
    """(bytes, digits) of each group, most significant first."""
    intg = precision - scale
    out: list[tuple[int, int]] = []
    if intg % 9:
        out.append((_DIG2BYTES[intg % 9], intg % 9))
    out += [(4, 9)] * (intg // 9) + [(4, 9)] * (scale // 9)
    if scale % 9:
        out.append((_DIG2BYTES[scale % 9], scale % 9))
    return out


@cache
def scaled_int_decoder(precision: int, scale: int) -> Callable[[bytes], int]:
    """bytes of one DECIMAL(precision, scale) field -> value * 10**scale."""
    size = decimal_size(precision, scale)
    sign = 1 << (size * 8 - 1)
    flip = (1 << (size * 8)) - 1 ^ sign
    expr = _expr(precision, scale, size)
    src = (
        "def dec(b):\n"
        "    x = int.from_bytes(b, 'big')\n"
        f"    if x & {sign}:\n"
        f"        x ^= {sign}\n"
        f"        return {expr}\n"
        f"    x ^= {flip}\n"
        f"    return -({expr})\n"
    )
    ns: dict[str, Callable[[bytes], int]] = {}
    exec(src, ns)  # generated from two small ints only: no outside input reaches the source
    return ns["dec"]


@cache
def scaled_int_column(
    precision: int, scale: int
) -> Callable[[list[bytes | None]], list[int | None]]:
    """A whole column of packed DECIMALs -> scaled ints (None stays None), no call per value."""
    size = decimal_size(precision, scale)
    sign = 1 << (size * 8 - 1)
    flip = (1 << (size * 8)) - 1 ^ sign
    expr = _expr(precision, scale, size)
    src = (
        "def decs(col):\n"
        "    out = []\n"
        "    app = out.append\n"
        "    for b in col:\n"
        "        if b is None:\n"
        "            app(None)\n"
        "            continue\n"
        "        x = from_bytes(b, 'big')\n"
        f"        if x & {sign}:\n"
        f"            x ^= {sign}\n"
        f"            app({expr})\n"
        "        else:\n"
        f"            x ^= {flip}\n"
        f"            app(-({expr}))\n"
        "    return out\n"
    )
    ns: dict[str, Any] = {"from_bytes": int.from_bytes}
    exec(src, ns)  # generated from two small ints only
    return ns["decs"]  # type: ignore[no-any-return]


def _expr(precision: int, scale: int, size: int) -> str:
    terms: list[str] = []
    shift = 0
    digits_after = 0
    for nbytes, ndigits in reversed(_groups(precision, scale)):
        field = f"(x >> {shift})" if shift else "x"
        if shift + nbytes * 8 < size * 8:
            field = f"({field} & {(1 << nbytes * 8) - 1})"
        terms.append(f"{field} * {10**digits_after}" if digits_after else field)
        shift += nbytes * 8
        digits_after += ndigits
    return " + ".join(terms) or "0"


def format_scaled(value: int, scale: int) -> str:
    """A scaled int as MySQL prints DECIMAL(p, scale): all `scale` fraction digits, "0." lead."""
    if scale == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    ip, fp = divmod(abs(value), 10**scale)
    return f"{sign}{ip}.{fp:0{scale}d}"


def decimal_text(data: bytes, precision: int, scale: int) -> str:
    """One packed DECIMAL -> its exact text."""
    return format_scaled(scaled_int_decoder(precision, scale)(data), scale)
