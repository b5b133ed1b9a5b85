"""Monitoring numbers read from a target database's bookkeeping (monitoring is data).

`/metrics`, the console and their JSON twins all come from here: totals and per-minute series
are aggregates of `_zeroetl.activity`, `_zeroetl.table_activity` and `_zeroetl.tables`, computed
in DuckDB at read time, so nothing is counted twice and a restart loses nothing.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import duckdb

from zeroetl.destinations.duckdb.meta import table_stats as duckdb_table_stats
from zeroetl.monitoring import tables as monitoring
from zeroetl.service.mirror import STATS_KEY
from zeroetl.sqltext import ident

MAX_POINTS = 720  # a series never has more buckets than this (the console draws every one)


def _meta(database: str) -> str:
    return f"{ident(database)}.{monitoring.SCHEMA}"


def table_stats(cur: duckdb.DuckDBPyConnection, database: str) -> list[dict[str, Any]]:
    """Rows and bytes per replicated table of target database `database` (the cursor's current
    database), for the API and the SQL views: counted in the DuckDB file, or, for a target
    database whose data lives in ClickHouse, as the worker last stored them (mirror.py: at most
    a few seconds old)."""
    out = duckdb_table_stats(cur, database)
    row = cur.execute(
        f"SELECT value FROM {_meta(database)}.kv WHERE key = ? LIMIT 1", [STATS_KEY]
    ).fetchone()
    if row is not None:
        seen = {(s["schema"], s["table"]) for s in out}
        for s in json.loads(row[0]):
            if (s["schema"], s["table"]) not in seen:
                out.append({k: s[k] for k in ("schema", "table", "rows", "bytes")})
    return out


def totals(cur: duckdb.DuckDBPyConnection, database: str, integration_id: str) -> dict[str, Any]:
    """Cumulative rows applied per operation and bytes, snapshot progress per table, and the
    checkpoint's binlog file: one read transaction, so they all describe one commit."""
    m = _meta(database)
    cur.execute("BEGIN TRANSACTION")
    try:
        # What the history retention pruned is summed in *_pruned: counters never go back.
        every_change = (
            "(SELECT schema_name, table_name, inserted_rows, updated_rows, deleted_rows,"
            f" bytes_ingested, record_time FROM {m}.table_activity WHERE integration_id = $id"
            " UNION ALL SELECT schema_name, table_name, inserted_rows, updated_rows,"
            " deleted_rows, bytes_ingested, last_record_time"
            f" FROM {m}.table_activity_pruned WHERE integration_id = $id)"
        )
        args = {"id": integration_id}
        cur.execute(
            "SELECT coalesce(sum(inserted_rows), 0), coalesce(sum(updated_rows), 0),"
            f" coalesce(sum(deleted_rows), 0), coalesce(sum(bytes_ingested), 0) FROM {every_change}",
            args,
        )
        ins, upd, dele, nbytes = cur.fetchone() or (0, 0, 0, 0)
        cur.execute(
            "SELECT schema_name, table_name, sum(inserted_rows), sum(updated_rows),"
            " sum(deleted_rows), sum(bytes_ingested), epoch(max(record_time))"
            f" FROM {every_change} GROUP BY ALL ORDER BY ALL",
            args,
        )
        per_table = [
            {"schema": s, "table": t, "insert": int(i), "update": int(u), "delete": int(d),
             "bytes": int(b), "last_change_at": _iso(last)}
            for s, t, i, u, d, b, last in cur.fetchall()
        ]  # fmt: skip
        cur.execute(
            "SELECT schema_name, table_name, table_state, coalesce(rows_copied, 0),"
            " coalesce(snapshot_done, false)"
            f" FROM {m}.tables WHERE integration_id = ? AND table_state IS NOT NULL"
            " AND table_state <> 'Deleted' ORDER BY schema_name, table_name",
            [integration_id],
        )
        snapshot = [
            {"schema": s, "table": t, "state": st, "rows_copied": int(n), "complete": bool(done)}
            for s, t, st, n, done in cur.fetchall()
        ]
        cur.execute(
            "SELECT epoch(max(e)), epoch(max(c)), sum(n) FROM ("
            " SELECT max(integration_end_time) AS e, max(last_commit_timestamp) AS c,"
            f" count(*) AS n FROM {m}.activity WHERE integration_id = $id"
            " UNION ALL SELECT max(last_end_time), max(last_commit_timestamp), sum(batches)"
            f" FROM {m}.activity_pruned WHERE integration_id = $id)",
            args,
        )
        last_end, last_commit, batches = cur.fetchone() or (None, None, 0)
        cur.execute(
            f"SELECT binlog_file FROM {m}.checkpoint WHERE integration_id = ?", [integration_id]
        )
        row = cur.fetchone()
    finally:
        cur.execute("ROLLBACK")
    return {
        "rows_applied": {"insert": int(ins), "update": int(upd), "delete": int(dele)},
        "data_transferred_bytes": int(nbytes),
        "snapshot_rows": sum(t["rows_copied"] for t in snapshot),
        "snapshot_tables": snapshot,
        "table_activity": per_table,
        "batches": int(batches or 0),
        "last_applied_at": _iso(last_end),
        "last_source_commit_at": _iso(last_commit),
        "checkpoint_file": None if row is None else str(row[0]),
    }


def empty_totals() -> dict[str, Any]:
    """What `totals` says of an integration with no target database yet."""
    return {
        "rows_applied": {"insert": 0, "update": 0, "delete": 0},
        "data_transferred_bytes": 0,
        "snapshot_rows": 0,
        "snapshot_tables": [],
        "table_activity": [],
        "batches": 0,
        "last_applied_at": None,
        "last_source_commit_at": None,
        "checkpoint_file": None,
    }


def series(
    cur: duckdb.DuckDBPyConnection,
    database: str | None,
    integration_id: str,
    minutes: int,
    step_s: int,
) -> dict[str, Any]:
    """Per-bucket lag, rows, bytes and table counts over the last `minutes`, oldest bucket
    first; `t` is the bucket's start in seconds since the epoch (buckets are aligned to
    multiples of `step_s`).

    Lag of a bucket: the largest (warehouse commit - source commit) of the change batches applied
    in it; None when none was (nothing changed at the source). Source commit times have
    one-second resolution (binlog timestamps), so lag can read up to a second high.
    `tables_replicated` / `tables_failed`: tables in state Synced / Failed at the bucket's end.
    """
    now = int(time.time())
    first = (now - minutes * 60) // step_s * step_s
    points: dict[int, dict[str, Any]] = {
        b: {"t": b, "lag_seconds": None, "insert": 0, "update": 0, "delete": 0, "bytes": 0, "batches": 0,
            "tables_replicated": 0, "tables_failed": 0}
        for b in range(first, now + 1, step_s)
    }  # fmt: skip
    if database is not None:
        m = _meta(database)
        bucket = "(floor(epoch({col}) / $step) * $step)::BIGINT"
        args = {"step": step_s, "since": first, "id": integration_id}
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                f"SELECT {bucket.format(col='integration_end_time')} AS b,"
                " max(epoch(integration_end_time) - epoch(last_commit_timestamp)), count(*)"
                f" FROM {m}.activity WHERE integration_id = $id"
                " AND integration_end_time >= to_timestamp($since) AND checkpoint_type = 'cdc'"
                " GROUP BY b",
                args,
            )
            for b, lag, n in cur.fetchall():
                if b in points:
                    p = points[b]
                    p["lag_seconds"] = None if lag is None else round(max(0.0, float(lag)), 3)
                    p["batches"] = int(n)
            cur.execute(
                f"SELECT {bucket.format(col='record_time')} AS b, sum(inserted_rows),"
                " sum(updated_rows), sum(deleted_rows), sum(bytes_ingested)"
                f" FROM {m}.table_activity WHERE integration_id = $id"
                " AND record_time >= to_timestamp($since) GROUP BY b",
                args,
            )
            for b, ins, upd, dele, nbytes in cur.fetchall():
                if b in points:
                    points[b].update(insert=int(ins), update=int(upd), delete=int(dele))
                    points[b]["bytes"] = int(nbytes)
            _table_counts(cur, m, integration_id, first, step_s, points)
        finally:
            cur.execute("ROLLBACK")
    return {
        "minutes": minutes,
        "step_seconds": step_s,
        "now": now,
        "points": list(points.values()),
    }


def _table_counts(
    cur: duckdb.DuckDBPyConnection,
    m: str,
    integration_id: str,
    first: int,
    step_s: int,
    points: dict[int, dict[str, Any]],
) -> None:
    """Tables Synced and Failed at the end of each bucket, worked backwards from the current
    states (`_zeroetl.tables`) by undoing the state changes recorded after it: the newest
    bucket agrees with the live counts, and history older than the window is never read."""
    cur.execute(
        "SELECT count(*) FILTER (WHERE table_state = 'Synced'),"
        " count(*) FILTER (WHERE table_state = 'Failed')"
        f" FROM {m}.tables WHERE integration_id = ? AND table_state IS NOT NULL",
        [integration_id],
    )
    synced, failed = cur.fetchone() or (0, 0)
    # Per bucket, the net change of each count: +1 entering the state, -1 leaving it. A
    # change's previous state is the table's change before it (LAG over its history).
    cur.execute(
        "SELECT (floor(t / $step) * $step)::BIGINT AS b,"
        " sum((new_state = 'Synced')::INT - coalesce((prev = 'Synced')::INT, 0)),"
        " sum((new_state = 'Failed')::INT - coalesce((prev = 'Failed')::INT, 0))"
        " FROM (SELECT epoch(record_time) AS t, new_state, lag(new_state) OVER"
        "   (PARTITION BY schema_name, table_name ORDER BY record_time, rowid) AS prev"
        f"   FROM {m}.state_changes WHERE integration_id = $id)"
        " WHERE t >= $since GROUP BY b",
        {"step": step_s, "since": first, "id": integration_id},
    )
    deltas = {int(b): (int(ds), int(df)) for b, ds, df in cur.fetchall()}
    # Changes stamped after the last bucket (clock steps) count as "later" for every bucket.
    last = max(points) if points else first
    later_s = sum(ds for b, (ds, _) in deltas.items() if b > last)
    later_f = sum(df for b, (_, df) in deltas.items() if b > last)
    for b in sorted(points, reverse=True):
        points[b]["tables_replicated"] = max(0, int(synced) - later_s)
        points[b]["tables_failed"] = max(0, int(failed) - later_f)
        ds, df = deltas.get(b, (0, 0))
        later_s += ds
        later_f += df


def default_step(minutes: int) -> int:
    """About 120 buckets over the window, never finer than 5 s, never more than MAX_POINTS."""
    step = max(5, round(minutes * 60 / 120))
    return max(step, -(-minutes * 60 // MAX_POINTS))


def _iso(epoch_s: float | None) -> str | None:
    """An ISO 8601 UTC time from seconds since the epoch (DuckDB hands TIMESTAMPTZ to Python
    only with pytz installed; epochs need nothing)."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(float(epoch_s), UTC).isoformat()
