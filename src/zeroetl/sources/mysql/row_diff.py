"""Which columns an UPDATE changed (model.TableChanges.changed): its before and after images
compared column by column in Arrow, one bitmap a row.

A destination that knows its row equals the before image writes only those columns: on a
500-column table updated in three columns, an UPDATE of the three is ~10x cheaper in DuckDB
than deleting and inserting the 500 (bench/cdc_shapes_bench.py, "wide"). Comparing costs a few
vectorised calls a column and batch, against ~220 ns a value written.

The comparison is exact: values are equal only when the warehouse could not tell them apart
(floats by their bits, so 0.0 -> -0.0 counts as a change; NULL only equals NULL). A type Arrow
cannot compare counts as changed everywhere (a superset is always correct).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Rows compared at a time when sealing a batch: bounds the before images held as Arrow.
CHUNK_ROWS = 2048
# Narrower tables are not compared: their whole rows cost a destination little more, and a
# transaction touching 1,000 small tables would pay the comparison's fixed cost 1,000 times.
MIN_COLUMNS = 16


def bitmap_type(ncols: int) -> pa.DataType:
    return pa.binary((ncols + 7) // 8)


def _differs(before: pa.Array, after: pa.Array) -> np.ndarray:
    """A bool per row: whether `after` differs from `before` there."""
    t = after.type
    if pa.types.is_floating(t) and before.type == t and t.bit_width in (32, 64):
        # by their bits: -0.0 == 0.0 in Arrow, not in the warehouse's stored value
        as_int = pa.int64() if t.bit_width == 64 else pa.int32()
        before, after = before.view(as_int), after.view(as_int)
    try:
        ne = pc.not_equal(before, after)
        if before.null_count or after.null_count:
            ne = pc.or_(pc.fill_null(ne, False), pc.xor(pc.is_null(before), pc.is_null(after)))
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid):
        return np.ones(len(after), dtype=bool)
    return np.asarray(ne.to_numpy(zero_copy_only=False), dtype=bool)


def changed_bitmaps(before: Sequence[pa.Array], after: Sequence[pa.Array]) -> pa.Array:
    """Per row, a bitmap of the columns where `after` differs from `before` (bit i of byte
    i // 8 is column i, least significant bit first)."""
    ncols = len(after)
    n = len(after[0]) if ncols else 0
    width = (ncols + 7) // 8
    bits = np.zeros((n, width * 8), dtype=bool)
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        bits[:, i] = _differs(b, a)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return pa.Array.from_buffers(bitmap_type(ncols), n, [None, pa.py_buffer(packed.tobytes())])


def scatter(n: int, positions: np.ndarray, bitmaps: pa.Array) -> pa.Array:
    """An array of `n` bitmaps: `bitmaps[j]` at `positions[j]`, NULL elsewhere."""
    idx = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    idx[positions] = np.arange(len(positions))
    valid[positions] = True
    return pc.take(bitmaps, pa.array(idx, mask=~valid))


# binrows.c's layout codes that hold no length prefix and a width other than their parameter
_FLOAT, _DOUBLE, _PREFIX = 4, 5, 7


def _spans(layout: bytes, ncols: int, data: memoryview, start: int, row: int) -> list[Any]:
    """Each column's bytes in the row image at `data[start:]` (None: NULL), as binrows.c's
    image_spans reads them; ValueError when the image runs past the buffer."""
    nbl = (ncols + 7) // 8
    end = len(data)
    if start < 0 or start > end or end - start < nbl:
        raise ValueError(f"row image {row + 1}: its NULL bitmap runs past the event")
    nb, p = data[start : start + nbl], start + nbl
    out: list[Any] = []
    for i in range(ncols):
        if nb[i >> 3] >> (i & 7) & 1:
            out.append(None)
            continue
        code, w = layout[4 * i], layout[4 * i + 1]
        skip, n = 0, 4 if code == _FLOAT else 8 if code == _DOUBLE else w
        if code == _PREFIX:
            if end - p < w:
                n = -1
            else:
                skip, n = w, int.from_bytes(data[p : p + w], "little")
                if n > end - p - w:
                    n = -1
        elif end - p < n:
            n = -1
        if n < 0:
            raise ValueError(
                f"row image {row + 1}: the value of column {i + 1} runs past the event"
            )
        out.append(bytes(data[p + skip : p + skip + n]))
        p += skip + n
    return out


def changed_images(layout: bytes, ncols: int, buf: Any, before: bytes, after: bytes) -> bytes:
    """The Python twin of binrows.changed: per update (its images' int64 offsets in `buf`), a
    bitmap of the columns whose bytes or NULL-ness differ between the two images."""
    if ncols <= 0 or len(layout) != 4 * ncols or len(before) % 8 or len(after) != len(before):
        raise ValueError("changed: bad layout, column count or offsets")
    data = memoryview(buf).cast("B")
    width = (ncols + 7) // 8
    out = bytearray()
    offsets = zip(array("q", before), array("q", after), strict=True)
    for r, (b, a) in enumerate(offsets):
        sb = _spans(layout, ncols, data, b, 2 * r)
        sa = _spans(layout, ncols, data, a, 2 * r + 1)
        row = bytearray(width)
        for j in range(ncols):
            if sb[j] != sa[j]:
                row[j >> 3] |= 1 << (j & 7)
        out += row
    return bytes(out)


def changed_segments(layout: bytes, ncols: int, segments: list[tuple[Any, bytes, bytes]]) -> bytes:
    """The Python twin of binrows.changed_many: `changed_images` of every (buf, before, after)
    of `segments`, their bitmaps one after the other."""
    if ncols <= 0 or len(layout) != 4 * ncols:
        raise ValueError("changed: bad layout, column count or offsets")
    return b"".join(changed_images(layout, ncols, *seg) for seg in segments)
