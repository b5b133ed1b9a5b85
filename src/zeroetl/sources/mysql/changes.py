"""Rows events -> sealed change batches (model.ChangeBatch): the flat change format
destinations apply.

Every change becomes one or two entries ordered by `__seq`: the full new image (`__del` false)
or a deleted key (`__del` true). An UPDATE that keeps its key is just the new image; one that
changes its key is a delete of the old key followed by the new image. Destinations reduce to the
last entry per key, which makes replaying a batch harmless.

Raw decoded values are gathered per column across events and turned into Arrow once per batch
(`RowsDecoder.finish`): building Arrow for every small event cost more than decoding it. With
the compiled decoder, the row images themselves (event bytes and offsets) are gathered and
built into Arrow columns in one C call when sealed (`NativeRows.finish`).
`Batch.seal()` does that and hands out an immutable `ChangeBatch`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from zeroetl.errors import TableFailed, ZeroEtlError
from zeroetl.model import DEL, SEQ, ChangeBatch, TableChanges, TableId, TableSchema
from zeroetl.sources.mysql import row_diff
from zeroetl.sources.mysql.rows import RowsDecoder, RowsImage
from zeroetl.sources.mysql.rows_native import Segment


@dataclass
class _Gathered:
    """Changes to one table within the open batch, plus the counts the activity views report."""

    schema: TableSchema
    parts: list[pa.Table] = field(default_factory=list)
    entries: int = 0
    values: int = 0  # raw values gathered (what the open batch's memory grows with)
    native_values: int = 0  # of which held as event bytes (compiled decoder), not as objects
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    nbytes: int = 0
    zero_dates: int = 0
    # raw values being gathered for the current decoder, row after row (one image per entry):
    # one list extend per small event; the columns are cut out once, when sealed
    decoder: RowsDecoder | None = None
    flat: list[Any] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # compiled decoder: row images
    # per entry: its source order and whether it deletes its key, as the buffers of the Arrow
    # columns they become (no Python list of ints to convert when sealed)
    seq: array[int] = field(default_factory=lambda: array("q"))
    dels: bytearray = field(default_factory=bytearray)
    # UPDATEs that kept their key: their before images (as `flat`/`segments` hold the after
    # images) and their entries' positions in the part, to tell which columns changed
    before_flat: list[Any] = field(default_factory=list)
    before_segments: list[tuple[Any, bytes, bytes]] = field(default_factory=list)  # + after
    updates_at: array[int] = field(default_factory=lambda: array("q"))
    changed: list[pa.Array | None] = field(default_factory=list)  # per part

    def seal(self) -> None:
        """Finish the gathered raw values into one Arrow part. May raise TableFailed."""
        if self.decoder is None or not self.seq:
            return
        native = self.decoder.native
        if native is not None:
            arrays, zeros = native.finish(self.segments)
        else:
            flat, nc = self.flat, self.decoder.ncols
            arrays, zeros = self.decoder.finish([flat[k::nc] for k in range(nc)])
        self.zero_dates += zeros
        names = [*self.schema.names, SEQ, DEL]
        n = len(self.seq)
        seq = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(self.seq)])
        dels = pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(self.dels)])
        self.changed.append(self._changed(arrays, n))
        arrays += [seq, dels.cast(pa.bool_())]
        self.parts.append(pa.Table.from_arrays(arrays, names=names))
        self.flat = []
        self.segments = []
        self.before_flat, self.before_segments = [], []
        self.updates_at = array("q")
        self.seq, self.dels = array("q"), bytearray()  # the Arrow arrays keep the old ones

    def _changed(self, after: list[pa.Array], n: int) -> pa.Array | None:
        """The changed-column bitmaps of the part being sealed (row_diff.py): the compiled
        decoder compares the two images' bytes, the Python one their values finished into Arrow
        (a chunk of rows at a time). None when the part holds no UPDATE that kept its key, or
        when a before image cannot be read (its entries then count as whole rows)."""
        if not self.updates_at or self.decoder is None:
            return None
        if self.decoder.ncols < row_diff.MIN_COLUMNS:
            return None  # a narrow table's whole rows cost little more than a few columns
        dec = self.decoder
        at = np.frombuffer(self.updates_at, dtype=np.int64)
        chunks: list[pa.Array] = []
        try:
            if dec.native is not None:  # the images' bytes compared in C, no value built
                bits = dec.native.changed_all(self.before_segments)
                kind = row_diff.bitmap_type(dec.ncols)
                chunks.append(pa.Array.from_buffers(kind, len(at), [None, pa.py_buffer(bits)]))
            else:
                flat, nc = self.before_flat, dec.ncols
                for lo in range(0, len(at), row_diff.CHUNK_ROWS):
                    part = flat[lo * nc : (lo + row_diff.CHUNK_ROWS) * nc]
                    before, _zeros = dec.finish([part[k::nc] for k in range(nc)])
                    chunks.append(_bitmaps(before, after, at[lo : lo + row_diff.CHUNK_ROWS]))
        except ZeroEtlError:
            return None
        return row_diff.scatter(n, at, pa.concat_arrays(chunks))

    def sealed(self) -> TableChanges:
        counts = (self.inserted, self.updated, self.deleted, self.nbytes)
        try:
            self.seal()
        except TableFailed as exc:
            return TableChanges(self.schema, None, *counts, failure=exc.reason)
        rows = pa.concat_tables(self.parts) if len(self.parts) > 1 else self.parts[0]
        changed = None
        if any(c is not None for c in self.changed):
            kind = row_diff.bitmap_type(len(self.schema.columns))
            changed = pa.concat_arrays(
                [
                    pa.nulls(p.num_rows, kind) if c is None else c
                    for p, c in zip(self.parts, self.changed, strict=True)
                ]
            )
        return TableChanges(self.schema, rows, *counts, zero_dates=self.zero_dates, changed=changed)


def _bitmaps(before: list[pa.Array], after: list[pa.Array], at: np.ndarray) -> pa.Array:
    """The changed-column bitmaps of the after images at positions `at` of `after`."""
    lo = int(at[0])
    if int(at[-1]) - lo == len(at) - 1:  # a run of updates (the common case): no copy
        return row_diff.changed_bitmaps(before, [a.slice(lo, len(at)) for a in after])
    index = pa.array(at)
    return row_diff.changed_bitmaps(before, [a.take(index) for a in after])


class Batch:
    """The changes gathered since the last apply, per table, in source order."""

    def __init__(self) -> None:
        self.tables: dict[TableId, _Gathered] = {}
        self.seq = 0
        self.entries = 0
        self.values = 0  # raw values gathered, every table: entries times their width
        self.native_values = 0  # of which the compiled decoder holds as event bytes
        self.nbytes = 0  # the row images' bytes gathered, every table

    def __bool__(self) -> bool:
        return self.entries > 0

    def add(self, table: TableId, schema: TableSchema, image: RowsImage) -> bool:
        """Gather one event's rows; False (nothing gathered) when the batch holds `table` in
        another shape: the caller seals what came before first (`shape_differs`)."""
        tc = self.tables.get(table)
        if tc is None:
            tc = self.tables[table] = _Gathered(schema)
        elif tc.schema is not schema and not tc.schema.same_shape(schema):
            return False
        dec = image.decoder
        if tc.decoder is not dec:
            # Another TABLE_MAP version (same shape): its raw values may need other finishing.
            tc.seal()
            tc.decoder = dec
        if dec.native is not None:
            # The compiled decoder, the common cases inline (`_add_native` as one call fewer a
            # rows event, and `_tag`'s calls folded in); updates that move a key go there.
            n, kind = image.num_rows, image.kind
            if kind == "update":
                moved, after = image.moved, image.after_starts
                if moved is None or after is None or 1 in moved:  # a key moved: delete + insert
                    self._add_native(tc, image, dec.ncols)
                    return True
                values = 2 * n * dec.ncols
                tc.segments.append((image.buf, after))
                if dec.ncols >= row_diff.MIN_COLUMNS:  # else whole rows (`_changed`)
                    tc.before_segments.append((image.buf, image.starts, after))
                    tc.updates_at.extend(range(len(tc.seq), len(tc.seq) + n))
                tc.updated += n
                tc.dels += bytes(n)
            else:
                values = n * dec.ncols
                tc.segments.append((image.buf, image.starts))
                if kind == "delete":
                    tc.deleted += n
                    tc.dels += b"\x01" * n
                else:
                    tc.inserted += n
                    tc.dels += bytes(n)
            tc.nbytes += image.nbytes
            self.nbytes += image.nbytes
            tc.values += values
            self.values += values
            tc.native_values += values
            self.native_values += values
            seq = self.seq
            tc.seq.extend(range(seq, seq + n))
            self.seq = seq + n
            tc.entries += n
            self.entries += n
            return True
        self._add_raw(tc, image, dec)
        return True

    def _add_raw(self, tc: _Gathered, image: RowsImage, dec: RowsDecoder) -> None:
        """`add` for the Python decoder: the event's raw values."""
        n, nc, raw, flat = image.num_rows, dec.ncols, image.raw, tc.flat
        tc.nbytes += image.nbytes
        self.nbytes += image.nbytes
        tc.values += len(raw)
        self.values += len(raw)
        if image.kind != "update":
            flat.extend(raw)
            deleted = image.kind == "delete"
            if deleted:
                tc.deleted += n
            else:
                tc.inserted += n
            self._tag(tc, n, deleted)
            return
        tc.updated += n
        stride = 2 * nc
        keys = dec.tmap.primary_key
        moved = [
            any(raw[r + k] != raw[r + nc + k] for k in keys) for r in range(0, len(raw), stride)
        ]
        if not any(moved):
            if nc >= row_diff.MIN_COLUMNS:  # the before images, to tell what changed
                tc.updates_at.extend(range(len(tc.seq), len(tc.seq) + n))
                for r in range(0, len(raw), stride):
                    tc.before_flat.extend(raw[r : r + nc])
            for r in range(nc, len(raw), stride):
                flat.extend(raw[r : r + nc])  # the after image
            self._tag(tc, n, False)
            return
        # Row i deletes its old key, then writes its new image, so that chains within one
        # statement (a->b, b->c) end right.
        for i, r in enumerate(range(0, len(raw), stride)):
            if moved[i]:
                flat.extend(raw[r : r + nc])
                self._tag(tc, 1, True)
            flat.extend(raw[r + nc : r + stride])
            self._tag(tc, 1, False)

    def _add_native(self, tc: _Gathered, image: RowsImage, ncols: int) -> None:
        """`add` for the compiled decoder: the event's row images, not its values."""
        n, buf, segs = image.num_rows, image.buf, tc.segments
        values = n * ncols * (2 if image.kind == "update" else 1)
        tc.nbytes += image.nbytes
        self.nbytes += image.nbytes
        tc.values += values
        self.values += values
        tc.native_values += values
        self.native_values += values
        if image.kind != "update":
            segs.append((buf, image.starts))
            deleted = image.kind == "delete"
            if deleted:
                tc.deleted += n
            else:
                tc.inserted += n
            self._tag(tc, n, deleted)
            return
        tc.updated += n
        after, moved = image.after_starts, image.moved
        assert after is not None and moved is not None
        if moved.count(1) == 0:
            segs.append((buf, after))
            tc.before_segments.append((buf, image.starts, after))
            tc.updates_at.extend(range(len(tc.seq), len(tc.seq) + n))
            self._tag(tc, n, False)
            return
        # As in `_add_raw`: row i deletes its old key, then writes its new image.
        before = image.starts
        for i in range(n):
            if moved[i]:
                segs.append((buf, before[8 * i : 8 * i + 8]))
                self._tag(tc, 1, True)
            segs.append((buf, after[8 * i : 8 * i + 8]))
            self._tag(tc, 1, False)

    def _tag(self, tc: _Gathered, n: int, deleted: bool) -> None:
        tc.seq.extend(range(self.seq, self.seq + n))
        tc.dels += b"\x01" * n if deleted else bytes(n)
        self.seq += n
        tc.entries += n
        self.entries += n

    def drop_table(self, table: TableId) -> None:
        tc = self.tables.pop(table, None)
        if tc is not None:
            self.entries -= tc.entries
            self.values -= tc.values
            self.native_values -= tc.native_values
            self.nbytes -= tc.nbytes

    def shape_differs(self, table: TableId, schema: TableSchema) -> bool:
        tc = self.tables.get(table)
        return tc is not None and tc.schema is not schema and not tc.schema.same_shape(schema)

    def seal(self) -> ChangeBatch:
        """The gathered changes as Arrow, per table in source order (a table whose values
        cannot be built carries its `failure` instead)."""
        return ChangeBatch({t: tc.sealed() for t, tc in self.tables.items()}, self.entries)
