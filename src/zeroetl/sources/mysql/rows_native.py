"""The compiled row decoder (zeroetl.native._binrows): column layouts and Arrow finishing.

In the reader thread a rows event is only checked and indexed in C (`binrows.image`, called by
`RowsDecoder.decode`, or `NativeRows.index`: where each row image starts, which updates move
their key); no value becomes a Python object. The
engine's batch then hands the row images of many events to `NativeRows.finish`, which builds
Arrow columns straight from C buffers: integers and floats as fixed-width data, byte strings
(CHAR/VARCHAR/TEXT/BLOB/BINARY) as offsets and data, with a validity bitmap. The other types
(dates and times, DECIMAL, ENUM/SET, BIT, YEAR, JSON, GEOMETRY, UTF-16/32 text) come out of C as
what values.py's finishers take after each column's `conv`, and are finished by them: so both
paths share every value convention (zero dates, TIME range errors...). DECIMAL wider than 18
digits comes out as its packed bytes and keeps its Python `conv`. A TABLE_MAP whose metadata is
out of the range C takes (e.g. a BIT wider than 64 bits, a 5-byte length prefix) keeps that
table on the Python walk, which fails such rows the way it always did.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import pyarrow as pa

from zeroetl import native
from zeroetl.errors import DecodeError
from zeroetl.model import Kind, TableSchema
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.decimal import decimal_size
from zeroetl.sources.mysql.tablemap import TableMap
from zeroetl.sources.mysql.values import ColumnConv, Finisher, Layout, decimal_out_of_range

# The codes of binrows.c.
INT_S, INT_U, BE_U, FLOAT, DOUBLE, BYTES, PREFIX, C_DEC = range(1, 9)

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
            return (C_DEC, size, p, s)
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


# How binrows.build hands a column over: a list for the Python finisher, Arrow-ready buffers
# (fixed width, or offsets and data), or values finished in C (DEC..DATE: values.py's twins).
LIST, FIXED, VAR, DEC, DATETIME, TIMESTAMP, DATE = range(7)
_FINISHED = {
    DATETIME: pa.timestamp("us"),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
    DATE: pa.date32(),
}
_ASCII = bytes(range(128))
Segment = tuple[Any, bytes]  # (event body, int64 offsets of row images in it)


class NativeRows:
    """One TABLE_MAP's compiled layout: indexes its rows events, finishes gathered images."""

    def __init__(
        self,
        tmap: TableMap,
        layout: bytes,
        convs: list[ColumnConv | None],
        schema: TableSchema,
        finishers: list[Finisher],
    ) -> None:
        self.name = f"{tmap.schema}.{tmap.table}"
        self.columns = tmap.column_names
        self.layout = layout
        self.ncols = len(convs)
        self.convs = convs
        self.finishers = finishers
        self.pk = b"".join(k.to_bytes(2, "little") for k in sorted(set(tmap.primary_key)))
        self.mod: Any = native.binrows
        modes = bytearray()
        self.arrow: list[pa.DataType | None] = []
        self.text: list[Any] = []  # per VAR text column: None (UTF-8) or its decoder
        for i, col in enumerate(schema.columns):
            mode, text = _mode(tmap, i, layout[4 * i], col.type.kind if col.type else None)
            modes.append(mode)
            arrow = _FINISHED.get(mode) or (col.type.arrow() if mode != LIST and col.type else None)
            self.arrow.append(arrow)
            self.text.append(text)
        self.modes = bytes(modes)

    def index(self, buf: Any, v2: bool, images: int) -> tuple[bytes, bytes | None, int, Any] | None:
        """(starts, after-image starts, images, moved) of a rows event body; None when its
        header is not the plain one (the Python decoder then says why); DecodeError when a
        row image is malformed."""
        try:
            return self.mod.index(self.layout, self.ncols, buf, v2, images, self.pk)  # type: ignore[no-any-return]
        except ValueError as e:
            raise DecodeError(f"malformed rows event for {self.name}: {e}") from e

    def changed(self, buf: Any, before: bytes, after: bytes) -> bytes:
        """Per update of an event (`before`/`after`: its images' int64 offsets in `buf`), a
        bitmap of the columns whose two images differ (binrows.changed; Python twin:
        row_diff.changed_images)."""
        try:
            return self.mod.changed(self.layout, self.ncols, buf, before, after)  # type: ignore[no-any-return]
        except ValueError as e:
            raise DecodeError(f"malformed row image for {self.name}: {e}") from e

    def changed_all(self, segments: list[tuple[Any, bytes, bytes]]) -> bytes:
        """`changed` of every (buf, before, after) of `segments` in one call, the bitmaps one
        after the other (binrows.changed_many; Python twin: row_diff.changed_segments; a build
        without it calls `changed` per segment)."""
        many = getattr(self.mod, "changed_many", None)
        try:
            if many is None:
                return b"".join(self.mod.changed(self.layout, self.ncols, *s) for s in segments)
            return many(self.layout, self.ncols, segments)  # type: ignore[no-any-return]
        except ValueError as e:
            raise DecodeError(f"malformed row image for {self.name}: {e}") from e

    def walk(self, buf: Any, pos: int) -> list[Any]:
        """The flat list of finisher inputs (before `conv`) of an event, row after row."""
        return self.mod.walk(self.layout, self.ncols, buf, pos)[0]  # type: ignore[no-any-return]

    def finish(self, segments: list[Segment]) -> tuple[list[pa.Array], int]:
        """The row images of `segments`, in order -> one Arrow array per column, and how many
        zero dates became NULL. May raise TableFailed (as the Python finishers do)."""
        try:
            built = self.mod.build(self.layout, self.modes, self.ncols, segments)
        except ValueError as e:  # images come from index(): only a bug gets here
            raise DecodeError(f"malformed row image for {self.name}: {e}") from e
        n = sum(map(len, map(_starts, segments))) // 8  # the rows: 8 bytes a start
        arrays: list[pa.Array] = []
        zeros = 0
        for k, col in enumerate(built):
            if isinstance(col, list):
                conv = self.convs[k]
                arr, z = self.finishers[k](conv(col) if conv is not None else col)
                zeros += z
            elif len(col) == 3:  # fixed width
                validity, data, nulls = col
                bufs = [None if validity is None else pa.py_buffer(validity), pa.py_buffer(data)]
                arr = pa.Array.from_buffers(self.arrow[k], n, bufs, null_count=nulls)
            elif len(col) == 4:  # finished in C: DECIMAL, dates and times
                validity, data, nulls, z = col
                if z < 0:
                    raise decimal_out_of_range(self.name, self.columns[k], self.arrow[k])
                zeros += z
                bufs = [None if validity is None else pa.py_buffer(validity), pa.py_buffer(data)]
                arr = pa.Array.from_buffers(self.arrow[k], n, bufs, null_count=nulls)
            else:
                arr = self._var(k, n, *col)
            arrays.append(arr)
        return arrays, zeros

    def _var(
        self, k: int, n: int, validity: bytes | None, offsets: bytes, data: bytes, nulls: int,
        ascii_only: bool,
    ) -> pa.Array:  # fmt: skip
        bufs = [None if validity is None else pa.py_buffer(validity)]
        binary = pa.Array.from_buffers(
            pa.binary(), n, [*bufs, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
        )
        if self.arrow[k] == pa.binary():
            return binary
        text = binary.view(pa.string())
        dec = self.text[k]
        if dec is None:  # UTF-8: as values._text, replace invalid bytes rather than fail
            try:
                text.validate(full=True)
                return text
            except pa.ArrowInvalid:
                values = binary.to_pylist()
                return pa.array(
                    [None if v is None else v.decode("utf-8", "replace") for v in values],
                    pa.string(),
                )
        if ascii_only:  # every byte below 0x80 is that ASCII character in these charsets
            return text
        return pa.array([None if v is None else dec(v) for v in binary.to_pylist()], pa.string())


def _mode(tmap: TableMap, i: int, code: int, kind: Kind | None) -> tuple[int, Any]:
    """How build() hands column i over (and, for text, its charset's decoder)."""
    t, meta = tmap.column_types[i], tmap.column_meta[i]
    if kind is None:
        return LIST, None
    if (code in (INT_S, INT_U) and t in _INT_WIDTHS) or code in (FLOAT, DOUBLE):
        return FIXED, None
    if code == C_DEC:  # DECIMAL(p <= 18) as decimal128 (DECIMAL_TEXT stays a list)
        return (DEC, None) if kind is Kind.DECIMAL else (LIST, None)
    # Temporal columns: only where the logical type is the one the Python finisher builds.
    if t == T.DATETIME2 and code == BE_U and kind is Kind.TIMESTAMP:
        return DATETIME, None
    if t == T.TIMESTAMP2 and code == BE_U and kind is Kind.TIMESTAMPTZ:
        return TIMESTAMP, None
    if t in (T.DATE, T.NEWDATE) and code == INT_U and kind is Kind.DATE:
        return DATE, None
    if code != PREFIX or t in (T.JSON, T.GEOMETRY, T.VECTOR):
        return LIST, None
    if kind is Kind.BINARY:
        return (LIST, None) if t == T.STRING and meta > 0 else (VAR, None)  # BINARY(n) pads
    if kind is not Kind.STRING:
        return LIST, None
    codec = T.CODECS[tmap.charset(i) or "utf8mb4"]
    if codec == "utf-8":
        return VAR, None
    dec = T.decoder_for(codec)
    return (VAR, dec) if dec(_ASCII) == _ASCII.decode("ascii") else (LIST, None)


_starts = itemgetter(1)  # a segment's row starts


def image_py(
    descriptors: tuple[Any, ...],
    kind: str,
    decoder: Any,
    layout: bytes,
    ncols: int,
    buf: Any,
    v2: bool,
    images: int,
    pk: bytes,
) -> Any:
    """The Python twin of binrows.image: binrows.index of one rows event made into an object of
    the class owning `descriptors` (rows.IMAGE_DESCRIPTORS: RowsImage's slots), set through
    them as the C code does; None when the header is not the plain one; ValueError as index
    raises, and for an update whose images do not pair."""
    mod: Any = native.binrows
    got = mod.index(layout, ncols, buf, v2, images, pk)
    if got is None:
        return None
    starts, after, count, moved = got
    if count % images:
        raise ValueError("an update without its after image")
    obj = object.__new__(descriptors[0].__objclass__)
    values = (kind, decoder, count // images, len(buf), buf, starts, after, moved)
    for d, v in zip(descriptors, (*values, None, None, None, None), strict=True):
        d.__set__(obj, v)
    return obj


__all__ = ["NativeRows", "image_py", "native_layout"]
