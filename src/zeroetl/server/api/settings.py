"""`GET /v1/config`: the settings the service runs with and where each came from (default,
file, env, flag), as `zeroetl config show --json` prints them. Secrets (the API token, the SQL
password, a source password) answer `********` when set, never their value: `Settings.describe`
redacts them, and `Secret` itself cannot be serialized.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field
from starlette.exceptions import HTTPException

from zeroetl.config import Settings
from zeroetl.server.api import schemas
from zeroetl.server.api.schemas import _example, _Out

Value = str | int | float | bool | list[str] | None


class SettingValue(_Out):
    value: Value = Field(description="the value in force; secrets are ******** (or null: unset)")
    source: Literal["default", "file", "env", "flag"]
    from_: str | None = Field(
        None,
        alias="from",
        description="file:line, the variable or the flag it came from (null: the default)",
    )


class Config(_Out):
    model_config = _example(
        {
            "config_file": "/var/lib/zeroetl/warehouse/zeroetl.toml",
            "settings": {
                "api.port": {"value": 8155, "source": "default", "from": None},
                "api.token": {"value": "********", "source": "env", "from": "ZEROETL_API_TOKEN"},
                "sql.max_running": {
                    "value": 8,
                    "source": "file",
                    "from": "/var/lib/zeroetl/warehouse/zeroetl.toml:4",
                },
            },
        }
    )

    config_file: str | None = Field(description="the configuration file read, if any")
    settings: dict[str, SettingValue] = Field(
        description="every key of docs/configuration.md, by its TOML name"
    )


def router(settings: Settings | None) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["service"])

    @r.get("/config", response_model=Config, responses=schemas.errors())
    def get_config() -> dict[str, Any]:
        """The effective settings (defaults < zeroetl.toml < environment < flags), each with
        its source; secrets redacted. As `zeroetl config show --json`."""
        if settings is None:  # an embedded service (tests) that was given no settings
            raise HTTPException(404, "this service was started without configuration settings")
        return settings.describe()

    return r
