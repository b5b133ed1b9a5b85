"""`zeroetl serve`: run the service (HTTP API; the SQL endpoint joins it) over one warehouse."""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
from pathlib import Path

import click

from zeroetl.catalog.secrets import TOKEN_ENV, TOKEN_FILE
from zeroetl.cli import ports
from zeroetl.cli.replicate import bounds_options
from zeroetl.engine.settings import EngineSettings

log = logging.getLogger("zeroetl.serve")

ALLOWED_ENV = "ZEROETL_ALLOWED_SOURCES"
GRACE_S = 3


def _timeout(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from zeroetl.server.sql.errors import SqlError
    from zeroetl.server.sql.limits import parse_timeout

    try:
        return parse_timeout(value)
    except SqlError as exc:
        raise click.BadParameter(exc.message) from None


@click.command()
@click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    envvar="ZEROETL_WAREHOUSE",
    show_envvar=True,
    help="Warehouse directory: catalog, secrets and one DuckDB file per target database.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--api-port",
    type=click.IntRange(0, 65535),
    default=ports.DEFAULT_API_PORT,
    show_default=True,
    help="HTTP API and console port (0: any free port).",
)
@click.option(
    "--sql-port",
    type=click.IntRange(0, 65535),
    default=ports.DEFAULT_SQL_PORT,
    show_default=True,
    help="SQL endpoint port (0: any free port).",
)
@click.option(
    "--allow-source",
    "allowed",
    multiple=True,
    help=f"Authorized integration source, HOST or HOST:PORT (globs allowed; repeatable; "
    f"also {ALLOWED_ENV}, comma-separated). Default: any source.",
)
@click.option(
    "--prereq-check-s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    envvar="ZEROETL_ENGINE_PREREQ_CHECK_S",
    help="Re-check every source's prerequisites this often, in seconds (0: never).",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    envvar="ZEROETL_METRICS_PUBLIC",
    help="Serve /metrics without the bearer token (ids, states, counts and table names; "
    "keep the API on a private address).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ZEROETL_LOG_FILE",
    show_envvar=True,
    help="Append the log to this file (mode 0600; reopened when logrotate moves it) "
    "instead of stderr.",
)
@click.option(
    "--memory-limit",
    envvar="ZEROETL_MEMORY_LIMIT",
    default=None,
    help="DuckDB memory limit of the service, replication and SQL sessions together (e.g. 8GiB)."
    " Default: half the memory DuckDB detects.",
)
@click.option(
    "--temp-limit",
    envvar="ZEROETL_TEMP_LIMIT",
    default=None,
    help="Disk space DuckDB may spill to in <warehouse>/tmp (e.g. 20GiB). Default: 20% of the"
    " free space, at most 8GiB.",
)
@click.option(
    "--sql-statement-timeout",
    envvar="ZEROETL_SQL_STATEMENT_TIMEOUT",
    default="0",
    show_default=True,
    callback=_timeout,
    help="A SQL session's statement_timeout until it sets its own (1000, 30s, 5min; 0: none).",
)
@click.option(
    "--sql-max-statement-timeout",
    envvar="ZEROETL_SQL_MAX_STATEMENT_TIMEOUT",
    default="0",
    show_default=True,
    callback=_timeout,
    help="No SQL statement runs longer, whatever the session sets (0: no maximum).",
)
@click.option(
    "--sql-session-memory",
    envvar="ZEROETL_SQL_SESSION_MEMORY",
    default=None,
    help="Memory of one SQL statement for sorts, joins and aggregates before it spills to disk"
    " (e.g. 1GiB). Default: half the memory limit shared by the running slots.",
)
@click.option(
    "--sql-max-running",
    envvar="ZEROETL_SQL_MAX_RUNNING",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="SQL statements running at once over all sessions; the others wait for a slot.",
)
@click.option(
    "--sql-tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ZEROETL_SQL_TLS_CERT",
    show_envvar=True,
    help="PEM certificate (chain) of the SQL endpoint's TLS. Default: a self-signed one made in"
    " <warehouse>/sql-tls.crt at first start.",
)
@click.option(
    "--sql-tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ZEROETL_SQL_TLS_KEY",
    show_envvar=True,
    help="PEM private key (unencrypted) of --sql-tls-cert.",
)
@click.option(
    "--sql-require-tls",
    is_flag=True,
    envvar="ZEROETL_SQL_REQUIRE_TLS",
    show_envvar=True,
    help="Refuse SQL connections without TLS (sslmode=disable). Default: accept them.",
)
@bounds_options
def serve(
    warehouse: Path,
    host: str,
    api_port: int,
    sql_port: int,
    allowed: tuple[str, ...],
    prereq_check_s: float,
    metrics_public: bool,
    log_file: Path | None,
    memory_limit: str | None,
    temp_limit: str | None,
    sql_statement_timeout: int,
    sql_max_statement_timeout: int,
    sql_session_memory: str | None,
    sql_max_running: int,
    sql_tls_cert: Path | None,
    sql_tls_key: Path | None,
    sql_require_tls: bool,
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
    A port already in use is reported before anything starts (exit status 1).
    """
    import uvicorn

    from zeroetl.server.api.app import create_app
    from zeroetl.server.hub import HubSettings
    from zeroetl.server.pgwire.tls import TlsSettings
    from zeroetl.server.service import Service, ServiceConfig
    from zeroetl.server.sql.limits import SessionLimits

    if api_port and api_port == sql_port:
        raise click.UsageError("--api-port and --sql-port must differ")
    if log_file is not None:
        _log_to_file(log_file)
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
            prereq_check_s=prereq_check_s,
            wal_limit_mb=wal_limit_mb,
            history_days=history_days,
            history_rows=history_rows,
            history_prune_s=history_prune_s,
        ),
        hub=HubSettings(memory_limit=memory_limit, temp_limit=temp_limit),
        sql_limits=SessionLimits(
            statement_timeout_ms=sql_statement_timeout,
            max_statement_timeout_ms=sql_max_statement_timeout,
            memory=sql_session_memory,
            max_running=sql_max_running,
        ),
        sql_tls=TlsSettings(cert=sql_tls_cert, key=sql_tls_key, require=sql_require_tls),
    )
    # Both ports before anything starts; the API's socket is kept and handed to uvicorn, so no
    # other program can take it in between.
    api_sock = ports.bind(host, api_port, "HTTP API", "--api-port")
    try:
        ports.probe(host, sql_port, "SQL endpoint", "--sql-port")
        service = Service(config)
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
        app = create_app(service, manage_lifecycle=True, metrics_public=metrics_public)
        where = "ZEROETL_API_TOKEN" if os.environ.get(TOKEN_ENV) else service.warehouse / TOKEN_FILE
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
