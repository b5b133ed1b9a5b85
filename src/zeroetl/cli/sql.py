"""`zeroetl sql`: open psql on the warehouse's SQL endpoint as `admin`.

The warehouse is `--warehouse`, else `ZEROETL_WAREHOUSE`, else `.zeroetl/warehouse` (where
`zeroetl demo` puts it). The endpoint's address is `--host`/`--port`, else what the warehouse's
service recorded in `service.json` when it started, else 127.0.0.1:5439. The password is read
from the configured `sql.password` (ZEROETL_SQL_PASSWORD, ...) or `<warehouse>/sql.password` and handed to psql through its
environment (PGPASSWORD), never on the command line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from zeroetl.cli.options import DEFAULT_WAREHOUSE, local_warehouse, with_settings
from zeroetl.cli.ports import local_sql_endpoint
from zeroetl.config import Settings
from zeroetl.errors import ConfigError
from zeroetl.server.pgwire.auth import ADMIN_USER, PASSWORD_FILE, admin_password

# `sql` and `tickit queries`: the warehouse of the `zeroetl serve` to reach (it holds
# sql.password and the endpoint's recorded port); else .zeroetl/warehouse
local_settings = with_settings(fallback_warehouse=DEFAULT_WAREHOUSE)


def sql_password(settings: Settings, warehouse: Path) -> str:
    """The admin password: configured (ZEROETL_SQL_PASSWORD, ...), else the warehouse's file."""
    pw = settings.sql.password
    return admin_password(warehouse, pw.reveal() if pw else None, create=False)


def endpoint(warehouse: Path, host: str | None, port: int | None) -> tuple[str, int]:
    """The SQL endpoint's (host, port): flags first, then the warehouse's record."""
    rec_host, rec_port = local_sql_endpoint(warehouse)
    return host or rec_host, port or rec_port


def check_warehouse(settings: Settings) -> Path:
    warehouse = local_warehouse(settings)
    if not warehouse.is_dir() and settings.sql.password is None:
        raise ConfigError(
            f"no warehouse at {warehouse}",
            hint="pass --warehouse DIR or set ZEROETL_WAREHOUSE to the directory that "
            "`zeroetl serve --warehouse` uses",
        )
    return warehouse


@click.command("sql", context_settings={"ignore_unknown_options": True})
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
@click.option("--dbname", "-d", default="dev", show_default=True, help="Database to connect to.")
@click.option("--user", "-U", default=ADMIN_USER, show_default=True, help="User name.")
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def sql(
    settings: Settings,
    host: str | None,
    port: int | None,
    dbname: str,
    user: str,
    psql_args: tuple[str, ...],
) -> None:
    """Open psql on the SQL endpoint (extra arguments go to psql, e.g. -c 'select 1')."""
    warehouse = check_warehouse(settings)
    host, port = endpoint(warehouse, host, port)
    conninfo = f"host={host} port={port} user={user} dbname={dbname}"
    psql = shutil.which("psql")
    if psql is None:
        origin = settings.origin("sql.password")
        where = origin if origin.source != "default" else warehouse / PASSWORD_FILE
        click.echo(
            "psql is not installed (Debian/Ubuntu: apt-get install postgresql-client).\n"
            f"Connect any PostgreSQL client with: {conninfo}\n"
            f"Password of {user!r}: {where}",
            err=True,
        )
        sys.exit(1)
    # psql's own protocol: it inherits our environment, and PGPASSWORD carries the password
    # (never the command line, which other users can read)
    env = dict(os.environ)
    if user == ADMIN_USER and "PGPASSWORD" not in env:
        env["PGPASSWORD"] = sql_password(settings, warehouse)
    # Ctrl-C belongs to psql (it cancels the running query), not to us.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = subprocess.call([psql, conninfo, *psql_args], env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
    sys.exit(code)
