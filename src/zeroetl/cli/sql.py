"""`zeroetl sql`: open psql on the warehouse's SQL endpoint as `admin`.

The password is read from ZEROETL_SQL_PASSWORD or `<warehouse>/sql.password` and handed to psql
through its environment (PGPASSWORD), never on the command line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from zeroetl.server.pgwire.auth import ADMIN_USER, PASSWORD_ENV, PASSWORD_FILE, admin_password


@click.command("sql", context_settings={"ignore_unknown_options": True})
@click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    envvar="ZEROETL_WAREHOUSE",
    help="Warehouse directory of the running `zeroetl serve` (holds sql.password).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="SQL endpoint address.")
@click.option("--port", type=int, default=5439, show_default=True, help="SQL endpoint port.")
@click.option("--dbname", "-d", default="dev", show_default=True, help="Database to connect to.")
@click.option("--user", "-U", default=ADMIN_USER, show_default=True, help="User name.")
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def sql(
    warehouse: Path, host: str, port: int, dbname: str, user: str, psql_args: tuple[str, ...]
) -> None:
    """Open psql on the SQL endpoint (extra arguments go to psql, e.g. -c 'select 1')."""
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
