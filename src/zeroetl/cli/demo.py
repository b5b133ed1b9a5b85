"""`zeroetl demo`: the reference's walkthrough on one machine, in one command.

Sandbox MariaDB (binlog ROW/FULL/FULL) -> TICKIT loaded -> the service (HTTP API + console +
SQL endpoint) -> integration `zero-etl-demo` and its target database `aurora_zeroetl` ->
sample analytics printed from the warehouse -> live ticket traffic keeps replicating until
Ctrl-C. A re-run reuses the sandbox, the data and the integration.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from zeroetl.cli.sandbox import DEFAULT_DIR, DEFAULT_PORT, root_params, sandbox_up
from zeroetl.errors import ConfigError
from zeroetl.sources.mysql.connection import client_side

INTEGRATION = "zero-etl-demo"
TARGET_DB = "aurora_zeroetl"


def _fmt(v: object) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def print_rows(title: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
    click.echo(f"\n-- {title}")
    widths = [
        max(len(c), *(len(_fmt(r[i])) for r in rows)) if rows else len(c)
        for i, c in enumerate(cols)
    ]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in rows:
        click.echo("  ".join(_fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)))


def print_sample_queries(session: Any, limit: int = 5) -> None:
    """Run the TICKIT sample queries through the SQL layer (the endpoint's dialect and rules)."""
    from zeroetl.sandbox.tickit import SAMPLE_QUERIES

    session.execute("SET search_path TO demodb")
    for title, sql in SAMPLE_QUERIES:
        result = session.execute(sql)
        rows: list[tuple[Any, ...]] = []
        for batch in result.batches:
            rows.extend(tuple(r.values()) for r in batch.to_pylist())
            if len(rows) >= limit:
                break
        print_rows(title, [c.name for c in result.columns or []], rows[:limit])


def _ensure_integration(service: Any, url: str) -> str:
    existing, _ = service.list_integrations(limit=1000)
    for it in existing:
        if it["name"] == INTEGRATION:
            return str(it["id"])
    # The demo is the user's own process: it reads the sandbox's password file and hands the
    # password over, as the CLI does (the service itself reads no file for a caller).
    source, password, _ = client_side(url)
    created = service.create_integration(
        name=INTEGRATION,
        source=source,
        source_password=password,
        data_filter="include: demodb.*",
        description="TICKIT sample data from the sandbox MariaDB",
        target_database=TARGET_DB,
    )
    return str(created["id"])


def _wait_active(service: Any, iid: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        it = service.get_integration(iid)
        tables = service.integration_tables(iid)
        synced = sum(1 for t in tables if t["state"] == "Synced")
        line = f"    state {it['state']}, {synced}/{len(tables)} tables synced"
        if line != last:
            click.echo(line)
            last = line
        if it["state"] == "active" and tables and synced == len(tables):
            return it
        if it["state"] == "failed":
            raise ConfigError(f"integration {INTEGRATION} failed: {it.get('error')}")
        time.sleep(0.5)
    raise ConfigError(f"integration {INTEGRATION} did not become active in {timeout:.0f}s")


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR.parent,
    show_default=True,
    help="Sandbox data and warehouse.",
)
@click.option(
    "--port", type=int, default=DEFAULT_PORT, show_default=True, help="Sandbox MariaDB port."
)
@click.option("--api-port", type=int, default=8155, show_default=True)
@click.option("--sql-port", type=int, default=5439, show_default=True)
@click.option("--scale", type=float, default=1.0, show_default=True, help="TICKIT size factor.")
@click.option(
    "--rate", type=float, default=20.0, show_default=True, help="Live traffic, transactions/s."
)
@click.option("--once", is_flag=True, help="Stop after printing the analytics (no live traffic).")
def demo(directory: Path, port: int, api_port: int, sql_port: int, scale: float, rate: float,
         once: bool) -> None:  # fmt: skip
    """Sandbox + TICKIT + service + integration + sample analytics, then live traffic."""
    import uvicorn

    from zeroetl.sandbox import tickit as tk
    from zeroetl.server.api.app import create_app
    from zeroetl.server.service import Service, ServiceConfig
    from zeroetl.server.sql.session import SqlSession

    sandbox_dir, warehouse = directory / "sandbox", directory / "warehouse"
    click.echo(f"1/5 sandbox MariaDB on 127.0.0.1:{port} (data in {sandbox_dir})")
    _server, url = sandbox_up(sandbox_dir, port)
    root = root_params(port)
    conn = root.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='demodb'"
            )
            have = cur.fetchone()[0]
        if have < 7:
            click.echo(f"2/5 loading TICKIT (scale {scale:g}) into demodb")
            t0 = time.monotonic()
            counts = tk.load(conn, database="demodb", scale=scale, seed=0)
            click.echo(f"    {sum(counts.values()):,} rows in {time.monotonic() - t0:.1f}s")
        else:
            click.echo("2/5 TICKIT already loaded in demodb")
    finally:
        conn.close()

    click.echo(f"3/5 service on {warehouse}: API and console :{api_port}, SQL endpoint :{sql_port}")
    service = Service(ServiceConfig(warehouse=warehouse, api_port=api_port, sql_port=sql_port))
    api: uvicorn.Server | None = None
    try:
        service.start()
        api = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=api_port,
                                            log_config=None, log_level="warning"))  # fmt: skip
        threading.Thread(target=api.run, name="http-api", daemon=True).start()
        t0 = time.monotonic()
        while not api.started:
            if time.monotonic() - t0 > 15:
                raise ConfigError(f"the HTTP API could not listen on 127.0.0.1:{api_port}",
                                  hint="another program uses the port; pass --api-port")  # fmt: skip
            time.sleep(0.05)

        click.echo(f"4/5 integration {INTEGRATION} -> target database {TARGET_DB}")
        iid = _ensure_integration(service, url)
        t0 = time.monotonic()
        _wait_active(service, iid)
        click.echo(f"    active after {time.monotonic() - t0:.1f}s")

        click.echo("5/5 sample analytics, read from the warehouse:")
        session = SqlSession(service.sql.backend if service.sql else None,  # type: ignore[arg-type]
                             database=TARGET_DB, user="admin")  # fmt: skip
        try:
            print_sample_queries(session)
        finally:
            session.close()
        _print_addresses(service, api_port, sql_port)
        if once:
            return
        _live(service, iid, root, rate)
    finally:
        if api is not None:
            api.should_exit = True
        service.shutdown()


def _print_addresses(service: Any, api_port: int, sql_port: int) -> None:
    token = service.api_token
    click.echo(
        f"\nconsole:  http://127.0.0.1:{api_port}/#token={token}\n"
        f'SQL:      psql "host=127.0.0.1 port={sql_port} user=admin dbname={TARGET_DB}"'
        f"  (password in {service.warehouse / 'sql.password'})\n"
        f"API:      curl -H 'Authorization: Bearer <{service.warehouse / 'api.token'}>' "
        f"http://127.0.0.1:{api_port}/v1/integrations"
    )


def _live(service: Any, iid: str, root: Any, rate: float) -> None:
    from zeroetl.sandbox import tickit as tk

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    writer = root.connect()
    t = threading.Thread(
        target=tk.traffic, name="tickit-traffic", daemon=True,
        kwargs=dict(conn=writer, database="demodb", rate_per_s=rate, seconds=None,
                    seed=int(time.time()), stop_event=stop),
    )  # fmt: skip
    click.echo(f"\nlive: {rate:g} ticket transactions/s flowing source -> warehouse; Ctrl-C stops")
    t.start()
    try:
        while not stop.wait(5):
            it = service.get_integration(iid)
            lag = it.get("lag_ms")
            lag_s = f"{lag / 1000:.2f}s" if lag is not None else "-"
            click.echo(
                f"{time.strftime('%H:%M:%S')} {it['state']}, checkpoint {it['checkpoint']}, lag {lag_s}"
            )
    finally:
        stop.set()
        t.join(timeout=10)
        writer.close()
    click.echo("stopped; the sandbox keeps running (zeroetl sandbox down stops it)")
