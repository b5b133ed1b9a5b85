"""Keeping a target database bounded: the WAL and the monitoring history.

WAL. DuckDB appends every commit to `<file>.wal` and folds it into the database file at a
checkpoint. Its own trigger (`checkpoint_threshold`) fires inside a COMMIT; at the default
16 MiB an update-heavy load checkpoints on nearly every batch, and far above it the WAL (and the
memory that goes with it, and the replay at the next start) grows for as long as the load lasts.
So the writer checkpoints explicitly, between two transactions: once the WAL passes
`wal_limit_bytes` after a commit, and when the stream is idle with a WAL worth folding. DuckDB's
own threshold stays at `DUCKDB_THRESHOLD_FACTOR` times the limit, a safety net that only a
single transaction larger than that can reach. Measured on 2 cores (a 1M-row table, random
updates): a CHECKPOINT costs 0.3-0.7 s whatever the limit between 8 and 128 MiB (it rewrites
the row groups touched), so a larger limit is cheaper overall; concurrent SQL readers do not
block it (DuckDB checkpoints beside them, 1-2.5 s with 4 busy readers) but keep it from
reclaiming deleted rows until a checkpoint finds no reader of that database: with analysts
querying back to back, the file grows by about what the WAL held at every checkpoint. So when
the file has grown by more than half a WAL's worth since the last checkpoint that ran without
readers, and at most once every `window_every_s`, the writer asks the service for a moment
without readers (service/readgate.py) for that checkpoint.

Wide tables. A checkpoint rewrites every column of the row groups (122,880 rows) touched since
the last one, so a row group folded while it fills is read back and rewritten at the next fold.
64 MiB of WAL is ~700k rows of an 8-column table but 24k of a 500-column one (~6.5 bytes a
value), whose row groups were folded ~5 times each while filling (DuckDB alone, 500 columns,
CPU: a 74 MiB fold of 24k new rows 0.4 s, the next 74 MiB onto them 1.1 s, one 148 MiB fold of
all 48k 0.75 s; 250k rows in 8k-row commits: folds 17 s at 74 MiB, 12 s at 148). So once a
change batch wrote a table of `wide_columns` or more since the last fold, the WAL may grow to
`STRETCH` times the limit. The rows not yet folded stay pinned in memory (~1.4x their WAL: a
99 MiB WAL failed to commit under 128 MiB), so meanwhile the writer's memory limit is raised by
twice the extra WAL allowed (memory.fit); a fold puts both back. On a connection of its own
only: the hub's memory is the service's. Stretching only after a slow fold was tried: that
fold has split the row group already, and it measured no better (bench/README.md).

History. `_zeroetl.activity` gets a row per commit and `_zeroetl.table_activity` a row per
table per commit; `state_changes` a row per table state change. `prune_history` deletes rows
older than `history_max_age_s` and, per table (per integration for `activity`), all but the
newest `history_max_rows`. Before deleting, the sums of what goes are added to
`table_activity_pruned` / `activity_pruned`, so the counters the metrics show never go back.
It runs on the writer's thread between transactions at most every `prune_every_s`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger(__name__)

MIB = 1 << 20
DEFAULT_WAL_LIMIT = 64 * MIB
DUCKDB_THRESHOLD_FACTOR = 4
STRETCH = 2  # with a wide table written, the WAL may grow to this many times the limit
DEFAULT_HISTORY_DAYS = 7.0
DEFAULT_HISTORY_ROWS = 1_000_000


@dataclass(frozen=True)
class Upkeep:
    wal_limit_bytes: int = DEFAULT_WAL_LIMIT
    history_max_age_s: float = DEFAULT_HISTORY_DAYS * 86400
    history_max_rows: int = DEFAULT_HISTORY_ROWS  # per table (per integration for activity)
    prune_every_s: float = 300.0
    window_every_s: float = 60.0  # at most one checkpoint that holds readers back per minute
    wide_columns: int = 128  # a table this wide written lets the WAL grow to STRETCH x

    def __post_init__(self) -> None:
        if self.wal_limit_bytes < MIB:
            raise ValueError("the WAL limit must be at least 1 MiB")
        if self.wide_columns < 1:
            raise ValueError("a wide table has at least one column")
        if self.history_max_age_s <= 0 or self.history_max_rows < 1:
            raise ValueError("the monitoring history must keep at least one row and one second")

    @property
    def duckdb_threshold(self) -> str:
        return f"{self.wal_limit_bytes * DUCKDB_THRESHOLD_FACTOR // MIB}MiB"

    @property
    def idle_min_bytes(self) -> int:
        """A WAL smaller than this is left alone when idle (replaying it costs nothing)."""
        return min(self.wal_limit_bytes // 8, 4 * MIB)


def wal_bytes(path: Path) -> int:
    try:
        return os.stat(f"{path}.wal").st_size
    except FileNotFoundError:
        return 0


@dataclass
class UpkeepStats:
    checkpoints: int = 0
    checkpoint_s_total: float = 0.0
    checkpoint_s_max: float = 0.0
    wal_max_bytes: int = 0  # the largest WAL seen after a commit
    pruned_rows: int = 0
    windows: int = 0  # checkpoints that held readers back
    windows_clear: int = 0  # ... and found none left in time
    stretches: int = 0  # times a wide table let the WAL grow past its limit (WalGuard.stretched)


class WalGuard:
    """Decides when to checkpoint; the destination runs the statement."""

    def __init__(self, path: Path, upkeep: Upkeep, stats: UpkeepStats) -> None:
        self.path = path
        self.upkeep = upkeep
        self.stats = stats
        self.clean_used = 0  # bytes in use after the last checkpoint that had no reader
        self.next_window_at = 0.0
        self.stretched = False  # a wide table written since the last fold: STRETCH x the limit

    @property
    def limit(self) -> int:
        """The WAL size that makes a checkpoint due under load."""
        return self.upkeep.wal_limit_bytes * (STRETCH if self.stretched else 1)

    @property
    def extra_bytes(self) -> int:
        """What the WAL may hold past its configured limit now."""
        return self.limit - self.upkeep.wal_limit_bytes

    def wants_window(self, used: int) -> bool:
        """Whether this checkpoint should hold readers back: the file grew by more than half a
        WAL's worth since the last clean checkpoint (readers kept the others from reclaiming;
        each such checkpoint adds about that much)."""
        if not self.clean_used:
            self.clean_used = used  # first sight of the file
            return False
        grown = used > self.clean_used + self.upkeep.wal_limit_bytes // 2
        return grown and time.monotonic() >= self.next_window_at

    def windowed(self, used_after: int, clear: bool) -> None:
        self.stats.windows += 1
        self.next_window_at = time.monotonic() + self.upkeep.window_every_s
        if clear:
            self.stats.windows_clear += 1
            self.clean_used = used_after

    def due(self, *, idle: bool) -> int:
        """The WAL size when a checkpoint is due now, else 0."""
        size = wal_bytes(self.path)
        self.stats.wal_max_bytes = max(self.stats.wal_max_bytes, size)
        floor = self.upkeep.idle_min_bytes if idle else self.limit
        return size if size >= floor else 0

    def wrote(self, columns: int) -> bool:
        """A change batch wrote a table of `columns` columns; returns whether the WAL may now
        grow further (it was not stretched yet)."""
        if self.stretched or columns < self.upkeep.wide_columns:
            return False
        self.stretched = True
        self.stats.stretches += 1
        return True

    def record(self, seconds: float, size: int) -> bool:
        """A fold ran; returns whether the WAL allowed before the next one went back."""
        self.stats.checkpoints += 1
        self.stats.checkpoint_s_total += seconds
        self.stats.checkpoint_s_max = max(self.stats.checkpoint_s_max, seconds)
        log.debug("checkpoint of %s: %.1f MiB of WAL in %.2fs", self.path, size / MIB, seconds)
        was, self.stretched = self.stretched, False
        return was


class Pruner:
    def __init__(self, upkeep: Upkeep) -> None:
        self.upkeep = upkeep
        # The first prune comes at the first idle moment, or a little after the start under
        # continuous load (a service restarted often still prunes); never while opening.
        self.next_at = time.monotonic() + upkeep.prune_every_s / 10
        self.pruned = False

    def due(self, *, idle: bool) -> bool:
        return (idle and not self.pruned) or time.monotonic() >= self.next_at

    def done(self) -> None:
        self.pruned = True
        self.next_at = time.monotonic() + self.upkeep.prune_every_s


# Per history table: its time column, the columns that identify "a table" for the row cap
# (none: the cap is per integration), and how pruned rows are rolled up.
_HISTORY: dict[str, tuple[str, tuple[str, ...]]] = {
    "table_activity": ("record_time", ("schema_name", "table_name")),
    "activity": ("integration_end_time", ()),
    "state_changes": ("record_time", ("schema_name", "table_name")),
}


def prune_history(
    con: duckdb.DuckDBPyConnection, meta: str, integration_id: str, upkeep: Upkeep
) -> int:
    """Delete history past the age and row limits (inside the caller's transaction); returns
    the number of rows deleted."""
    cutoff = datetime.now(UTC) - timedelta(seconds=upkeep.history_max_age_s)
    deleted = 0
    for table, (time_col, per) in _HISTORY.items():
        full = f"{meta}.{table}"
        groups: list[tuple[Any, ...]] = [()]
        if per:
            groups = con.execute(
                f"SELECT {', '.join(per)} FROM {full} WHERE integration_id = ? "
                f"GROUP BY ALL HAVING count(*) > ?",
                [integration_id, upkeep.history_max_rows],
            ).fetchall()
        else:
            n = con.execute(
                f"SELECT count(*) FROM {full} WHERE integration_id = ?", [integration_id]
            ).fetchone()
            groups = [()] if n and n[0] > upkeep.history_max_rows else []
        # Rows older than the age limit, every table at once ...
        deleted += _drop(con, meta, table, "integration_id = ? AND " + time_col + " < ?",
                         [integration_id, cutoff])  # fmt: skip
        # ... then, per table over the row cap, everything older than its newest N rows.
        for key in groups:
            where = " AND ".join(["integration_id = ?", *(f"{c} = ?" for c in per)])
            row = con.execute(
                f"SELECT {time_col} FROM {full} WHERE {where} "
                f"ORDER BY {time_col} DESC LIMIT 1 OFFSET ?",
                [integration_id, *key, upkeep.history_max_rows - 1],
            ).fetchone()
            if row is not None:
                args = [integration_id, *key, row[0]]
                deleted += _drop(con, meta, table, f"{where} AND {time_col} < ?", args)
    if deleted:
        _compact_rollups(con, meta, integration_id)
    return deleted


def _drop(
    con: duckdb.DuckDBPyConnection, meta: str, table: str, where: str, args: list[Any]
) -> int:
    full = f"{meta}.{table}"
    if table == "table_activity":
        con.execute(
            f"INSERT INTO {meta}.table_activity_pruned SELECT integration_id, schema_name, "
            "table_name, sum(inserted_rows), sum(deleted_rows), sum(updated_rows), "
            f"sum(bytes_ingested), count(*), max(record_time) FROM {full} WHERE {where} "
            "GROUP BY ALL",
            args,
        )
    elif table == "activity":
        con.execute(
            f"INSERT INTO {meta}.activity_pruned SELECT integration_id, count(*), "
            f"max(integration_end_time), max(last_commit_timestamp) FROM {full} WHERE {where} "
            "GROUP BY ALL",
            args,
        )
    row = con.execute(f"DELETE FROM {full} WHERE {where}", args).fetchone()
    return int(row[0]) if row else 0


def _compact_rollups(con: duckdb.DuckDBPyConnection, meta: str, integration_id: str) -> None:
    """One rollup row per table (and one per integration): prunes add rows, this sums them."""
    for table, sums in (
        (
            "table_activity_pruned",
            "schema_name, table_name, sum(inserted_rows), sum(deleted_rows), sum(updated_rows), "
            "sum(bytes_ingested), sum(pruned_rows), max(last_record_time)",
        ),
        (
            "activity_pruned",
            "sum(batches), max(last_end_time), max(last_commit_timestamp)",
        ),
    ):
        full = f"{meta}.{table}"
        rows = con.execute(
            f"SELECT ?, {sums} FROM {full} WHERE integration_id = ? GROUP BY ALL",
            [integration_id, integration_id],
        ).fetchall()
        con.execute(f"DELETE FROM {full} WHERE integration_id = ?", [integration_id])
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {full} VALUES ({marks})", [list(r) for r in rows])
