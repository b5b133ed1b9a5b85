"""`zeroetl sandbox up|down|status` and `zeroetl tickit load|traffic|queries`.

The sandbox directory (`--dir`, else `ZEROETL_SANDBOX_DIR`, else `.zeroetl/sandbox`) records the
port its MariaDB runs on; `tickit load|traffic` without `--source` write to that server and to
no other (see zeroetl.sandbox.local).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import click

from zeroetl.cli.output import SHOW_ROWS
from zeroetl.cli.sql import check_warehouse, endpoint, local_settings, sql_password
from zeroetl.config import Settings
from zeroetl.sandbox import local
from zeroetl.sandbox.local import DEFAULT_PORT, DIR_ENV
from zeroetl.sources.mysql.connection import SourceParams

DEFAULT_DIR = local.DEFAULT_DIR


@click.group()
def sandbox() -> None:
    """A private MariaDB source with the right binlog settings (port 3307 by default)."""


def _default_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    return value if value is not None else local.default_dir()  # sandbox.dir, via config.py


def _dir_opt(help_: str) -> Any:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        callback=_default_dir,
        help=help_ + f" [default: ${DIR_ENV}, else {DEFAULT_DIR}]",
    )


@sandbox.command("up")
@_dir_opt("Where the sandbox keeps its data (and records its port).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help=f"Port on 127.0.0.1 (default: the one recorded in --dir, else {DEFAULT_PORT}).",
)
def up(directory: Path, port: int | None) -> None:
    """Start the sandbox (creates it on first use)."""
    box = local.up(directory, port)
    click.echo(f"sandbox MariaDB running on 127.0.0.1:{box.port}, data in {directory}")
    click.echo(f"source URL: {box.url}")


@sandbox.command("down")
@_dir_opt("The sandbox's directory.")
def down(directory: Path) -> None:
    """Stop the sandbox (its data stays)."""
    was = local.down(directory)
    click.echo("sandbox stopped" if was else "sandbox was not running")


@sandbox.command("status")
@_dir_opt("The sandbox's directory.")
def status(directory: Path) -> None:
    """Is the sandbox running? (exit status 3 when it is not)"""
    box = local.find(directory)
    if box is not None:
        click.echo(f"running on 127.0.0.1:{box.port}, data in {directory}")
        click.echo(f"source URL: {box.url}")
    else:
        click.echo("not running" + ("" if local.initialised(directory) else " (not created yet)"))
        raise SystemExit(3)


@click.group()
def tickit() -> None:
    """The TICKIT sample database."""


_src_opt = click.option(
    "--source",
    "source_url",
    default=None,
    help="mysql:// URL of a user that may write. Default: root of the running sandbox "
    "(--sandbox-dir); refused when none runs.",
)
_sandbox_dir_opt = click.option(
    "--sandbox-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=_default_dir,
    help="The sandbox to write to when --source is not given (its port is recorded there) "
    f"[default: ${DIR_ENV}, else {DEFAULT_DIR}].",
)


def _target(source_url: str | None, sandbox_dir: Path) -> tuple[SourceParams, str]:
    """Connection parameters and how to name the server in messages."""
    if source_url:
        params = SourceParams.from_url(source_url, local=True)
        return params, params.redacted_url()
    box = local.running(sandbox_dir)
    return SourceParams.from_url(box.root_url), f"the sandbox on 127.0.0.1:{box.port}"


@tickit.command("load")
@_src_opt
@_sandbox_dir_opt
@click.option("--scale", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--database", default="demodb", show_default=True)
def load(source_url: str | None, sandbox_dir: Path, scale: float, seed: int, database: str) -> None:
    """Create DATABASE and load TICKIT at the standard sizes times SCALE.

    Replaces existing tables: the seven TICKIT tables (users, venue, category, date, event,
    listing, sales) are dropped from DATABASE with their data and created again; other tables
    are left alone. Without --source it writes to the running sandbox (--sandbox-dir), never
    to another server.
    """
    from zeroetl.cli.progress import load_progress
    from zeroetl.sandbox import tickit as tk
    from zeroetl.sandbox.tickit_data import sizes

    if scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--scale")
    params, where = _target(source_url, sandbox_dir)
    click.echo(f"loading TICKIT into {database} on {where} (replacing its TICKIT tables)", err=True)
    conn = params.connect()
    try:
        with load_progress(sizes(scale)) as progress:
            counts = tk.load(conn, database=database, scale=scale, seed=seed, progress=progress)
    finally:
        conn.close()
    for table, n in counts.items():
        click.echo(f"{database}.{table}: {n:,} rows")


@tickit.command("traffic")
@_src_opt
@_sandbox_dir_opt
@click.option(
    "--rate", type=float, default=50.0, show_default=True, help="Transactions per second."
)
@click.option(
    "--seconds", type=float, default=None, help="Stop after this long (default: until Ctrl-C)."
)
@click.option("--seed", type=int, default=1)
@click.option("--database", default="demodb", show_default=True)
def traffic(
    source_url: str | None,
    sandbox_dir: Path,
    rate: float,
    seconds: float | None,
    seed: int,
    database: str,
) -> None:
    """A steady stream of new listings and sales, price changes and cancellations."""
    from zeroetl.sandbox import tickit as tk

    if rate <= 0:
        raise click.BadParameter("must be positive", param_hint="--rate")
    params, where = _target(source_url, sandbox_dir)
    click.echo(f"traffic into {database} on {where}; Ctrl-C stops", err=True)
    conn = params.connect()
    stop = threading.Event()
    try:
        stats = tk.traffic(
            conn, database=database, rate_per_s=rate, seconds=seconds, seed=seed, stop_event=stop
        )
    except KeyboardInterrupt:
        stop.set()
        stats = {}
    finally:
        conn.close()
    click.echo(f"traffic: {stats}")


@tickit.command("queries")
@local_settings
@click.option(
    "--host", default=None, help="SQL endpoint address [default: recorded, else 127.0.0.1]."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="SQL endpoint port [default: recorded by the warehouse's service, else 5439].",
)
@click.option("--database", default="aurora_zeroetl", show_default=True, help="Target database.")
@click.option("--user", default="admin", show_default=True)
@click.option(
    "--limit", type=click.IntRange(1), default=SHOW_ROWS, show_default=True,
    help="Rows shown per query (the rest are counted).",
)  # fmt: skip
def queries(
    settings: Settings, host: str | None, port: int | None, database: str, user: str, limit: int
) -> None:
    """Print the sample analytical queries and run them against the SQL endpoint.

    The admin password comes from ZEROETL_SQL_PASSWORD or <warehouse>/sql.password.
    """
    import psycopg

    from zeroetl.cli.output import print_rows
    from zeroetl.sandbox.tickit import SAMPLE_QUERIES

    warehouse = check_warehouse(settings)
    host, port = endpoint(warehouse, host, port)
    password = sql_password(settings, warehouse)
    dsn = f"host={host} port={port} user={user} dbname={database}"
    try:
        conn = psycopg.connect(dsn, password=password, autocommit=True)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot connect to the SQL endpoint ({dsn}): {exc}") from None
    with conn:
        conn.execute("SET search_path TO demodb")
        for title, sql in SAMPLE_QUERIES:
            click.echo(f"\n{sql.strip()}")
            cur = conn.execute(sql)
            cols = [d.name for d in cur.description or []]
            print_rows(title, cols, (tuple(r) for r in cur), limit)
