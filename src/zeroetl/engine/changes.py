"""Row images -> the flat change format destinations apply.

Every change becomes one or two entries ordered by `__seq`: the full new image (`__del` false)
or a deleted key (`__del` true). An UPDATE that keeps its key is just the new image; one that
changes its key is a delete of the old key followed by the new image. Destinations reduce to the
last entry per key, which makes replaying a batch harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zeroetl.model import TableId, TableSchema
from zeroetl.sources.mysql.rows import RowsImage

SEQ = "__seq"
DEL = "__del"


@dataclass
class TableChanges:
    """Changes to one table within the open batch, plus the counts the activity views report."""

    schema: TableSchema
    parts: list[pa.Table] = field(default_factory=list)
    entries: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    nbytes: int = 0

    def table(self) -> pa.Table:
        return pa.concat_tables(self.parts) if len(self.parts) > 1 else self.parts[0]


# Built once: pyarrow 26's pa.scalar() retries a failing optional import on every call
# (~50 us each, measured as 17% of small-transaction CDC time).
_DELETED = {True: pa.scalar(True), False: pa.scalar(False)}


def _tag(batch: pa.RecordBatch, seq: np.ndarray, deleted: bool) -> pa.Table:
    t = pa.Table.from_batches([batch])
    return t.append_column(SEQ, pa.array(seq)).append_column(
        DEL, pa.repeat(_DELETED[deleted], batch.num_rows)
    )


def _key_changed(schema: TableSchema, before: pa.RecordBatch, after: pa.RecordBatch) -> pa.Array:
    mask: pa.Array | None = None
    for k in schema.primary_key:
        ne = pc.not_equal(before.column(k), after.column(k))
        mask = ne if mask is None else pc.or_(mask, ne)
    assert mask is not None
    return pc.fill_null(mask, True)


class Batch:
    """The changes gathered since the last apply, per table, in source order."""

    def __init__(self) -> None:
        self.tables: dict[TableId, TableChanges] = {}
        self.seq = 0
        self.entries = 0

    def __bool__(self) -> bool:
        return self.entries > 0

    def add(self, table: TableId, schema: TableSchema, image: RowsImage) -> None:
        tc = self.tables.get(table)
        if tc is None or (tc.schema is not schema and not tc.schema.same_shape(schema)):
            if tc is not None:
                raise ValueError(f"schema of {table} changed inside a batch; flush first")
            tc = self.tables[table] = TableChanges(schema)
        if image.kind == "insert":
            assert image.after is not None
            self._tagged(tc, image.after, False)
            tc.inserted += image.after.num_rows
            tc.nbytes += image.after.nbytes
        elif image.kind == "delete":
            assert image.before is not None
            self._tagged(tc, image.before, True)
            tc.deleted += image.before.num_rows
            tc.nbytes += image.before.nbytes
        else:
            before, after = image.before, image.after
            assert before is not None and after is not None
            moved = _key_changed(schema, before, after)
            n = after.num_rows
            if pc.any(moved).as_py():
                # Row i deletes its old key at 2i and writes its new image at 2i+1, so chains
                # within one statement (a->b, b->c) end right.
                seq = np.arange(self.seq, self.seq + 2 * n, dtype=np.int64)
                keep = moved.to_numpy(zero_copy_only=False)
                self._append(tc, before.filter(moved), seq[0::2][keep], True)
                self._append(tc, after, seq[1::2], False)
                self.seq += 2 * n
            else:
                self._tagged(tc, after, False)
            tc.updated += n
            tc.nbytes += after.nbytes

    def _tagged(self, tc: TableChanges, batch: pa.RecordBatch, deleted: bool) -> None:
        n = batch.num_rows
        self._append(tc, batch, np.arange(self.seq, self.seq + n, dtype=np.int64), deleted)
        self.seq += n

    def _append(
        self, tc: TableChanges, batch: pa.RecordBatch, seq: np.ndarray, deleted: bool
    ) -> None:
        tc.parts.append(_tag(batch, seq, deleted))
        tc.entries += batch.num_rows
        self.entries += batch.num_rows

    def drop_table(self, table: TableId) -> None:
        tc = self.tables.pop(table, None)
        if tc is not None:
            self.entries -= tc.entries
