"""Rows events (WRITE/UPDATE/DELETE_ROWS v1 and v2) -> Arrow record batches.

A RowsDecoder is compiled once per TableMap: it generates one Python function that walks the
rows of an event, reading consecutive fixed-width columns with a single precompiled
`struct.Struct` and appending every raw value to one flat list (rows without NULLs take a
straight-line path; rows with NULLs a per-column one). Each column is then sliced out of the
flat list with a stride and finished into Arrow in one go (see values.py).

Where the compiled decoder is built (zeroetl.native.binrows, rows_native.py), it replaces the
generated function: `decode` only checks and indexes the row images in C, and batches build
Arrow columns from them in C (`NativeRows.finish`). ZEROETL_NATIVE=0 (or a table whose
TABLE_MAP it does not take) keeps the Python walk, the twin the tests compare it with.
"""

from __future__ import annotations

import struct
from typing import Any

import pyarrow as pa

from zeroetl import native
from zeroetl.errors import BinlogFault, DecodeError
from zeroetl.sources.mysql.rows_native import NativeRows, image_py, native_layout
from zeroetl.sources.mysql.tablemap import TableMap, parse_table_map, rows_table_id
from zeroetl.sources.mysql.values import Layout, finisher, layout

WRITE_ROWS_V1, UPDATE_ROWS_V1, DELETE_ROWS_V1 = 23, 24, 25
WRITE_ROWS_V2, UPDATE_ROWS_V2, DELETE_ROWS_V2 = 30, 31, 32
PARTIAL_UPDATE_ROWS = 39
_KINDS = {
    WRITE_ROWS_V1: "insert", WRITE_ROWS_V2: "insert", UPDATE_ROWS_V1: "update",
    UPDATE_ROWS_V2: "update", DELETE_ROWS_V1: "delete", DELETE_ROWS_V2: "delete",
}  # fmt: skip
_V2 = {WRITE_ROWS_V2, UPDATE_ROWS_V2, DELETE_ROWS_V2}

_new_image = object.__new__


__all__ = ["RowsDecoder", "RowsImage", "TableMap", "parse_table_map", "rows_table_id"]


class RowsImage:
    """The rows of one event: raw values now, Arrow on demand.

    `raw` is the decoder's flat list of raw values, row after row (for updates each row is its
    before image then its after image). Consumers that gather many events (the engine's batches)
    read `raw` and finish whole columns at once with `decoder.finish`, which is much cheaper
    than building Arrow for every small event; `before`/`after` build it for this event alone.
    Finishing may raise TableFailed (e.g. a TIME value out of range).

    Decoded by the compiled decoder (`decoder.native` set), an image holds the event's bytes
    and where each row image starts instead (`buf`, `starts`; for updates `starts` are the
    before images, `after` the after images and `moved` a byte per row, 1 where the key
    changed); `raw` is then made only when asked for. Batches gather the images and finish them
    with `decoder.native.finish`, without a Python object per value.
    """

    __slots__ = (
        "_after", "_before", "_raw", "_zero_dates", "after_starts", "buf", "decoder", "kind",
        "moved", "nbytes", "num_rows", "starts",
    )  # fmt: skip

    def __init__(
        self, kind: str, decoder: RowsDecoder, raw: list[Any] | None, num_rows: int, nbytes: int
    ) -> None:
        self.kind = kind  # "insert" | "update" | "delete"
        self.decoder = decoder
        self._raw = raw
        self.num_rows = num_rows
        self.nbytes = nbytes  # size of the event's row data
        self.buf: Any = None
        self.starts = b""
        self.after_starts: bytes | None = None
        self.moved: bytes | None = None
        self._before: pa.RecordBatch | None = None
        self._after: pa.RecordBatch | None = None
        self._zero_dates: int | None = None

    @property
    def raw(self) -> list[Any]:
        if self._raw is None:
            native = self.decoder.native
            assert native is not None
            first = int.from_bytes(self.starts[:8], "little") if self.starts else len(self.buf)
            self._raw = native.walk(self.buf, first)
        return self._raw

    def _build(self) -> None:
        if self._zero_dates is not None:
            return
        d = self.decoder
        if d.native is not None:
            images = (
                [self.starts] if self.after_starts is None else [self.starts, self.after_starts]
            )
            built = []
            zeros = 0
            for st in images:
                arrays, z = d.native.finish([(self.buf, st)])
                built.append(pa.RecordBatch.from_arrays(arrays, schema=d.arrow_schema))
                zeros += z
            self._zero_dates = zeros
            if self.kind == "update":
                self._before, self._after = built
            elif self.kind == "insert":
                self._after = built[0]
            else:
                self._before = built[0]
            return
        if self.kind == "update":
            self._before, z1 = d._batch(self.raw, 0, 2 * d.ncols)
            self._after, z2 = d._batch(self.raw, d.ncols, 2 * d.ncols)
            self._zero_dates = z1 + z2
        else:
            batch, self._zero_dates = d._batch(self.raw, 0, d.ncols)
            if self.kind == "insert":
                self._after = batch
            else:
                self._before = batch

    @property
    def before(self) -> pa.RecordBatch | None:  # delete, update
        self._build()
        return self._before

    @property
    def after(self) -> pa.RecordBatch | None:  # insert, update
        self._build()
        return self._after

    @property
    def zero_dates(self) -> int:  # zero/invalid dates turned into NULL
        self._build()
        return self._zero_dates or 0


_PREFIX_CODES = {1: "B", 2: "H", 4: "I"}
_MAX_PATTERNS = 48  # NULL patterns compiled into straight-line branches; then a generic one


class _Compiler:
    """Generates `walk(buf, pos, end, out)`: one branch per NULL pattern seen so far.

    Within a branch the present columns are read run by run: every fixed-width value up to and
    including the next length prefix comes from one precompiled struct, then the string is
    sliced. An unseen pattern makes `walk` return early; the decoder adds a branch and resumes.
    """

    def __init__(self, layouts: list[Layout], nbl: int) -> None:
        self.layouts = layouts
        self.nbl = nbl
        self.env: dict[str, Any] = {}
        self.structs: dict[str, str] = {}

    def _struct(self, codes: str) -> str:
        name = self.structs.get(codes)
        if name is None:
            name = self.structs[codes] = f"S{len(self.structs)}"
            self.env[name] = struct.Struct("<" + codes).unpack_from
        return name

    def branch(self, present: list[int]) -> list[str]:
        """Straight-line code reading the present columns at `p` into v{i}."""
        lines: list[str] = []
        names: list[str] = []
        codes = ""

        def flush(extra: str = "") -> None:
            nonlocal names, codes
            if names:
                size = struct.calcsize("<" + codes)
                lines.append(f"{', '.join(names)}, = {self._struct(codes)}(buf, p)")
                if extra:
                    lines.append(extra.format(a=f"p + {size}"))
                    lines.append(f"p += {size} + n")
                else:
                    lines.append(f"p += {size}")
            names, codes = [], ""

        for i in present:
            lay = self.layouts[i]
            if lay.code:
                names.append(f"v{i}")
                codes += lay.code
            elif lay.prefix in _PREFIX_CODES:
                names.append("n")
                codes += _PREFIX_CODES[lay.prefix]
                flush(f"v{i} = buf[{{a}}:{{a}} + n]")
            else:  # 3-byte length (MEDIUMBLOB/MEDIUMTEXT): no struct code
                flush()
                lines.append("n = int.from_bytes(buf[p:p + 3], 'little')")
                lines.append(f"v{i} = buf[p + 3:p + 3 + n]")
                lines.append("p += 3 + n")
        flush()
        return lines

    def generic(self) -> list[str]:
        """Per-column NULL checks: the fallback once there are too many patterns."""
        lines: list[str] = []
        for i in range(len(self.layouts)):
            lines.append(f"if nb >> {i} & 1:")
            lines.append(f"    v{i} = None")
            lines.append("else:")
            lines += ["    " + ln for ln in self.branch([i])]
        return lines

    def source(self, patterns: list[int]) -> str:
        ncols = len(self.layouts)
        nb_expr = (
            "buf[pos]" if self.nbl == 1 else f"int.from_bytes(buf[pos:pos + {self.nbl}], 'little')"
        )
        lines = [
            "def walk(buf, pos, end, out):",
            "    while pos < end:",
            # Servers set the unused high bits of the NULL bitmap: mask them.
            f"        nb = {nb_expr} & {(1 << ncols) - 1}",
            f"        p = pos + {self.nbl}",
        ]
        for k, nb in enumerate(patterns):
            present = [i for i in range(ncols) if not nb >> i & 1]
            values = ", ".join("None" if nb >> i & 1 else f"v{i}" for i in range(ncols))
            lines.append(f"        {'if' if k == 0 else 'elif'} nb == {nb}:")
            lines += ["            " + ln for ln in self.branch(present)]
            lines.append(f"            out += ({values},)")
        lines.append("        else:")
        if len(patterns) >= _MAX_PATTERNS:
            lines += ["            " + ln for ln in self.generic()]
            lines.append(f"            out += ({', '.join(f'v{i}' for i in range(ncols))},)")
        else:
            lines.append("            return pos")
        lines += ["        pos = p", "    return pos"]
        return "\n".join(lines) + "\n"

    def compile(self, patterns: list[int]) -> tuple[Any, str]:
        src = self.source(patterns)
        env = dict(self.env)
        exec(src, env)  # built from the table's column layouts only, never from row values
        return env["walk"], src


class RowsDecoder:
    """Decodes every rows event of one table version (one TableMap)."""

    def __init__(self, tmap: TableMap) -> None:
        self.tmap = tmap
        self.table_schema = tmap.table_schema()
        self.arrow_schema = self.table_schema.arrow_schema()
        self.ncols = len(tmap.column_types)
        self._nbl = (self.ncols + 7) // 8
        layouts = [layout(tmap, i) for i in range(self.ncols)]
        self._conv = [lay.conv for lay in layouts]
        self._finish = [finisher(tmap, i, c.type) for i, c in enumerate(self.table_schema.columns)]
        self._full = (1 << self.ncols) - 1
        # The compiled decoder where built and able to read this table; else the generated walk.
        self.native: NativeRows | None = None
        compiled = native_layout(tmap, layouts) if native.binrows is not None else None
        if compiled is not None:
            self._conv = compiled[1]  # `raw` of a compiled image is already converted
            self.native = NativeRows(tmap, *compiled, self.table_schema, self._finish)
            # a tree built before binrows.image existed runs the twin
            self._image: Any = getattr(native.binrows, "image", None) or image_py
            return
        self._compiler = _Compiler(layouts, self._nbl)
        self._patterns: list[int] = [0]
        self._walk, self.source = self._compiler.compile(self._patterns)

    def decode(self, event_type: int, body: memoryview) -> RowsImage:
        kind = _KINDS.get(event_type)
        nat = self.native
        if nat is not None and kind is not None:
            # The compiled decoder reads the event in place, header included.
            try:  # index and image in one C call (binrows.image; its twin: image_py)
                image = self._image(
                    IMAGE_DESCRIPTORS, kind, self, nat.layout, nat.ncols, body,
                    event_type in _V2, 2 if kind == "update" else 1, nat.pk,
                )  # fmt: skip
            except ValueError as e:
                raise DecodeError(f"malformed rows event for {nat.name}: {e}") from e
            if image is not None:
                return image
        if kind is None:
            what = "PARTIAL_UPDATE_ROWS (binlog_row_value_options=PARTIAL_JSON is not supported)"
            raise DecodeError(
                f"event type {event_type} is not a rows event zeroetl decodes"
                + (f": {what}" if event_type == PARTIAL_UPDATE_ROWS else "")
            )
        buf = bytes(body)
        pos = 8
        if event_type in _V2:
            pos += int.from_bytes(buf[8:10], "little")  # extra data, its 2 length bytes included
        ncols, pos = _packed(buf, pos)
        if ncols != self.ncols:
            raise DecodeError(
                f"rows event for {self.tmap.schema}.{self.tmap.table} has {ncols} columns, "
                f"its TABLE_MAP {self.ncols}"
            )
        images = 2 if kind == "update" else 1
        for _ in range(images):
            present = int.from_bytes(buf[pos : pos + self._nbl], "little") & self._full
            if present != self._full:
                names = self.tmap.column_names
                missing = [names[i] for i in range(self.ncols) if not present >> i & 1]
                raise BinlogFault(
                    f"partial row image for {self.tmap.schema}.{self.tmap.table} (columns "
                    f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} missing)",
                    hint="SET GLOBAL binlog_row_image=FULL (and in the server config), then resync",
                    setting="binlog_row_image",
                )
            pos += self._nbl
        if nat is not None:  # its header looked wrong to the compiled decoder, not to this one
            raise DecodeError(
                f"malformed rows event header for {self.tmap.schema}.{self.tmap.table}"
            )
        out: list[Any] = []
        end = len(buf)
        try:
            while True:
                pos = self._walk(buf, pos, end, out)
                if pos >= end:
                    break
                self._add_pattern(buf, pos)
        except (IndexError, struct.error) as e:
            raise DecodeError(f"malformed rows event for {self.tmap.table}: {e}") from e
        if pos != end or len(out) % (self.ncols * images):
            raise DecodeError(f"malformed rows event for {self.tmap.table}: rows overrun the event")
        return RowsImage(kind, self, out, len(out) // (self.ncols * images), len(buf))

    def _add_pattern(self, buf: bytes, pos: int) -> None:
        nb = int.from_bytes(buf[pos : pos + self._nbl], "little") & self._full
        self._patterns.append(nb)
        self._walk, self.source = self._compiler.compile(self._patterns)

    def finish(self, columns: list[list[Any]]) -> tuple[list[pa.Array], int]:
        """Raw values gathered per column (from any number of this decoder's events) -> Arrow
        arrays of the table's types, and how many zero dates became NULL."""
        arrays = []
        zeros = 0
        for k, fin in enumerate(self._finish):
            col = columns[k]
            conv = self._conv[k]
            if conv is not None:
                col = conv(col)
            arr, z = fin(col)
            arrays.append(arr)
            zeros += z
        return arrays, zeros

    def _batch(self, out: list[Any], start: int, stride: int) -> tuple[pa.RecordBatch, int]:
        arrays = []
        zeros = 0
        for k, fin in enumerate(self._finish):
            col = out[start + k :: stride]
            conv = self._conv[k]
            if conv is not None:
                col = conv(col)
            arr, z = fin(col)
            arrays.append(arr)
            zeros += z
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema), zeros


def _packed(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 251:
        return first, pos + 1
    width = {252: 2, 253: 3, 254: 8}.get(first)
    if width is None:
        raise DecodeError(f"bad packed integer prefix {first} in rows event")
    return int.from_bytes(buf[pos + 1 : pos + 1 + width], "little"), pos + 1 + width


# The slots binrows.image sets, in its order (the C code writes them by these descriptors).
IMAGE_SLOTS = (
    "kind", "decoder", "num_rows", "nbytes", "buf", "starts", "after_starts", "moved", "_raw",
    "_before", "_after", "_zero_dates",
)  # fmt: skip
IMAGE_DESCRIPTORS = tuple(RowsImage.__dict__[name] for name in IMAGE_SLOTS)
if set(IMAGE_SLOTS) != set(RowsImage.__slots__):  # a slot added must be set by binrows.image
    raise RuntimeError("rows.IMAGE_SLOTS differs from RowsImage.__slots__")
