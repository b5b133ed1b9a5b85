"""`zeroetl sandbox up|down|status` and `zeroetl tickit load|traffic|queries`."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import click

from zeroetl.sandbox.mariadb import MariaDBServer
from zeroetl.sources.mysql.connection import SourceParams

DEFAULT_DIR = Path(os.environ.get("ZEROETL_SANDBOX_DIR", ".zeroetl/sandbox"))
DEFAULT_PORT = 3307


def sandbox_server(directory: Path, port: int) -> MariaDBServer:
    return MariaDBServer(datadir=directory.resolve() / "data", port=port, server_id=1)


def sandbox_url(directory: Path, port: int) -> str:
    """URL of the sandbox's replication user; its password stays in a 0600 file."""
    return f"mysql://zeroetl@127.0.0.1:{port}/?password_file={directory.resolve() / 'zeroetl.password'}"


def sandbox_up(directory: Path, port: int) -> tuple[MariaDBServer, str]:
    """Start (or reuse) the sandbox and make sure its replication user exists. Idempotent."""
    directory.mkdir(parents=True, exist_ok=True)
    server = sandbox_server(directory, port)
    server.start()
    pw_file = directory / "zeroetl.password"
    if not pw_file.exists():
        fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(18))
    server.create_replication_user(password=pw_file.read_text().strip())
    return server, sandbox_url(directory, port)


def root_params(port: int) -> SourceParams:
    return SourceParams(host="127.0.0.1", port=port, user="root", password="")


@click.group()
def sandbox() -> None:
    """A private MariaDB source with the right binlog settings (port 3307)."""


_dir_opt = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Where the sandbox keeps its data.",
)
_port_opt = click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)


@sandbox.command("up")
@_dir_opt
@_port_opt
def up(directory: Path, port: int) -> None:
    """Start the sandbox (creates it on first use)."""
    _server, url = sandbox_up(directory, port)
    click.echo(f"sandbox MariaDB running on 127.0.0.1:{port}, data in {directory}")
    click.echo(f"source URL: {url}")


@sandbox.command("down")
@_dir_opt
@_port_opt
def down(directory: Path, port: int) -> None:
    """Stop the sandbox (its data stays)."""
    server = sandbox_server(directory, port)
    was = server.running()
    server.stop()
    click.echo("sandbox stopped" if was else "sandbox was not running")


@sandbox.command("status")
@_dir_opt
@_port_opt
def status(directory: Path, port: int) -> None:
    """Is the sandbox running?"""
    server = sandbox_server(directory, port)
    if server.running():
        click.echo(f"running on 127.0.0.1:{port}, data in {directory}")
        click.echo(f"source URL: {sandbox_url(directory, port)}")
    else:
        click.echo("not running" + ("" if server.initialised() else " (not created yet)"))
        raise SystemExit(3)


@click.group()
def tickit() -> None:
    """The TICKIT sample database."""


_src_opt = click.option(
    "--source",
    "source_url",
    default=None,
    help="mysql:// URL of a user that may write (default: the sandbox's root)",
)


def _writer(source_url: str | None):  # type: ignore[no-untyped-def]
    params = (
        SourceParams.from_url(source_url, local=True) if source_url else root_params(DEFAULT_PORT)
    )
    return params.connect(local_infile=True)


@tickit.command("load")
@_src_opt
@click.option("--scale", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--database", default="demodb", show_default=True)
def load(source_url: str | None, scale: float, seed: int, database: str) -> None:
    """Create DATABASE and load TICKIT at the standard sizes times SCALE."""
    from zeroetl.sandbox import tickit as tk

    conn = _writer(source_url)
    try:
        counts = tk.load(conn, database=database, scale=scale, seed=seed)
    finally:
        conn.close()
    for table, n in counts.items():
        click.echo(f"{database}.{table}: {n:,} rows")


@tickit.command("traffic")
@_src_opt
@click.option(
    "--rate", type=float, default=50.0, show_default=True, help="Transactions per second."
)
@click.option(
    "--seconds", type=float, default=None, help="Stop after this long (default: until Ctrl-C)."
)
@click.option("--seed", type=int, default=1)
@click.option("--database", default="demodb", show_default=True)
def traffic(
    source_url: str | None, rate: float, seconds: float | None, seed: int, database: str
) -> None:
    """A steady stream of new listings and sales, price changes and cancellations."""
    from zeroetl.sandbox import tickit as tk

    conn = _writer(source_url)
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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5439, show_default=True, help="SQL endpoint port.")
@click.option("--database", default="aurora_zeroetl", show_default=True, help="Target database.")
@click.option("--user", default="admin", show_default=True)
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".zeroetl/warehouse"), show_default=True,
              help="Where the admin password file is (or set ZEROETL_SQL_PASSWORD).")  # fmt: skip
@click.option("--limit", type=int, default=5, show_default=True, help="Rows shown per query.")
def queries(host: str, port: int, database: str, user: str, warehouse: Path, limit: int) -> None:
    """Print the sample analytical queries and run them against the SQL endpoint."""
    import psycopg

    from zeroetl.cli.demo import print_rows
    from zeroetl.sandbox.tickit import SAMPLE_QUERIES
    from zeroetl.server.pgwire.auth import admin_password

    password = admin_password(warehouse, create=False)
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
            print_rows(title, cols, [tuple(r) for r in cur.fetchmany(limit)])
