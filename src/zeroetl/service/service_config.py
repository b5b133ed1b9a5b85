"""What a service is started with: the warehouse, ports, limits and secrets (one frozen value).

cli/serve builds it from the typed settings (zeroetl/config.py); tests build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zeroetl.config import Secret, Settings
from zeroetl.engine.settings import EngineSettings
from zeroetl.server.pgwire.tls import TlsSettings
from zeroetl.server.sql.limits import SessionLimits
from zeroetl.service.hub import HubSettings

DEFAULT_MAX_RUNNING = 4  # SQL statements running at once (others wait for a slot)


@dataclass(frozen=True)
class ServiceConfig:
    warehouse: Path
    host: str = "127.0.0.1"
    api_port: int = 8155
    sql_port: int | None = 5439  # the SQL endpoint (0: any free port; None: no endpoint)
    allowed_sources: tuple[str, ...] = ()  # authorized integration sources; empty: any
    monitor_interval_s: float = 0.2
    stop_timeout_s: float = 30.0
    engine: EngineSettings = field(default_factory=EngineSettings)
    hub: HubSettings = field(default_factory=HubSettings)  # DuckDB memory and temp space
    sql_limits: SessionLimits = field(
        default_factory=lambda: SessionLimits(max_running=DEFAULT_MAX_RUNNING)
    )  # per SQL session
    api_token: Secret | None = None  # None: <warehouse>/api.token, generated once
    sql_password: Secret | None = None  # admin's; None: <warehouse>/sql.password
    settings: Settings | None = None  # what the service was configured with (GET /v1/config)
    sql_tls: TlsSettings = field(default_factory=TlsSettings)  # the SQL endpoint's TLS
