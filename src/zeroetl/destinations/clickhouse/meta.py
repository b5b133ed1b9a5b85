"""Our metadata as JSON documents: table schemas, statuses, positions (pure functions)."""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa

from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)


def table_key(t: TableId) -> str:
    return json.dumps([t.schema, t.table], ensure_ascii=False)


def table_from_key(key: str) -> TableId:
    schema, table = json.loads(key)
    return TableId(schema, table)


def position_doc(p: Position | None) -> dict[str, Any] | None:
    return None if p is None else {"file": p.file, "offset": p.offset, "gtid": p.gtid_set}


def position_from(doc: dict[str, Any] | None) -> Position | None:
    return None if doc is None else Position(doc["file"], int(doc["offset"]), doc["gtid"])


def schema_to_json(s: TableSchema) -> str:
    cols = [
        {
            "name": c.name,
            "type": None if c.type is None else [c.type.kind.value, c.type.precision, c.type.scale],
            "nullable": c.nullable,
            "source_type": c.source_type,
            "unsupported_reason": c.unsupported_reason,
        }
        for c in s.columns
    ]
    return json.dumps(
        {"schema": s.id.schema, "table": s.id.table, "columns": cols, "key": list(s.primary_key)},
        ensure_ascii=False,
    )


def schema_from_json(text: str) -> TableSchema:
    doc = json.loads(text)
    cols = tuple(
        ColumnSchema(
            c["name"],
            None
            if c["type"] is None
            else LogicalType(Kind(c["type"][0]), c["type"][1], c["type"][2]),
            c["nullable"],
            c["source_type"],
            c["unsupported_reason"],
        )
        for c in doc["columns"]
    )
    return TableSchema(TableId(doc["schema"], doc["table"]), cols, tuple(doc["key"]))


def status_to_json(s: TableStatus) -> str:
    return json.dumps(
        {
            "state": s.state.value,
            "reason": s.reason,
            "snapshot_done": s.snapshot_done,
            "snapshot_cursor": s.snapshot_cursor,
            "snapshot_hw": position_doc(s.snapshot_hw),
            "rows_copied": s.rows_copied,
            "extra": s.extra,
        },
        ensure_ascii=False,
    )


def status_from_json(table: TableId, text: str) -> TableStatus:
    d = json.loads(text)
    return TableStatus(
        table,
        TableState(d["state"]),
        d["reason"],
        d["snapshot_done"],
        d["snapshot_cursor"],
        position_from(d["snapshot_hw"]),
        d["rows_copied"],
        dict(d["extra"]),
    )


class Clock:
    """Versions of metadata rows: wall-clock nanoseconds, strictly increasing in a process."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(time.time_ns(), self.last + 1)
        return self.last


# Rows of _zeroetl.state and _zeroetl.history as they are inserted (ddl.meta_sql).
STATE_ARROW = pa.schema([("integration_id", pa.string()), ("kind", pa.string()), ("key", pa.string()),
                    ("value", pa.string()), ("_version", pa.uint64()), ("_is_deleted", pa.uint8())])  # fmt: skip
HISTORY_ARROW = pa.schema(
    [("integration_id", pa.string()), ("kind", pa.string()), ("doc", pa.string())]
)
