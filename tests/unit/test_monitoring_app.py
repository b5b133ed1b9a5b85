"""/metrics auth, the console's static files and headers, and the headroom arithmetic, in-process
(no source needed: a service over an empty warehouse)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from zeroetl.server.api.app import create_app
from zeroetl.service.headroom import headroom
from zeroetl.service.service import Service
from zeroetl.service.service_config import ServiceConfig
from zeroetl.service.stats import MAX_POINTS, default_step


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(ServiceConfig(warehouse=tmp_path / "wh", sql_port=None))
    try:
        yield svc
    finally:
        svc.shutdown()


class AppClient:
    """Requests straight into the ASGI app (no server, no socket)."""

    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as c:
                return await c.get(path, headers=headers)

        return asyncio.run(go())


def _auth(svc: Service) -> dict[str, str]:
    return {"Authorization": f"Bearer {svc.api_token}"}


def test_metrics_need_the_token_by_default(service: Service) -> None:
    client = AppClient(create_app(service))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.get("/metrics", headers=_auth(service))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {
        "zeroetl_integration_lag_seconds",
        "zeroetl_integration_tables_replicated",
        "zeroetl_integration_tables_failed",
        "zeroetl_integration_data_transferred_bytes",  # counter family; samples end in _total
        "zeroetl_integration_rows_applied",
        "zeroetl_integration_state",
        "zeroetl_snapshot_rows_total",
        "zeroetl_binlog_retention_headroom_seconds",
    } <= names


def test_metrics_public_serves_them_without_a_token(service: Service) -> None:
    client = AppClient(create_app(service, metrics_public=True))
    assert client.get("/metrics").status_code == 200
    # ... and nothing else opens up.
    assert client.get("/v1/integrations").status_code == 401
    assert client.get("/v1/integrations/x/stats").status_code == 401


def test_console_is_served_with_a_strict_policy(service: Service) -> None:
    client = AppClient(create_app(service))
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    for name in ("/console/app.js", "/console/charts.js", "/console/app.css"):
        assert client.get(name).status_code == 200, name
    for bad in ("/console/index.html", "/console/..%2Fapi%2Fapp.py", "/console/nope.js"):
        r = client.get(bad)
        assert r.status_code == 404, bad
        assert r.json()["error"]["code"] == "NotFound"


def test_json_twins_need_the_token_and_know_unknown_integrations(service: Service) -> None:
    client = AppClient(create_app(service))
    for path in ("/v1/integrations/nope/stats", "/v1/integrations/nope/series"):
        assert client.get(path).status_code == 401
        r = client.get(path, headers=_auth(service))
        assert r.status_code == 404 and r.json()["error"]["code"] == "IntegrationNotFound"
    r = client.get("/v1/integrations/nope/series?minutes=0", headers=_auth(service))
    assert r.status_code == 400


def test_headroom_arithmetic() -> None:
    assert math.isinf(headroom(0, None, 1000.0))  # no automatic purge
    assert math.isinf(headroom(0, 500.0, 1000.0))
    assert headroom(3600, None, 1000.0) == 3600  # checkpoint in the active file: the full span
    assert headroom(3600, 400.0, 1000.0) == 3000  # file closed 600 s ago
    assert headroom(3600, 1000.0 - 4000, 1000.0) == -400  # overdue: may be purged any time
    assert headroom(3600, 2000.0, 1000.0) == 3600  # clocks disagree: never more than retention


def test_series_steps_stay_bounded() -> None:
    assert default_step(60) == 30
    assert default_step(1) == 5
    for minutes in (1, 15, 60, 360, 1440, 7 * 1440):
        assert minutes * 60 / default_step(minutes) <= MAX_POINTS
