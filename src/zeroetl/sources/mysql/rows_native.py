"""Column layouts for the compiled row walker (zeroetl.native._binrows).

The compiled walker yields, per value, what values.py's finishers take after each column's
`conv`; so a table decoded in C skips both the generated Python walk and the conversions, and
the finishing into Arrow is shared with the Python path. Every type the Python decoder reads is
covered; DECIMAL wider than 18 digits comes out as its packed bytes and keeps its Python
`conv`. A layout the C code does not take (a TABLE_MAP with out-of-range metadata, e.g. a BIT
wider than 64 bits or a 5-byte length prefix) makes that table use the Python walk, which
fails such rows the way it always did.
"""

from __future__ import annotations

from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.decimal import decimal_size
from zeroetl.sources.mysql.tablemap import TableMap
from zeroetl.sources.mysql.values import ColumnConv, Layout

# The codes of binrows.c.
INT_S, INT_U, BE_U, FLOAT, DOUBLE, BYTES, PREFIX, DEC = range(1, 9)

_INT_WIDTHS = {T.TINY: 1, T.SHORT: 2, T.INT24: 3, T.LONG: 4, T.LONGLONG: 8}


def _code(tmap: TableMap, i: int, lay: Layout) -> tuple[int, int, int, int] | None:
    t, meta = tmap.column_types[i], tmap.column_meta[i]
    if t in _INT_WIDTHS:
        return (INT_U if tmap.unsigned[i] else INT_S, _INT_WIDTHS[t], 0, 0)
    if t == T.FLOAT:
        return (FLOAT, 4, 0, 0)
    if t == T.DOUBLE:
        return (DOUBLE, 8, 0, 0)
    if t == T.YEAR or t == T.ENUM:
        return (INT_U, 1 if lay.code == "B" else 2, 0, 0)
    if t == T.NEWDECIMAL:
        p, s = meta >> 8, meta & 0xFF
        size = decimal_size(p, s)
        if 1 <= p <= 18 and s <= p:
            return (DEC, size, p, s)
        return (BYTES, size, 0, 0) if size <= 255 else None
    if t in (T.DATETIME2, T.TIMESTAMP2, T.TIME2, T.BIT):
        width = int(lay.code[:-1])
        return (BE_U, width, 0, 0) if 1 <= width <= 8 else None
    if t in (T.DATE, T.NEWDATE):
        return (INT_U, 3, 0, 0)
    if t == T.TIME:
        return (INT_S, 3, 0, 0)
    if t == T.TIMESTAMP:
        return (INT_U, 4, 0, 0)
    if t == T.DATETIME:
        return (INT_U, 8, 0, 0)
    if t == T.SET:
        return (INT_U, meta, 0, 0) if 1 <= meta <= 8 else None
    if lay.prefix:
        return (PREFIX, lay.prefix, 0, 0) if 1 <= lay.prefix <= 4 else None
    return None


def native_layout(
    tmap: TableMap, layouts: list[Layout]
) -> tuple[bytes, list[ColumnConv | None]] | None:
    """The compiled walker's layout (4 bytes a column) and the `conv` each column still needs
    after it (only wide DECIMAL), or None when some column is not one the C code reads."""
    out = bytearray()
    convs: list[ColumnConv | None] = []
    for i, lay in enumerate(layouts):
        code = _code(tmap, i, lay)
        if code is None:
            return None
        out += bytes(code)
        convs.append(lay.conv if code[0] == BYTES else None)
    return bytes(out), convs


__all__ = ["native_layout"]
