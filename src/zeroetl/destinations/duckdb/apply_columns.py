"""UPDATEs that kept their key, written as the columns they changed (base.ChangedColumns).

DuckDB's append, WAL and checkpoint cost ~220 ns a value: deleting and inserting a 500-column
row to change three of its columns spends ~110-150 us where `UPDATE ... SET` of the three
spends ~6-35 us (DuckDB alone, 2,000-row batches, load 5-7; UPDATE being 5-10x slower than
DELETE + INSERT holds for whole rows, not for some columns of wide ones). So a slice is split:

- keys whose every entry in the slice is such an UPDATE (`changed` set) keep only their last
  entry, with the union of their entries' changed columns: the last image is the whole row as
  the source has it, and the warehouse row (the first before image: the engine promises a
  Synced table) differs from it in no other column. Any superset of those columns is exact too,
  which is what lets rows of different column sets share a statement;
- those rows are grouped by column set, one `UPDATE t SET c = s.c, ... FROM <rows> s WHERE
  t.key = s.key` a group (rows that changed nothing are dropped). Past `MAX_GROUPS` the smaller
  groups share one statement with the union of their columns; a group that changes more than
  `WHOLE_SHARE` of the columns is written as whole rows;
- everything else (inserts, deletes, key moves, keys with any of these in the slice, and the
  rows above) goes through apply.apply_changes, unchanged: the two sets of keys are disjoint.

Keys are matched by Arrow's hashing (integers, strings and binaries only, where Arrow's
equality is DuckDB's; any other key type applies the whole slice as before).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zeroetl.model import Kind, TableSchema

from . import apply
from .apply import DEL, SEQ, Reader
from .apply_small import _exact_key
from .types import ident, qualified

# A group changing more than this share of the columns goes as whole rows. Measured (DuckDB
# alone, 500 columns, 2,000-row statements, CPU a row, load 6-7): DELETE + INSERT 81-83 us (105-110
# with the checkpoint), UPDATE of 3 columns 6 us, of 50 10-12, of 125 15-19, of 250 25-29, of
# 400 33-39: an UPDATE is cheaper at any width; whole rows stay for rows rewriting nearly all.
WHOLE_SHARE = 0.9
# Statements a slice's UPDATEs may take (each has a fixed cost of ~1 ms and more).
MAX_GROUPS = 8
# Narrower tables keep whole rows: their DELETE + INSERT is cheap, and one statement fewer
# (the source does not compare them either).
MIN_COLUMNS = 16


def apply_changed(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: TableSchema,
    changes: pa.Table,
    changed: pa.Array,
    reader: Reader | None = None,
) -> None:
    """apply.apply_changes of `changes`, its in-place UPDATEs (`changed` set) as the columns
    they changed."""
    apply._check(schema, changes, (SEQ, DEL), "change batch")
    split = split_changes(schema, changes, changed)
    if split is None:
        apply.apply_changes(con, catalog, schema, changes, reader)
        return
    whole, groups = split
    if whole.num_rows:
        apply.apply_changes(con, catalog, schema, whole, reader)
    for cols, rows in groups:
        _run_update(con, catalog, schema, cols, rows, reader)


def update_sql(schema: TableSchema, catalog: str, batch: str, cols: tuple[str, ...]) -> str:
    sets = ", ".join(f"{ident(c)} = s.{ident(c)}" for c in cols)
    match = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in schema.primary_key)
    return (
        f"UPDATE {qualified(schema.id, catalog)} AS t SET {sets} "
        f"FROM {ident(batch)} AS s WHERE {match}"
    )


def _run_update(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: TableSchema,
    cols: tuple[str, ...],
    rows: pa.Table,
    reader: Reader | None,
) -> None:
    def build(s: TableSchema, cat: str, batch: str) -> str:
        return update_sql(s, cat, batch, cols)

    apply._run(con, catalog, schema, rows, [build], reader)


def _key_groups(schema: TableSchema, changes: pa.Table) -> np.ndarray | None:
    """A group number per entry, equal where the keys are (None: a key type not handled)."""
    ids = []
    for k in schema.primary_key:
        col = changes.column(k)
        if not _exact_key(col.type):
            return None
        enc = pc.dictionary_encode(col.combine_chunks())
        ids.append(enc.indices.to_numpy(zero_copy_only=False).astype(np.int64))
    if len(ids) == 1:
        return ids[0]
    _, inverse = np.unique(np.stack(ids, axis=1), axis=0, return_inverse=True)
    return np.asarray(inverse, dtype=np.int64).reshape(-1)


def _unpack(bitmaps: pa.Array, ncols: int) -> np.ndarray:
    """Bitmaps (model.TableChanges.changed, no NULL among them) as an (n, ncols) bool matrix."""
    width = bitmaps.type.byte_width
    buf = bitmaps.buffers()[1]
    assert buf is not None and width * 8 >= ncols
    raw = np.frombuffer(buf, dtype=np.uint8, count=(bitmaps.offset + len(bitmaps)) * width)
    raw = raw[bitmaps.offset * width :].reshape(len(bitmaps), width)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :ncols].astype(bool)


def _sets_float_zero(
    schema: TableSchema, changes: pa.Table, rows: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """Per row of `rows`, whether it sets a float column to zero: DuckDB 2.0's UPDATE may keep
    a 0.0 it should replace by -0.0 or the other way round (equal as numbers; seen both ways),
    so such rows go whole."""
    out = np.zeros(len(rows), dtype=bool)
    for i, c in enumerate(schema.columns):
        if c.type is None or c.type.kind not in (Kind.FLOAT32, Kind.FLOAT64):
            continue
        if not masks[:, i].any():
            continue
        x = changes.column(c.name).to_numpy()[rows]  # NULL: NaN, never zero
        out |= masks[:, i] & (x == 0)
    return out


def _distinct(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the distinct rows of `masks`, which one each row is, how many rows each): hashed by
    Arrow as packed bytes (numpy's unique over rows sorted 500-byte rows: ~1 s a batch)."""
    n, ncols = masks.shape
    width = (ncols + 7) // 8
    packed = np.packbits(masks, axis=1, bitorder="little")
    arr = pa.Array.from_buffers(pa.binary(width), n, [None, pa.py_buffer(packed.tobytes())])
    enc = pc.dictionary_encode(arr)
    which = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.full(len(enc.dictionary), n, dtype=np.int64)
    np.minimum.at(first, which, np.arange(n))
    return masks[first], which, np.bincount(which, minlength=len(first))


def split_changes(
    schema: TableSchema, changes: pa.Table, changed: pa.Array
) -> tuple[pa.Table, list[tuple[tuple[str, ...], pa.Table]]] | None:
    """(the entries to apply as whole rows, [(columns, the key and those columns of the rows
    to UPDATE)]), or None when the whole slice goes as whole rows."""
    names = schema.names
    ncols = len(names)
    n = changes.num_rows
    if ncols < MIN_COLUMNS or n == 0 or len(changed) != n or changed.null_count == n:
        return None
    if not pa.types.is_fixed_size_binary(changed.type) or changed.type.byte_width * 8 < ncols:
        return None
    if isinstance(changed, pa.ChunkedArray):
        changed = changed.combine_chunks()
    gid = _key_groups(schema, changes)
    if gid is None:
        return None
    is_upd = changed.is_valid().to_numpy(zero_copy_only=False)
    ngroups = int(gid.max()) + 1
    # keys with an entry that is no in-place UPDATE go whole
    whole_key = np.bincount(gid, weights=~is_upd, minlength=ngroups) > 0
    seq = changes.column(SEQ).to_numpy()
    last_seq = np.full(ngroups, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_seq, gid, seq)
    is_last = seq == last_seq[gid]
    upd_rows = np.flatnonzero(is_upd & ~whole_key[gid])
    if len(upd_rows) == 0:
        return None
    masks = _unpack(changed.take(pa.array(upd_rows)), ncols)
    last_rows = upd_rows[is_last[upd_rows]]
    if len(last_rows) < len(upd_rows):  # a key updated twice: the union of its columns
        union = np.zeros((ngroups, ncols), dtype=bool)
        np.logical_or.at(union, gid[upd_rows], masks)
        masks = union[gid[last_rows]]
    for k in schema.primary_key:  # never set a key column (an UPDATE that kept its key)
        masks[:, names.index(k)] = False
    whole = ~is_upd | whole_key[gid]  # the entries of keys going whole
    float_zero = _sets_float_zero(schema, changes, last_rows, masks)
    if float_zero.any():
        whole[last_rows[float_zero]] = True
        last_rows, masks = last_rows[~float_zero], masks[~float_zero]
        if len(last_rows) == 0:
            return changes.filter(pa.array(whole)), []
    sets, which, counts = _distinct(masks)
    widths = sets.sum(axis=1)
    wide = np.flatnonzero(widths > WHOLE_SHARE * ncols)
    if len(wide):  # the key's last image stands for all of its entries
        whole[last_rows[np.isin(which, wide)]] = True
    # the rest by size; a row whose set is empty is what the warehouse holds already
    order = sorted(
        (j for j in range(len(sets)) if 0 < widths[j] <= WHOLE_SHARE * ncols),
        key=lambda j: -int(counts[j]),
    )
    if len(order) > MAX_GROUPS:  # the smaller groups share the union of their columns
        rest = order[MAX_GROUPS - 1 :]
        merged = np.any(sets[rest], axis=0)
        if merged.sum() > WHOLE_SHARE * ncols:
            whole[last_rows[np.isin(which, rest)]] = True
            order = order[: MAX_GROUPS - 1]
        else:
            sets = np.vstack([sets, merged[None, :]])
            which = np.where(np.isin(which, rest), len(sets) - 1, which)
            order = [*order[: MAX_GROUPS - 1], len(sets) - 1]
    groups: list[tuple[tuple[str, ...], pa.Table]] = []
    keys = list(schema.primary_key)
    for j in order:
        rows = last_rows[which == j]
        cols = tuple(names[i] for i in np.flatnonzero(sets[j]))
        # the columns first: a take of the whole row copies every value of the row
        groups.append((cols, changes.select([*keys, *cols]).take(pa.array(rows))))
    if not whole.any():  # only UPDATEs of some columns: no value of the slice copied
        return changes.slice(0, 0), groups
    return changes.filter(pa.array(whole)), groups
