"""`zeroetl serve`: run the service (HTTP API; the SQL endpoint joins it) over one warehouse."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import click

from zeroetl.catalog.secrets import TOKEN_ENV, TOKEN_FILE
from zeroetl.cli.replicate import bounds_options
from zeroetl.engine.settings import EngineSettings

log = logging.getLogger("zeroetl.serve")

ALLOWED_ENV = "ZEROETL_ALLOWED_SOURCES"


@click.command()
@click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    envvar="ZEROETL_WAREHOUSE",
    help="Warehouse directory: catalog, secrets and one DuckDB file per target database.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--api-port", type=int, default=8155, show_default=True, help="HTTP API port.")
@click.option("--sql-port", type=int, default=5439, show_default=True, help="SQL endpoint port.")
@click.option(
    "--allow-source",
    "allowed",
    multiple=True,
    help=f"Authorized integration source, HOST or HOST:PORT (globs allowed; repeatable; "
    f"also {ALLOWED_ENV}, comma-separated). Default: any source.",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    envvar="ZEROETL_METRICS_PUBLIC",
    help="Serve /metrics without the bearer token (ids, states, counts and table names; "
    "keep the API on a private address).",
)
@bounds_options
def serve(
    warehouse: Path,
    host: str,
    api_port: int,
    sql_port: int,
    allowed: tuple[str, ...],
    metrics_public: bool,
    wal_limit_mb: float,
    history_days: float,
    history_rows: int,
    history_prune_s: float,
) -> None:
    """Run the zeroetl service: integrations over an HTTP API, many per warehouse.

    Every API call except /healthz and the console's static files needs `Authorization: Bearer
    <token>` (/metrics too, unless --metrics-public); the token is ZEROETL_API_TOKEN, or is
    generated into <warehouse>/api.token (mode 0600) on first start. The web console is at /.
    SIGTERM or SIGINT stops every integration cleanly; the next start resumes them.
    """
    import uvicorn

    from zeroetl.server.api.app import create_app
    from zeroetl.server.service import Service, ServiceConfig

    zlog = logging.getLogger("zeroetl")
    if zlog.getEffectiveLevel() > logging.INFO:
        zlog.setLevel(logging.INFO)  # a service logs its lifecycle by default
    logging.getLogger("uvicorn").setLevel(logging.INFO)
    env_allowed = tuple(s.strip() for s in os.environ.get(ALLOWED_ENV, "").split(",") if s.strip())
    config = ServiceConfig(
        warehouse=warehouse,
        host=host,
        api_port=api_port,
        sql_port=sql_port,
        allowed_sources=allowed + env_allowed,
        engine=EngineSettings(
            wal_limit_mb=wal_limit_mb,
            history_days=history_days,
            history_rows=history_rows,
            history_prune_s=history_prune_s,
        ),
    )
    service = Service(config)
    # uvicorn re-raises the signal that stopped it once it has shut down; make that a no-op so
    # the process exits 0 after a clean stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        service.start()
        app = create_app(service, manage_lifecycle=True, metrics_public=metrics_public)
        where = "ZEROETL_API_TOKEN" if os.environ.get(TOKEN_ENV) else service.warehouse / TOKEN_FILE
        log.info("API on http://%s:%d (bearer token: %s)", host, api_port, where)
        log.info("console on http://%s:%d/#token=<token>", host, api_port)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=api_port, log_config=None, lifespan="on")
        )
        server.run()
    finally:
        service.shutdown()
    if not server.started:
        raise click.ClickException(f"could not serve on {host}:{api_port}")
