"""`zeroetl serve`: run the service (HTTP API; the SQL endpoint joins it) over one warehouse."""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zeroetl.catalog.secrets import TOKEN_FILE
from zeroetl.cli import ports
from zeroetl.cli.options import require_warehouse, with_settings
from zeroetl.cli.replicate import BOUNDS_KEYS, engine_settings
from zeroetl.config import Settings

if TYPE_CHECKING:
    from zeroetl.service.service_config import ServiceConfig

log = logging.getLogger("zeroetl.serve")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}  # fmt: skip

GRACE_S = 3

SERVE_KEYS = (
    "host",
    "api.port",
    "sql.port",
    "service.allowed_sources",
    "engine.prereq_check_s",
    "api.metrics_public",
    "log.level",
    "log.file",
    "service.memory_limit",
    "service.temp_limit",
    "sql.statement_timeout",
    "sql.max_statement_timeout",
    "sql.session_memory",
    "sql.max_running",
    "sql.tls_cert",
    "sql.tls_key",
    "sql.require_tls",
    *BOUNDS_KEYS,
)


@click.command()
@with_settings(*SERVE_KEYS)
def serve(settings: Settings) -> None:
    """Run the zeroetl service: integrations over an HTTP API, many per warehouse.

    Every setting may also come from the configuration file (--config, else
    <warehouse>/zeroetl.toml) or a ZEROETL_* variable: flags win over variables, variables over
    the file (`zeroetl config show` prints what is in force; docs/configuration.md).
    Every API call except /healthz and the console's static files needs `Authorization: Bearer
    <token>` (/metrics too, unless --metrics-public); the token is ZEROETL_API_TOKEN, or is
    generated into <warehouse>/api.token (mode 0600) on first start. The web console is at /.
    SIGTERM or SIGINT stops every integration cleanly; the next start resumes them.
    A port already in use is reported before anything starts (exit status 1).
    """
    import uvicorn

    from zeroetl.server.api.app import create_app
    from zeroetl.server.sql_backend import SqlEndpoint
    from zeroetl.service.service import Service

    warehouse = require_warehouse(settings)
    host, api_port, sql_port = settings.host, settings.api.port, settings.sql.port
    if api_port and api_port == sql_port:
        raise click.UsageError(f"the API and SQL ports must differ (both {api_port})")
    if settings.log.file is not None:
        _log_to_file(settings.log.file)
    zlog = logging.getLogger("zeroetl")
    # a service logs its lifecycle by default (log.level = info); -v still adds debug
    zlog.setLevel(min(zlog.getEffectiveLevel(), LEVELS[settings.log.level]))
    logging.getLogger("uvicorn").setLevel(logging.INFO)
    config = service_config(settings, warehouse)
    # Both ports before anything starts; the API's socket is kept and handed to uvicorn, so no
    # other program can take it in between.
    api_sock = ports.bind(host, api_port, "HTTP API", "--api-port")
    try:
        ports.probe(host, sql_port, "SQL endpoint", "--sql-port")
        service = Service(config, sql_endpoint=SqlEndpoint)
    except BaseException:
        api_sock.close()
        raise
    # uvicorn re-raises the signal that stopped it once it has shut down; make that a no-op so
    # the process exits 0 after a clean stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        try:
            service.start()
        except OSError as exc:
            if ports.is_addr_in_use(exc):  # taken since the probe
                # Its endpoint never listened; stopping it would only fail on its closed loop.
                service.sql = None
                raise ports.in_use(sql_port, host, "SQL endpoint", "--sql-port") from None
            raise
        api_port = api_sock.getsockname()[1]
        ports.record(service.warehouse, host, api_port, service.sql.port if service.sql else None)
        app = create_app(service, manage_lifecycle=True, metrics_public=settings.api.metrics_public)
        origin = settings.origin("api.token")
        where = origin if origin.source != "default" else service.warehouse / TOKEN_FILE
        log.info("API on http://%s:%d (bearer token: %s)", host, api_port, where)
        log.info("console on http://%s:%d/#token=<token>", host, api_port)
        log.info("API docs on http://%s:%d/docs", host, api_port)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=api_port,
                log_config=None,
                lifespan="on",
                # A signal stops the service within seconds even while requests wait on a
                # slow source: they are cancelled (their checks end on their own timeouts).
                timeout_graceful_shutdown=GRACE_S,
            )
        )
        server.run(sockets=[api_sock])
    finally:
        service.shutdown()
        api_sock.close()
    if not server.started:
        raise click.ClickException(f"could not serve on {host}:{api_port}")


def service_config(settings: Settings, warehouse: Path) -> ServiceConfig:
    """The service's parts, from the settings (this is where config meets the service)."""
    from zeroetl.server.pgwire.tls import TlsSettings
    from zeroetl.server.sql.limits import SessionLimits
    from zeroetl.service.hub import HubSettings
    from zeroetl.service.service_config import ServiceConfig

    return ServiceConfig(
        warehouse=warehouse,
        host=settings.host,
        api_port=settings.api.port,
        sql_port=settings.sql.port,
        allowed_sources=settings.service.allowed_sources,
        engine=engine_settings(settings),
        hub=HubSettings(
            memory_limit=settings.service.memory_limit, temp_limit=settings.service.temp_limit
        ),
        sql_limits=SessionLimits(
            statement_timeout_ms=settings.sql.statement_timeout,
            max_statement_timeout_ms=settings.sql.max_statement_timeout,
            memory=settings.sql.session_memory,
            max_running=settings.sql.max_running,
        ),
        api_token=settings.api.token,
        sql_password=settings.sql.password,
        settings=settings,
        sql_tls=TlsSettings(
            cert=settings.sql.tls_cert, key=settings.sql.tls_key, require=settings.sql.require_tls
        ),
    )


def _log_to_file(path: Path) -> None:
    """Send the log to `path` instead of stderr, with the same format. WatchedFileHandler
    reopens the file when logrotate moves it away; created 0600 (log lines name hosts and
    tables)."""
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}", param_hint="--log-file"
        ) from None
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, logging.StreamHandler) and not isinstance(old, logging.FileHandler):
            handler.setFormatter(old.formatter)
            root.removeHandler(old)
    root.addHandler(handler)
