"""`zeroetl demo`: the whole walkthrough on one machine.

Sandbox MariaDB (binlog ROW/FULL/FULL) -> TICKIT loaded -> integration snapshots and streams into
DuckDB -> sample analytics printed from the warehouse -> live ticket traffic keeps flowing and
replicating until Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click
import duckdb

from zeroetl.cli.replicate import LogProgress, open_integration
from zeroetl.cli.sandbox import DEFAULT_DIR, DEFAULT_PORT, root_params, sandbox_up
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.sources.mysql.connection import SourceParams


def _fmt(v: object) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def print_sample_queries(
    path: Path, con: duckdb.DuckDBPyConnection | None = None, limit: int = 5
) -> None:
    from zeroetl.sandbox.tickit import SAMPLE_QUERIES

    own = con is None
    con = con or duckdb.connect(str(path), read_only=True)
    try:
        # The queries name tables unqualified, as an analyst connected to the database would.
        catalog = path.stem.replace('"', '""')
        con.execute(f'USE "{catalog}".demodb')
        for title, sql in SAMPLE_QUERIES:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = cur.fetchmany(limit)
            click.echo(f"\n-- {title}")
            widths = [
                max(len(c), *(len(_fmt(r[i])) for r in rows)) if rows else len(c)
                for i, c in enumerate(cols)
            ]
            click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
            for r in rows:
                click.echo("  ".join(_fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    finally:
        if own:
            con.close()


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR.parent,
    show_default=True,
)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--scale", type=float, default=1.0, show_default=True, help="TICKIT size factor.")
@click.option(
    "--rate", type=float, default=20.0, show_default=True, help="Live traffic, transactions/s."
)
@click.option("--once", is_flag=True, help="Stop after printing the analytics (no live traffic).")
def demo(directory: Path, port: int, scale: float, rate: float, once: bool) -> None:
    """Sandbox + TICKIT + integration into DuckDB + sample analytics, then live traffic."""
    from zeroetl.sandbox import tickit as tk

    sandbox_dir, warehouse = directory / "sandbox", directory / "warehouse"
    click.echo(f"1/4 sandbox MariaDB on 127.0.0.1:{port} (data in {sandbox_dir})")
    _server, url = sandbox_up(sandbox_dir, port)
    root = root_params(port)
    conn = root.connect(local_infile=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='demodb'"
            )
            have = cur.fetchone()[0]
        if have < 7:
            click.echo(f"2/4 loading TICKIT (scale {scale}) into demodb")
            t0 = time.monotonic()
            counts = tk.load(conn, database="demodb", scale=scale, seed=0)
            click.echo(f"    {sum(counts.values()):,} rows in {time.monotonic() - t0:.1f}s")
        else:
            click.echo("2/4 TICKIT already loaded in demodb")
    finally:
        conn.close()

    click.echo(f"3/4 integration {url.split('?')[0]} -> {warehouse / 'demo.duckdb'}")
    warehouse.mkdir(parents=True, exist_ok=True)
    dest, integration_id = open_integration(warehouse, "demo")
    params = SourceParams.from_url(url)
    rep = Replicator(
        params,
        dest,
        integration_id=integration_id,
        data_filter=DataFilter.parse("exclude: *.*, include: demodb.*"),
        settings=EngineSettings(until_caught_up=True),
        progress=LogProgress(every_s=2.0),
    )
    t0 = time.monotonic()
    rep.run()
    click.echo(f"    caught up at {rep.committed} in {time.monotonic() - t0:.1f}s")

    click.echo("4/4 sample analytics, from the warehouse (DuckDB):")
    print_sample_queries(dest.path, dest.reader())
    if once:
        dest.close()
        return

    click.echo(f"\nlive: {rate:g} ticket transactions/s flowing source -> warehouse; Ctrl-C stops")
    stop = threading.Event()
    writer = root.connect()

    def _traffic() -> None:
        tk.traffic(
            writer,
            database="demodb",
            rate_per_s=rate,
            seconds=None,
            seed=int(time.time()),
            stop_event=stop,
        )

    rep = Replicator(
        params,
        dest,
        integration_id=integration_id,
        data_filter=DataFilter.parse("exclude: *.*, include: demodb.*"),
        settings=EngineSettings(),
        progress=LogProgress(every_s=5.0),
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        rep.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    t = threading.Thread(target=_traffic, name="tickit-traffic", daemon=True)
    t.start()
    try:
        rep.run()
    finally:
        stop.set()
        t.join(timeout=5)
        writer.close()
        dest.close()
    click.echo("stopped; the sandbox keeps running (zeroetl sandbox down stops it)")
