"""The Redshift-style system views (PRODUCT.md section 5), queryable unqualified everywhere.

They are views in the catalog emulation schema (on every session's search path) over the
`zeroetl_meta_*` unions of each target database's `_zeroetl` tables (catalog.py), plus two
per-session registrations made just before a statement that needs them: the service's live
integration rows (`backend.integrations()`, so `current_lag` is read at query time) and exact
table statistics (row counts and on-disk size, `meta.table_stats`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl.service.stats import table_stats

from .backend import Backend

NAMES = (
    "svv_integration",
    "svv_integration_table_state",
    "sys_integration_activity",
    "sys_integration_table_activity",
    "sys_integration_table_state_change",
)
_REFERENCED = re.compile(r"\b(svv_integration\w*|sys_integration\w*)\b", re.I)

INTEGRATIONS = pa.schema(
    [
        ("integration_id", pa.string()),
        ("target_database", pa.string()),
        ("source", pa.string()),
        ("state", pa.string()),
        ("current_lag_ms", pa.int64()),
        ("creation_time", pa.timestamp("us", tz="UTC")),
        ("source_database", pa.string()),
        ("is_history_mode", pa.bool_()),
        ("latest_detected_change_time", pa.timestamp("us", tz="UTC")),
    ]
)
STATS = pa.schema(
    [
        ("db", pa.string()),
        ("schema_name", pa.string()),
        ("table_name", pa.string()),
        ("table_rows", pa.int64()),
        ("table_bytes", pa.int64()),
    ]
)


def view_sql(s: str) -> list[str]:
    """The system views, created in schema `s` (catalog.SCHEMA: passed in, not imported,
    as catalog.py imports this module)."""
    return [
        f"CREATE OR REPLACE VIEW {s}.svv_integration AS SELECT i.integration_id,"
        " i.target_database, coalesce(i.source, 'MySQL') AS source, i.state,"
        " i.current_lag_ms AS current_lag, cp.checkpoint_name AS last_replicated_checkpoint,"
        " coalesce(t.synced, 0)::INTEGER AS total_tables_replicated, coalesce(t.failed, 0)"
        "::INTEGER AS total_tables_failed, i.creation_time, i.source_database,"
        " coalesce(i.is_history_mode, false) AS is_history_mode,"
        " i.latest_detected_change_time, a.latest_applied_change_time"
        " FROM zeroetl_integrations i"
        f" LEFT JOIN {s}.zeroetl_meta_checkpoint cp ON cp.db = i.target_database AND"
        " cp.integration_id = i.integration_id"
        " LEFT JOIN (SELECT db, integration_id, count(*) FILTER (WHERE table_state = 'Synced')"
        " AS synced, count(*) FILTER (WHERE table_state = 'Failed') AS failed FROM"
        f" {s}.zeroetl_meta_tables GROUP BY ALL) t ON t.db = i.target_database AND"
        " t.integration_id = i.integration_id"
        " LEFT JOIN (SELECT db, integration_id, max(last_commit_timestamp) AS"
        f" latest_applied_change_time FROM {s}.zeroetl_meta_activity GROUP BY ALL) a"
        " ON a.db = i.target_database AND a.integration_id = i.integration_id",
        f"CREATE OR REPLACE VIEW {s}.svv_integration_table_state AS SELECT t.integration_id,"
        " t.db AS target_database, t.schema_name, t.table_name, t.table_state,"
        " CASE WHEN t.table_state = 'Synced' THEN cp.checkpoint_name END AS"
        " table_last_replicated_checkpoint, coalesce(t.reason, '') AS reason,"
        " t.last_updated_timestamp, st.table_rows,"
        " round(st.table_bytes / 1048576.0, 3) AS table_size,"
        " coalesce(i.is_history_mode, false) AS is_history_mode"
        f" FROM {s}.zeroetl_meta_tables t"
        f" LEFT JOIN {s}.zeroetl_meta_checkpoint cp ON cp.db = t.db AND cp.integration_id ="
        " t.integration_id"
        " LEFT JOIN zeroetl_table_stats st ON st.db = t.db AND st.schema_name = t.schema_name"
        " AND st.table_name = t.table_name"
        " LEFT JOIN zeroetl_integrations i ON i.integration_id = t.integration_id AND"
        " i.target_database = t.db"
        " WHERE t.table_state IS NOT NULL",
        f"CREATE OR REPLACE VIEW {s}.sys_integration_activity AS SELECT a.integration_id,"
        " a.db AS target_database, coalesce(i.source, 'MySQL') AS source, a.checkpoint_name,"
        " a.checkpoint_type, a.checkpoint_bytes, a.last_commit_timestamp, a.modified_tables,"
        " a.integration_start_time, a.integration_end_time"
        f" FROM {s}.zeroetl_meta_activity a LEFT JOIN zeroetl_integrations i ON"
        " i.integration_id = a.integration_id AND i.target_database = a.db",
        f"CREATE OR REPLACE VIEW {s}.sys_integration_table_activity AS SELECT integration_id,"
        " checkpoint_name, db AS target_database, schema_name, table_name, record_time,"
        " transaction_id, inserted_rows, deleted_rows, updated_rows, bytes_ingested"
        f" FROM {s}.zeroetl_meta_table_activity",
        f"CREATE OR REPLACE VIEW {s}.sys_integration_table_state_change AS SELECT"
        " integration_id, db AS database_name, schema_name, table_name, new_state,"
        " table_last_replicated_checkpoint, state_change_reason, record_time"
        f" FROM {s}.zeroetl_meta_state_changes",
    ]


def referenced(sql: str) -> bool:
    return bool(_REFERENCED.search(sql))


def integrations_table(rows: list[dict[str, object]]) -> pa.Table:
    cols: dict[str, list[Any]] = {f.name: [] for f in INTEGRATIONS}
    for r in rows:
        for name in cols:
            v = r.get(name)
            if name == "source" and v is None:
                v = "MySQL"
            if isinstance(v, datetime) and v.tzinfo is None:
                v = v.replace(tzinfo=None)
            cols[name].append(v)
    return pa.table(cols, schema=INTEGRATIONS)


def stats_table(backend: Backend, databases: list[str]) -> pa.Table:
    """Exact rows and size per replicated table, read on a cursor of its own (it needs USE)."""
    rows: dict[str, list[Any]] = {f.name: [] for f in STATS}
    con = backend.cursor()
    try:
        for db in databases:
            try:
                con.execute(f'USE "{db.replace(chr(34), chr(34) * 2)}"')
                stats = table_stats(con, db)
            except duckdb.Error:
                continue  # detached meanwhile: the view shows NULL statistics
            for st in stats:
                rows["db"].append(db)
                rows["schema_name"].append(st["schema"])
                rows["table_name"].append(st["table"])
                rows["table_rows"].append(st["rows"])
                rows["table_bytes"].append(st["bytes"])
    finally:
        con.close()
    return pa.table(rows, schema=STATS)


def register(
    con: duckdb.DuckDBPyConnection, backend: Backend, databases: list[str], sql: str
) -> None:
    """Register the per-query inputs on the session's cursor (always both: the views bind
    them by name, whichever of them the statement uses)."""
    con.register("zeroetl_integrations", integrations_table(backend.integrations()))
    need_stats = "table_state" in sql.lower()
    con.register(
        "zeroetl_table_stats",
        stats_table(backend, databases) if need_stats else STATS.empty_table(),
    )
