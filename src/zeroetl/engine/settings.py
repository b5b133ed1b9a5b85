"""Engine settings and the progress hooks an interface (CLI, service) plugs in."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from zeroetl.model import Position, TableId


@dataclass(frozen=True)
class EngineSettings:
    batch_rows: int = 50_000  # commit once this many row changes are pending ...
    batch_ms: int = 200  # ... or once the oldest pending change is this old
    # Commit at a source transaction boundary as soon as the stream has nothing more queued
    # (an idle stream commits at once; under load, batches grow up to batch_rows / batch_ms).
    # False: wait for batch_rows / batch_ms always (the fixed batching of before; benchmarks).
    adaptive_batching: bool = True
    chunk_rows: int = 50_000  # snapshot chunk size (rows per source read)
    # Rows per warehouse commit of a snapshot: four DuckDB row groups (122,880 rows each), which
    # DuckDB writes straight into the database file (engine/copier.py, `copy_tables`).
    snapshot_commit_rows: int = 4 * 122_880
    # Source connections a snapshot reads over at once (MariaDB; MySQL reads one at a time).
    # 1 by default: on 2 cores more readers measured slower (0.33-0.38x the CLI read against
    # 0.44x with one; bench/README.md), the writer and the GIL being the bottleneck.
    snapshot_readers: int = 1
    # Read and convert snapshot chunks in `snapshot_readers` child processes (MariaDB), so the
    # engine's process only writes. Off by default: on the shared 2 cores it halved the engine's
    # CPU but not the wall time (the reader's CPU moves, it does not vanish; bench/README.md).
    snapshot_processes: bool = False
    heartbeat_s: float = 0.5  # source heartbeat while idle: bounds idle detection and lag updates
    server_id: int = 0  # replica id announced to the source; 0 = derived from the integration id
    until_caught_up: bool = False  # stop once the position read at start-up is applied
    reconnect_max_s: float = 30.0  # cap of the exponential retry backoff (source and warehouse)
    source_read_timeout_s: float = 120.0  # a source query silent this long: connection lost
    # Bounds of the target database (destinations/duckdb/upkeep.py):
    wal_limit_mb: float = 64.0  # checkpoint between batches once the WAL is this large
    history_days: float = 7.0  # monitoring history (activity, table activity, state changes) ...
    history_rows: int = 1_000_000  # ... kept this long, and at most this many rows per table
    history_prune_s: float = 300.0  # how often the history is pruned (between batches)
    # Re-check the source's prerequisites this often (0: never); a fault triggers one at once.
    prereq_check_s: float = 60.0
    # A table hit by a binlog fault is re-copied once no fault was seen for this long (and the
    # setting that caused it passes the re-check): the source writes rows again.
    fault_quiet_s: float = 30.0

    def replica_server_id(self, integration_id: str) -> int:
        if self.server_id:
            return self.server_id
        # Unique per integration and far from the small ids people give real servers.
        return (1 << 30) | (zlib.crc32(integration_id.encode()) & 0x3FFFFFFF)


class Progress:
    """Callbacks the engine makes; the default does nothing. All run on the engine's thread."""

    def snapshot_started(self, tables: dict[TableId, int]) -> None:
        """Tables about to be copied, with the source's row estimate for each."""

    def snapshot_chunk(self, table: TableId, rows: int) -> None:
        """`rows` more rows of `table` committed to the warehouse."""

    def snapshot_table_done(self, table: TableId, total_rows: int) -> None:
        pass

    def committed(
        self, position: Position, changes: int, lag_ms: float | None, source_time: datetime | None
    ) -> None:
        """A warehouse transaction with `changes` row changes committed up to `position`."""

    def table_state(self, table: TableId, state: str, reason: str) -> None:
        pass

    def message(self, text: str) -> None:
        pass
