"""Reading replicated tables back as the source's logical values (tests, row-by-row compares).

`SELECT ... FINAL`: ReplacingMergeTree(_version, _is_deleted) then shows the highest version
per key and hides deleted keys, which is exactly the source's current rows (docs/clickhouse.md).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from zeroetl.model import Kind, TableSchema

from .types import ident, qualified

_TEXT = (Kind.STRING, Kind.JSON, Kind.DECIMAL_TEXT)


def select_current_sql(schema: TableSchema, order_by: tuple[str, ...] = ()) -> str:
    cols = ", ".join(ident(n) for n in schema.names)
    order = ", ".join(ident(k) for k in (order_by or schema.primary_key))
    return f"SELECT {cols} FROM {qualified(schema.id)} FINAL ORDER BY {order}"


def to_logical(schema: TableSchema, data: pa.Table) -> pa.Table:
    """ClickHouse's Arrow output -> the table's logical Arrow schema."""
    cols = []
    for c in schema.columns:
        col = data[c.name]
        t = c.type
        if t is not None and t.kind in _TEXT:
            if t.kind is Kind.DECIMAL_TEXT and t.precision:
                # Decimal -> the exact text with the column's scale, as the source writes it
                col = pa.array(
                    [None if v is None else f"{v:.{t.scale}f}" for v in col.to_pylist()],
                    pa.string(),
                )
            else:
                col = pc.cast(col, pa.string())  # binary -> UTF-8 (validated)
        elif t is not None and t.kind is Kind.TIMESTAMP:
            col = pc.cast(col, pa.timestamp("us", "UTC")).cast(pa.timestamp("us"))
        cols.append(col.cast(c.type.arrow()) if c.type is not None else col)
    return pa.Table.from_arrays(cols, schema=schema.arrow_schema())
