"""Our own bookkeeping, in schema `_zeroetl` of the same DuckDB file as the replicated data.

Living in the same file means the checkpoint, table states and activity commit in the same
transaction as the rows they describe (STYLE.md practices 3 and 7). Tables carry no constraints:
DuckDB's ART indexes refuse a delete + re-insert of one key inside a transaction, and these
tables are tiny (upserts are UPDATE-then-INSERT). Every table has `integration_id` so the system
views (PRODUCT.md section 5) can union files of several integrations.

The tables, their columns and types are defined once in monitoring/tables.py (the DDL
below and the INSERTs of destination.py derive from it).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

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
from zeroetl.monitoring import tables as monitoring

from .types import literal, qualified

SCHEMA = monitoring.SCHEMA
VERSION = "1"


def ddl(catalog: str) -> str:
    """CREATE statements for the metadata tables in `catalog` (a quoted identifier)."""
    return monitoring.ddl(f"{catalog}.{SCHEMA}")


# --- TableSchema <-> JSON --------------------------------------------------------------------


def schema_to_json(s: TableSchema) -> str:
    cols = [
        {
            "name": c.name,
            "type": None
            if c.type is None
            else {"kind": c.type.kind.value, "precision": c.type.precision, "scale": c.type.scale},
            "nullable": c.nullable,
            "source_type": c.source_type,
            "unsupported_reason": c.unsupported_reason,
        }
        for c in s.columns
    ]
    doc = {
        "schema": s.id.schema,
        "table": s.id.table,
        "columns": cols,
        "primary_key": list(s.primary_key),
    }
    return json.dumps(doc, ensure_ascii=False)


def schema_from_json(text: str) -> TableSchema:
    doc = json.loads(text)
    cols = []
    for c in doc["columns"]:
        t = c["type"]
        lt = None if t is None else LogicalType(Kind(t["kind"]), t["precision"], t["scale"])
        cols.append(
            ColumnSchema(
                name=c["name"],
                type=lt,
                nullable=c["nullable"],
                source_type=c["source_type"],
                unsupported_reason=c["unsupported_reason"],
            )
        )
    return TableSchema(
        id=TableId(doc["schema"], doc["table"]),
        columns=tuple(cols),
        primary_key=tuple(doc["primary_key"]),
    )


# --- rows <-> values -------------------------------------------------------------------------

STATUS_COLUMNS = (
    "table_state",
    "reason",
    "snapshot_done",
    "snapshot_cursor",
    "snapshot_hw_file",
    "snapshot_hw_offset",
    "snapshot_hw_gtid_set",
    "rows_copied",
    "extra",
)


def status_values(s: TableStatus) -> list[Any]:
    hw = s.snapshot_hw
    return [
        s.state.value,
        s.reason,
        s.snapshot_done,
        s.snapshot_cursor,
        hw.file if hw else None,
        hw.offset if hw else None,
        hw.gtid_set if hw else None,
        s.rows_copied,
        json.dumps(s.extra, ensure_ascii=False),
    ]


def status_from_row(schema_name: str, table_name: str, row: tuple[Any, ...]) -> TableStatus:
    state, reason, done, cursor, hw_file, hw_offset, hw_gtid, rows_copied, extra = row
    return TableStatus(
        id=TableId(schema_name, table_name),
        state=TableState(state),
        reason=reason or "",
        snapshot_done=bool(done),
        snapshot_cursor=cursor,
        snapshot_hw=None if hw_file is None else Position(hw_file, int(hw_offset), hw_gtid or ""),
        rows_copied=int(rows_copied or 0),
        extra=json.loads(extra) if extra else {},
    )


def position_values(pos: Position | None) -> list[Any]:
    if pos is None:
        return [None, None, None, None]
    return [str(pos), pos.file, pos.offset, pos.gtid_set]


# --- table statistics ------------------------------------------------------------------------


def table_stats(con: duckdb.DuckDBPyConnection, catalog: str) -> list[dict[str, Any]]:
    """Rows and an on-disk size estimate per replicated table (svv_integration_table_state).

    Rows: count(*) (duckdb_tables().estimated_size keeps counting deleted rows until a
    checkpoint compacts them). Bytes: distinct storage blocks of the persisted segments times the
    block size, plus ~8 bytes per value not yet checkpointed; a block shared by several tables
    counts for each, so this is an estimate, like Redshift's table_size.
    """
    row = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    block_size = int(row[0]) if row else 262144
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name <> ? AND NOT temporary "
        "ORDER BY schema_name, table_name",
        [SCHEMA],
    ).fetchall()
    out = []
    for schema_name, table_name in tables:
        full = qualified(TableId(schema_name, table_name), catalog)
        info = f"pragma_storage_info({literal(full)})"
        counted = con.execute(
            f"SELECT (SELECT count(*) FROM {full}),"
            f" (SELECT count(DISTINCT b) FROM (SELECT unnest(list_prepend(block_id,"
            f"   additional_block_ids)) AS b FROM {info} WHERE persistent AND block_id >= 0)),"
            f" (SELECT coalesce(sum(count), 0) FROM {info}"
            f"   WHERE NOT persistent AND segment_type <> 'VALIDITY')"
        ).fetchone()
        rows, blocks, pending = counted if counted else (0, 0, 0)
        size = int(blocks) * block_size + int(pending) * 8
        out.append({"schema": schema_name, "table": table_name, "rows": int(rows), "bytes": size})
    return out
