"""Reads of a target database's bookkeeping through the hub (committed data only).

The worker writes `_zeroetl.*` in the same transactions as the data (see destinations/duckdb/
meta.py); these queries run on cursors of their own and see committed snapshots, so the API
never waits for, or disturbs, replication. Times are read as microseconds since the epoch
(`epoch_us`): DuckDB hands TIMESTAMPTZ values to Python only when pytz is installed, which
zeroetl does not need, and the answer must not depend on the machine's time zone either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from zeroetl.monitoring import tables as monitoring
from zeroetl.service.stats import table_stats
from zeroetl.sqltext import ident

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(epoch_us: int | None) -> str | None:
    """ISO 8601 UTC from microseconds since the epoch."""
    if epoch_us is None:
        return None
    return (_EPOCH + timedelta(microseconds=epoch_us)).isoformat()  # exact, unlike a float


def _at(column: str, name: str) -> str:
    """Select a TIMESTAMPTZ column as microseconds since the epoch, under `name`."""
    return f'epoch_us({column}) AS "{name}"'


def _dicts(cur: duckdb.DuckDBPyConnection, times: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or ()]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for r in rows:
        for name in times:
            r[name] = _iso(r[name])
    return rows


def table_states(
    cur: duckdb.DuckDBPyConnection, database: str, integration_id: str
) -> list[dict[str, Any]]:
    """Per table: state, reason, last update, rows and size (svv_integration_table_state).

    One read transaction: states, the table list and the counts come from one snapshot (a table
    the worker drops meanwhile would otherwise vanish between two statements)."""
    cur.execute("BEGIN TRANSACTION")
    try:
        return _table_states(cur, database, integration_id)
    finally:
        cur.execute("ROLLBACK")


def _table_states(
    cur: duckdb.DuckDBPyConnection, database: str, integration_id: str
) -> list[dict[str, Any]]:
    m = f"{ident(database)}.{monitoring.SCHEMA}"
    cur.execute(
        f"SELECT schema_name, table_name, table_state, reason, "
        f"{_at('last_updated_timestamp', 'last_updated_at')}, "
        f"coalesce(TRY_CAST(json_extract_string(extra, '$.zero_dates') AS BIGINT), 0) "
        f"AS zero_dates FROM {m}.tables WHERE integration_id = ? AND table_state IS NOT NULL "
        "ORDER BY schema_name, table_name",
        [integration_id],
    )
    rows = _dicts(cur, ("last_updated_at",))
    cur.execute(
        "SELECT schema_name, table_name, epoch_us(max(t)) AS last_change FROM ("
        f"SELECT schema_name, table_name, record_time AS t FROM {m}.table_activity "
        "WHERE integration_id = $id UNION ALL SELECT schema_name, table_name, last_record_time "
        f"FROM {m}.table_activity_pruned WHERE integration_id = $id) GROUP BY ALL",
        {"id": integration_id},
    )
    last_change = {(r[0], r[1]): _iso(r[2]) for r in cur.fetchall()}
    cur.execute(f"USE {ident(database)}")
    stats = {(s["schema"], s["table"]): s for s in table_stats(cur, database)}
    out = []
    for r in rows:
        key = (r["schema_name"], r["table_name"])
        s = stats.get(key)
        out.append(
            {
                "schema": r["schema_name"],
                "table": r["table_name"],
                "state": r["table_state"],
                "reason": r["reason"] or "",
                "rows": s["rows"] if s else None,
                "size_bytes": s["bytes"] if s else None,
                "last_updated_at": r["last_updated_at"],
                "last_change_at": last_change.get(key),
                "zero_dates": int(r["zero_dates"]),  # zero dates read as NULL since the copy
            }
        )
    return out


def table_state_changes(
    cur: duckdb.DuckDBPyConnection, database: str, integration_id: str, offset: int, limit: int
) -> list[dict[str, Any]]:
    """sys_integration_table_state_change rows, oldest first, in the API's names."""
    cur.execute(
        'SELECT schema_name AS "schema", table_name AS "table", new_state AS state, '
        "coalesce(state_change_reason, '') AS reason, "
        f"table_last_replicated_checkpoint AS checkpoint, {_at('record_time', 'recorded_at')} "
        f"FROM {ident(database)}.{monitoring.SCHEMA}.state_changes WHERE integration_id = ? "
        "ORDER BY record_time, schema_name, table_name LIMIT ? OFFSET ?",
        [integration_id, limit, offset],
    )
    return _dicts(cur, ("recorded_at",))


def activity(
    cur: duckdb.DuckDBPyConnection, database: str, integration_id: str, offset: int, limit: int
) -> list[dict[str, Any]]:
    """sys_integration_activity rows, newest first, in the API's names."""
    cur.execute(
        "SELECT checkpoint_name AS checkpoint, checkpoint_type, checkpoint_bytes AS bytes, "
        f"modified_tables AS tables_modified, {_at('last_commit_timestamp', 'source_commit_at')}, "
        f"{_at('integration_start_time', 'started_at')}, "
        f"{_at('integration_end_time', 'ended_at')} "
        f"FROM {ident(database)}.{monitoring.SCHEMA}.activity WHERE integration_id = ? "
        "ORDER BY integration_end_time DESC LIMIT ? OFFSET ?",
        [integration_id, limit, offset],
    )
    return _dicts(cur, ("source_commit_at", "started_at", "ended_at"))


def checkpoint(cur: duckdb.DuckDBPyConnection, database: str, integration_id: str) -> str | None:
    cur.execute(
        f"SELECT checkpoint_name FROM {ident(database)}.{monitoring.SCHEMA}.checkpoint "
        "WHERE integration_id = ?",
        [integration_id],
    )
    row = cur.fetchone()
    return None if row is None else str(row[0])
