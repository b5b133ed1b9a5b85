"""Change batches and snapshot chunks as ReplacingMergeTree rows.

ClickHouse has no transactions, so the destination gathers a transaction's writes (pending.py
below: `Pending`) and writes them at commit. Per table, every entry of the transaction (change
entries and snapshot rows, in call order) reduces to the last entry per key; each key is then
written once, as one row with `_version` = the transaction's version and `_is_deleted` set for a
deleted key. The version depends only on the commit's position (types.version_of), so a replay
writes the same rows again with the same version: ReplacingMergeTree keeps one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zeroetl.errors import DestinationError
from zeroetl.model import DEL, SEQ, Kind, TableSchema

from .types import DELETED, VERSION

ORD = "__ord"


def _check(schema: TableSchema, data: pa.Table, extra: tuple[str, ...], what: str) -> None:
    if not schema.primary_key:
        raise DestinationError(f"table {schema.id}: {what} needs a primary key")
    missing = [n for n in (*extra, *schema.names) if n not in data.column_names]
    if missing:
        raise DestinationError(
            f"table {schema.id}: {what} lacks column(s) {missing}",
            hint="the batch must carry every column of the table schema",
        )


@dataclass
class Pending:
    """One table's writes of the open transaction, in call order."""

    schema: TableSchema
    parts: list[pa.Table] = field(default_factory=list)
    rows: int = 0

    def add_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        _check(schema, changes, (SEQ, DEL), "change batch")
        self.schema = schema
        order = pc.sort_indices(changes, [(SEQ, "ascending")])
        changes = changes.take(order)
        self._add(changes.select(list(schema.names)), changes[DEL])

    def add_chunk(self, schema: TableSchema, rows: pa.Table) -> None:
        _check(schema, rows, (), "snapshot chunk")
        self.schema = schema
        self._add(rows.select(list(schema.names)), pa.array([False] * rows.num_rows))

    def _add(self, data: pa.Table, deleted: pa.Array | pa.ChunkedArray) -> None:
        if data.num_rows == 0:
            return
        try:
            data = data.cast(self.schema.arrow_schema())  # the logical types, whatever came in
            _storage_values(self.schema, data)  # a value ClickHouse cannot take fails here
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            # Now, not at commit: the engine fails this table alone and replays the rest.
            raise DestinationError(f"table {self.schema.id}: cannot write a value: {e}") from e
        ords = pa.array(np.arange(self.rows, self.rows + data.num_rows, dtype=np.int64))
        self.parts.append(data.append_column(ORD, ords).append_column(DEL, deleted))
        self.rows += data.num_rows

    def rows_to_write(self, version: int) -> pa.Table | None:
        """The last entry per key, as the table's rows plus `_version` and `_is_deleted`."""
        if not self.parts:
            return None
        data = pa.concat_tables(self.parts)
        keys = list(self.schema.primary_key)
        data = data.take(pc.sort_indices(data, [(k, "ascending") for k in [*keys, ORD]]))
        n = data.num_rows
        last = np.ones(n, dtype=bool)
        if n > 1:
            same = np.ones(n - 1, dtype=bool)
            for k in keys:
                col = data[k].combine_chunks()
                eq = pc.equal(col.slice(0, n - 1), col.slice(1))
                same &= eq.to_numpy(zero_copy_only=False).astype(bool)
            last[:-1] = ~same
        data = data.filter(pa.array(last))
        out = data.select(list(self.schema.names))
        out = _storage_values(self.schema, out)
        out = out.append_column(VERSION, pa.array(np.full(out.num_rows, version, np.uint64)))
        return out.append_column(DELETED, pc.cast(data[DEL], pa.uint8()))


def _storage_values(schema: TableSchema, data: pa.Table) -> pa.Table:
    """Values as ClickHouse columns take them: DECIMAL_TEXT with a known precision is a
    Decimal column (exact text -> decimal256), DATETIME is stored as its wall-clock in UTC."""
    for i, c in enumerate(schema.columns):
        t = c.type
        if t is None:
            continue
        if t.kind is Kind.DECIMAL_TEXT and t.precision:
            data = data.set_column(
                i, c.name, pc.cast(data[c.name], pa.decimal256(t.precision, t.scale))
            )
        elif t.kind is Kind.TIMESTAMP:
            data = data.set_column(i, c.name, pc.cast(data[c.name], pa.timestamp("us", "UTC")))
    return data
