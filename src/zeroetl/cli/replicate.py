"""`zeroetl replicate`: one integration in the foreground, without the service."""

from __future__ import annotations

import logging
import signal
import sys
import time
from datetime import datetime
from types import FrameType
from typing import Any

import click

from zeroetl.catalog.perms import secure_warehouse
from zeroetl.cli.options import require_warehouse, with_settings
from zeroetl.cli.progress import SnapshotBars
from zeroetl.config import Settings
from zeroetl.destinations import base as destinations
from zeroetl.destinations.duckdb.memory import Memory
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import Position, TableId
from zeroetl.service.standalone import open_destination_url, open_integration
from zeroetl.service.worker import upkeep_of
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

log = logging.getLogger("zeroetl.replicate")


# The target database's bounds, shared by `replicate` and `serve`.
BOUNDS_KEYS = (
    "engine.wal_limit_mb",
    "monitoring.history_days",
    "monitoring.history_rows",
    "monitoring.history_prune_s",
)


def engine_settings(settings: Settings, **run: Any) -> EngineSettings:
    """The engine's settings from the configuration; `run` adds the per-run ones."""
    e, m = settings.engine, settings.monitoring
    return EngineSettings(
        batch_rows=e.batch_rows,
        batch_ms=e.batch_ms,
        chunk_rows=e.chunk_rows,
        snapshot_readers=e.snapshot_readers,
        snapshot_processes=e.snapshot_processes,
        prereq_check_s=e.prereq_check_s,
        wal_limit_mb=e.wal_limit_mb,
        history_days=m.history_days,
        history_rows=m.history_rows,
        history_prune_s=m.history_prune_s,
        **run,
    )


class LogProgress(Progress):
    """Plain log lines, for pipes and files: at most one streaming line every few seconds."""

    def __init__(self, out=sys.stderr, every_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
        self.out = out
        self.every_s = every_s
        self._last = 0.0
        self._changes = 0
        self._copied: dict[TableId, int] = {}

    def _say(self, text: str) -> None:
        print(f"{datetime.now():%H:%M:%S} {text}", file=self.out, flush=True)

    def snapshot_chunk(self, table: TableId, rows: int) -> None:
        self._copied[table] = self._copied.get(table, 0) + rows
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._say(f"snapshot {table}: {self._copied[table]:,} rows")

    def snapshot_table_done(self, table: TableId, total_rows: int) -> None:
        self._say(f"snapshot {table}: done, {total_rows:,} rows")

    def committed(
        self, position: Position, changes: int, lag_ms: float | None, source_time: datetime | None
    ) -> None:
        self._changes += changes
        now = time.monotonic()
        if changes and now - self._last >= self.every_s:
            self._last = now
            lag = f"{lag_ms / 1000:.1f}s" if lag_ms is not None else "-"
            self._say(f"streaming at {position}: {self._changes:,} changes applied, lag {lag}")

    def table_state(self, table: TableId, state: str, reason: str) -> None:
        if state in ("Failed", "ResyncRequired", "Deleted") or (state == "Synced" and reason):
            self._say(f"table {table}: {state}{': ' + reason if reason else ''}")

    def message(self, text: str) -> None:
        self._say(text)


class RichProgress(LogProgress):
    """A live display on terminals: rows copied per table, then position, changes and lag."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.console = Console(stderr=True)
        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.bar.start()
        self.snapshot = SnapshotBars(self.bar)
        self._stream_task = self.bar.add_task(
            "streaming", total=None, info="waiting", visible=False
        )

    def _say(self, text: str) -> None:
        self.console.log(text)

    def snapshot_started(self, tables: dict[TableId, int]) -> None:
        self.snapshot.started({str(t): n for t, n in tables.items()})

    def snapshot_chunk(self, table: TableId, rows: int) -> None:
        self.snapshot.chunk(str(table), rows)

    def snapshot_table_done(self, table: TableId, total_rows: int) -> None:
        self.snapshot.done(str(table), total_rows)

    def committed(
        self, position: Position, changes: int, lag_ms: float | None, source_time: datetime | None
    ) -> None:
        self._changes += changes
        lag = f"{lag_ms / 1000:.1f}s" if lag_ms is not None else "-"
        self.bar.update(
            self._stream_task,
            visible=True,
            info=f"{position}  {self._changes:,} changes  lag {lag}",
        )

    def close(self) -> None:
        self.bar.stop()


@click.command()
@click.option("--source", "source_url", required=True, help="mysql://user[:password]@host[:port]")
@click.option(
    "--destination",
    "destination_url",
    default=None,
    help="chdb:///dir or clickhouse://user@host:8123/ (default: the warehouse's DuckDB file)",
)
@click.option("--database", required=True, help="Target database name.")
@click.option("--data-filter", default=None, help='e.g. "exclude: *.*, include: shop.*"')
@click.option(
    "--until-caught-up",
    is_flag=True,
    help="Exit 0 once the source position read at start-up is applied.",
)
@click.option(
    "--server-id",
    type=int,
    default=0,
    help="Replica server id (default: derived from the integration id).",
)
@with_settings(
    "engine.batch_rows", "engine.batch_ms", "engine.chunk_rows", "engine.snapshot_readers",
    "engine.snapshot_processes", "engine.prereq_check_s", "engine.memory_limit",
    "engine.checkpoint_memory_limit",
    *BOUNDS_KEYS,
)  # fmt: skip
def replicate(
    settings: Settings,
    source_url: str,
    destination_url: str | None,
    database: str,
    data_filter: str | None,
    until_caught_up: bool,
    server_id: int,
) -> None:
    """Replicate one source into <warehouse>/databases/<database>.duckdb: snapshot, then the
    binlog. `zeroetl serve` on the same warehouse later serves that database (read-only)."""
    params = SourceParams.from_url(source_url, local=True)  # the user's own process
    flt = DataFilter.parse(data_filter)
    warehouse = secure_warehouse(require_warehouse(settings))  # 0700; files 0600
    run_settings = engine_settings(settings, server_id=server_id, until_caught_up=until_caught_up)
    dest: destinations.Destination
    if destination_url is None or destination_url.lower().startswith("duckdb://"):
        memory = Memory(settings.engine.memory_limit, settings.engine.checkpoint_memory_limit)
        dest, integration_id = open_integration(
            warehouse, database, upkeep_of(run_settings), memory
        )
        where = str(dest.path)  # type: ignore[attr-defined]
    else:
        dest, integration_id = open_destination_url(destination_url)
        where = repr(dest)
    progress: LogProgress = RichProgress() if sys.stderr.isatty() else LogProgress()
    rep = Replicator(
        MySqlSource(params),
        dest,
        integration_id=integration_id,
        data_filter=flt,
        settings=run_settings,
        progress=progress,
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        rep.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    progress.message(f"integration {integration_id}: {params.redacted_url()} -> {where}")
    try:
        rep.run()
    finally:
        if isinstance(progress, RichProgress):
            progress.close()
        dest.close()
    if until_caught_up and rep.committed is not None:
        progress.message(f"caught up at {rep.committed}")
