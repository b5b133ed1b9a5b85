"""`zeroetl sql`: open psql on the warehouse's SQL endpoint as `admin`.

The warehouse is `--warehouse`, else `ZEROETL_WAREHOUSE`, else `.zeroetl/warehouse` (where
`zeroetl demo` puts it). The endpoint's address is `--host`/`--port`, else what the warehouse's
service recorded in `service.json` when it started, else 127.0.0.1:5439. The password is read
from ZEROETL_SQL_PASSWORD or `<warehouse>/sql.password` and handed to psql through its
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

from zeroetl.cli.ports import local_sql_endpoint
from zeroetl.errors import ConfigError
from zeroetl.server.pgwire.auth import ADMIN_USER, PASSWORD_ENV, PASSWORD_FILE, admin_password

WAREHOUSE_ENV = "ZEROETL_WAREHOUSE"
DEFAULT_WAREHOUSE = Path(".zeroetl/warehouse")

warehouse_option = click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_WAREHOUSE,
    envvar=WAREHOUSE_ENV,
    show_default=True,
    show_envvar=True,
    help="Warehouse directory of the `zeroetl serve` to reach (holds sql.password and the "
    "endpoint's recorded port).",
)


def endpoint(warehouse: Path, host: str | None, port: int | None) -> tuple[str, int]:
    """The SQL endpoint's (host, port): flags first, then the warehouse's record."""
    rec_host, rec_port = local_sql_endpoint(warehouse)
    return host or rec_host, port or rec_port


def check_warehouse(warehouse: Path) -> None:
    if not warehouse.is_dir() and not os.environ.get(PASSWORD_ENV):
        raise ConfigError(
            f"no warehouse at {warehouse}",
            hint=f"pass --warehouse DIR or set {WAREHOUSE_ENV} to the directory that "
            "`zeroetl serve --warehouse` uses",
        )


@click.command("sql", context_settings={"ignore_unknown_options": True})
@warehouse_option
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
    warehouse: Path,
    host: str | None,
    port: int | None,
    dbname: str,
    user: str,
    psql_args: tuple[str, ...],
) -> None:
    """Open psql on the SQL endpoint (extra arguments go to psql, e.g. -c 'select 1')."""
    check_warehouse(warehouse)
    host, port = endpoint(warehouse, host, port)
    conninfo = f"host={host} port={port} user={user} dbname={dbname}"
    psql = shutil.which("psql")
    if psql is None:
        where = PASSWORD_ENV if os.environ.get(PASSWORD_ENV) else warehouse / PASSWORD_FILE
        click.echo(
            "psql is not installed (Debian/Ubuntu: apt-get install postgresql-client).\n"
            f"Connect any PostgreSQL client with: {conninfo}\n"
            f"Password of {user!r}: {where}",
            err=True,
        )
        sys.exit(1)
    env = dict(os.environ)
    if user == ADMIN_USER and "PGPASSWORD" not in env:
        env["PGPASSWORD"] = admin_password(warehouse, create=False)
    # Ctrl-C belongs to psql (it cancels the running query), not to us.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = subprocess.call([psql, conninfo, *psql_args], env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
    sys.exit(code)
