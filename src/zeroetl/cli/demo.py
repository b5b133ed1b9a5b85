"""`zeroetl demo`: the reference's walkthrough on one machine, in one command.

Sandbox MariaDB (binlog ROW/FULL/FULL) -> TICKIT loaded -> the service (HTTP API + console +
SQL endpoint) -> integration `zero-etl-demo` and its target database `aurora_zeroetl` ->
sample analytics printed from the warehouse -> live ticket traffic keeps replicating until
Ctrl-C. A re-run reuses the sandbox, the data and the integration. `--destination chdb`
replicates into embedded ClickHouse (DIR/clickhouse) instead of the warehouse's DuckDB; the
SQL endpoint runs the same analytics there (server/sql/clickhouse_query.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import shlex
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from zeroetl.cli import ports
from zeroetl.cli.output import SHOW_ROWS, print_rows
from zeroetl.errors import ConfigError
from zeroetl.sandbox import local
from zeroetl.sources.mysql.connection import SourceParams, client_side

INTEGRATION = "zero-etl-demo"
TARGET_DB = "aurora_zeroetl"


def print_sample_queries(session: Any, limit: int = SHOW_ROWS) -> None:
    """Run the TICKIT sample queries through the SQL layer (the endpoint's dialect and rules)."""
    from zeroetl.sandbox.tickit import SAMPLE_QUERIES

    session.execute("SET search_path TO demodb")
    for title, sql in SAMPLE_QUERIES:
        result = session.execute(sql)
        rows = (tuple(r.values()) for batch in result.batches for r in batch.to_pylist())
        print_rows(title, [c.name for c in result.columns or []], rows, limit)


def destination_url(directory: Path, destination: str) -> str | None:
    """The integration's destination: None for the warehouse's DuckDB (the default), else
    embedded ClickHouse in DIR/clickhouse."""
    if destination == "duckdb":
        return None
    return f"chdb://{(directory / 'clickhouse').resolve()}"


def destination_kwargs(service: Any, destination: str | None) -> dict[str, str]:
    """The service's `destination` field of a new integration (DuckDB when absent), refused
    clearly by a service that cannot replicate into ClickHouse."""
    if destination is None:
        return {}
    params = inspect.signature(service.create_integration).parameters
    if "destination" not in params:
        raise ConfigError(
            "this zeroetl's service cannot replicate into ClickHouse yet",
            hint="run the demo without --destination chdb",
        )
    return {"destination": destination}


def _ensure_integration(service: Any, url: str, port: int, destination: str | None) -> str:
    existing, _ = service.list_integrations(limit=1000)
    for it in existing:
        if it["name"] == INTEGRATION:
            was = it["source"]["port"]
            if was != port:  # it would wait forever for a server that is not there
                raise ConfigError(
                    f"integration {INTEGRATION} in this warehouse replicates from "
                    f"127.0.0.1:{was}, but the sandbox now runs on port {port}",
                    hint=f"run the sandbox on port {was} again (`zeroetl sandbox down`, then "
                    f"the demo with --port {was}), or start afresh in another --dir",
                )
            had = it.get("destination") or None
            if had != destination:  # reusing it would answer from the other destination
                raise ConfigError(
                    f"integration {INTEGRATION} in this warehouse replicates into "
                    f"{_where(had)}, not {_where(destination)}",
                    hint=f"run the demo with --destination {'chdb' if had else 'duckdb'}, "
                    "or start afresh in another --dir",
                )
            return str(it["id"])
    # The demo is the user's own process: it reads the sandbox's password file and hands the
    # password over, as the CLI does (the service itself reads no file for a caller).
    source, password, _ = client_side(url)
    where = destination_kwargs(service, destination)
    created = service.create_integration(
        name=INTEGRATION,
        source=source,
        source_password=password,
        data_filter="include: demodb.*",
        description="TICKIT sample data from the sandbox MariaDB",
        target_database=TARGET_DB,
        **where,
    )
    return str(created["id"])


def _where(destination: str | None) -> str:
    return destination or "the warehouse's DuckDB"


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
            raise ConfigError(f"integration {INTEGRATION} failed: {it.get('reason')}")
        time.sleep(0.5)
    raise ConfigError(f"integration {INTEGRATION} did not become active in {timeout:.0f}s")


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=local.DEFAULT_DIR.parent,
    show_default=True,
    help="Where the sandbox (DIR/sandbox) and the warehouse (DIR/warehouse) live.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help=f"Sandbox MariaDB port [default: the one recorded in DIR/sandbox, else "
    f"{local.DEFAULT_PORT}].",
)
@click.option(
    "--api-port",
    type=click.IntRange(1, 65535),
    default=ports.DEFAULT_API_PORT,
    show_default=True,
    help="HTTP API and console port.",
)
@click.option(
    "--sql-port",
    type=click.IntRange(1, 65535),
    default=ports.DEFAULT_SQL_PORT,
    show_default=True,
    help="SQL endpoint port.",
)
@click.option("--scale", type=float, default=1.0, show_default=True, help="TICKIT size factor.")
@click.option(
    "--rate", type=float, default=20.0, show_default=True, help="Live traffic, transactions/s."
)
@click.option("--once", is_flag=True, help="Stop after printing the analytics (no live traffic).")
@click.option(
    "--destination",
    type=click.Choice(["duckdb", "chdb"]),
    default="duckdb",
    show_default=True,
    help="Where the integration replicates: the warehouse's DuckDB, or embedded ClickHouse"
    " (chDB) in DIR/clickhouse; the SQL endpoint answers the same Redshift SQL on either.",
)
def demo(directory: Path, port: int | None, api_port: int, sql_port: int, scale: float,
         rate: float, once: bool, destination: str) -> None:  # fmt: skip
    """Sandbox + TICKIT + service + integration + sample analytics, then live traffic.

    The sandbox MariaDB keeps running when the demo ends (`zeroetl sandbox down` stops it);
    the service runs only as long as the demo (`zeroetl serve --warehouse DIR/warehouse`
    starts it again). A re-run reuses the sandbox, the data and the integration.
    """
    if scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--scale")
    if rate <= 0:
        raise click.BadParameter("must be positive", param_hint="--rate")
    if api_port == sql_port:
        raise click.UsageError("--api-port and --sql-port must differ")
    sandbox_dir, warehouse = directory / "sandbox", directory / "warehouse"
    click.echo(f"1/5 sandbox MariaDB (data in {sandbox_dir})")
    box = local.up(sandbox_dir, port)
    click.echo(f"    running on 127.0.0.1:{box.port}")
    try:
        _run(box, warehouse, api_port, sql_port, scale, rate, once,
             destination_url(directory, destination))  # fmt: skip
    finally:
        stop = "zeroetl sandbox down" + (
            "" if sandbox_dir.resolve() == local.default_dir().resolve()
            else f" --dir {shlex.quote(str(sandbox_dir))}"
        )  # fmt: skip
        click.echo(
            f"\nThe sandbox MariaDB keeps running on 127.0.0.1:{box.port}; stop it with: {stop}"
        )


def _run(box: local.Sandbox, warehouse: Path, api_port: int, sql_port: int, scale: float,
         rate: float, once: bool, destination: str | None = None) -> None:  # fmt: skip
    import uvicorn

    from zeroetl.cli.progress import load_progress
    from zeroetl.cli.serve import service_config
    from zeroetl.config import load
    from zeroetl.sandbox import tickit as tk
    from zeroetl.sandbox.tickit_data import sizes
    from zeroetl.server.api.app import create_app
    from zeroetl.server.sql.session import SqlSession
    from zeroetl.server.sql_backend import SqlEndpoint
    from zeroetl.service.service import Service

    root = SourceParams.from_url(box.root_url)
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
            with load_progress(sizes(scale)) as progress:
                counts = tk.load(conn, database="demodb", scale=scale, seed=0, progress=progress)
            click.echo(f"    {sum(counts.values()):,} rows in {time.monotonic() - t0:.1f}s")
        else:
            click.echo("2/5 TICKIT already loaded in demodb")
    finally:
        conn.close()

    click.echo(f"3/5 service on {warehouse}: API and console :{api_port}, SQL endpoint :{sql_port}")
    # The demo's service is configured like `serve`'s (variables, <warehouse>/zeroetl.toml);
    # its ports are the demo's flags, its address is the loopback.
    settings = load(
        flags={"api.port": str(api_port), "sql.port": str(sql_port)},
        fallback_warehouse=warehouse,
    )
    config = dataclasses.replace(service_config(settings, warehouse), host="127.0.0.1")
    service = Service(config, sql_endpoint=SqlEndpoint)
    api: uvicorn.Server | None = None
    api_sock = None
    try:
        api_sock = ports.bind("127.0.0.1", api_port, "HTTP API", "--api-port")
        ports.probe("127.0.0.1", sql_port, "SQL endpoint", "--sql-port")
        try:
            service.start()
        except OSError as exc:
            if ports.is_addr_in_use(exc):
                # Its endpoint never listened; stopping it would only fail on its closed loop.
                service.sql = None
                raise ports.in_use(sql_port, "127.0.0.1", "SQL endpoint", "--sql-port") from None
            raise
        ports.record(service.warehouse, "127.0.0.1", api_port, sql_port)
        api = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=api_port,
                                            log_config=None, log_level="warning"))  # fmt: skip
        threading.Thread(
            target=api.run, kwargs={"sockets": [api_sock]}, name="http-api", daemon=True
        ).start()
        t0 = time.monotonic()
        while not api.started:
            if time.monotonic() - t0 > 15:
                raise ConfigError(f"the HTTP API did not start on 127.0.0.1:{api_port}")
            time.sleep(0.05)

        into = f" (in {destination})" if destination else ""
        click.echo(f"4/5 integration {INTEGRATION} -> target database {TARGET_DB}{into}")
        iid = _ensure_integration(service, box.url, box.port, destination)
        t0 = time.monotonic()
        _wait_active(service, iid)
        click.echo(f"    active after {time.monotonic() - t0:.1f}s")

        read = "ClickHouse, through the SQL endpoint's dialect" if destination else "the warehouse"
        click.echo(f"5/5 sample analytics, read from {read}:")
        backend = service.sql.backend if isinstance(service.sql, SqlEndpoint) else None
        session = SqlSession(backend,  # type: ignore[arg-type]
                             database=TARGET_DB, user="admin")  # fmt: skip
        try:
            print_sample_queries(session)
        finally:
            session.close()
        _print_addresses(service, api_port, sql_port)
        if not once:
            _live(service, iid, root, rate, "ClickHouse" if destination else "warehouse")
    finally:
        if api is not None:
            api.should_exit = True
        service.shutdown()
        if api_sock is not None:
            api_sock.close()
    click.echo(
        f"The service stopped with the demo; `zeroetl serve --warehouse "
        f"{shlex.quote(str(warehouse))} --api-port {api_port} --sql-port {sql_port}` runs it "
        "again (the integration resumes)."
    )


def _print_addresses(service: Any, api_port: int, sql_port: int) -> None:
    # The token is printed as such (it is in the console address anyway): a `$(cat FILE)`
    # would not survive every shell, and a placeholder cannot be pasted.
    token = service.api_token
    password_file = service.warehouse / "sql.password"
    header = shlex.quote(f"Authorization: Bearer {token}")
    click.echo(
        f"\nconsole:  http://127.0.0.1:{api_port}/#token={token}\n"
        f'SQL:      psql "host=127.0.0.1 port={sql_port} user=admin dbname={TARGET_DB}"'
        f"  (password in {password_file}; or: zeroetl sql -d {TARGET_DB})\n"
        f"API:      curl -H {header} http://127.0.0.1:{api_port}/v1/integrations"
    )


def _live(service: Any, iid: str, root: SourceParams, rate: float, into: str) -> None:
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
    click.echo(f"\nlive: {rate:g} ticket transactions/s flowing source -> {into}; Ctrl-C stops")
    t.start()
    try:
        while not stop.wait(5):
            it = service.get_integration(iid)
            lag = it.get("lag_seconds")
            lag_s = f"{lag:.2f}s" if lag is not None else "-"
            click.echo(
                f"{time.strftime('%H:%M:%S')} {it['state']}, checkpoint {it['checkpoint']}, lag {lag_s}"
            )
    finally:
        stop.set()
        t.join(timeout=10)
        writer.close()
    click.echo("stopped")
