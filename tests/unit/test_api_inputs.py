"""Every numeric and enumerated input of the HTTP API: a bad value is a 400 with a message that
names it, never a 500 (in-process, over an empty warehouse: no source needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zeroetl.server.api.app import create_app
from zeroetl.service.service import Service
from zeroetl.service.service_config import ServiceConfig


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(ServiceConfig(warehouse=tmp_path_factory.mktemp("api") / "wh", sql_port=None))
    app = create_app(svc)
    transport = httpx.ASGITransport(app=app)
    auth = {"Authorization": f"Bearer {svc.api_token}"}

    def call(method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, path, json=body, params=params, headers=auth)

        return asyncio.run(go())

    try:
        yield call
    finally:
        svc.shutdown()


BAD_QUERIES = [
    ("/v1/integrations", {"next_token": "9" * 5000}, "next_token"),
    ("/v1/integrations", {"next_token": "99999999999"}, "next_token"),
    ("/v1/integrations", {"next_token": "9223372036854775808"}, "next_token"),
    ("/v1/integrations", {"next_token": "-1"}, "next_token"),
    ("/v1/integrations", {"next_token": "\uff11\uff12"}, "next_token"),  # fullwidth digits
    ("/v1/integrations", {"limit": "abc"}, "limit"),
    ("/v1/integrations", {"limit": "0"}, "limit"),
    ("/v1/integrations", {"limit": "1" + "0" * 30}, "limit"),
    ("/v1/integrations", {"limit": "nan"}, "limit"),
    ("/v1/integrations/x/activity", {"next_token": "9" * 40}, "next_token"),
    ("/v1/integrations/x/tables", {"next_token": "1e3"}, "next_token"),
    ("/v1/integrations/x/state-changes", {"limit": "-5"}, "limit"),
    ("/v1/integrations/x/tables/state-changes", {"limit": "1.5"}, "limit"),
    ("/v1/integrations/x/series", {"minutes": "1e99"}, "minutes"),
    ("/v1/integrations/x/series", {"minutes": "0"}, "minutes"),
    ("/v1/integrations/x/series", {"step": "0"}, "step"),
    ("/v1/integrations/x/series", {"step": "inf"}, "step"),
]


@pytest.mark.parametrize(("path", "params", "name"), BAD_QUERIES)
def test_bad_query_values_are_400(
    client: Any, path: str, params: dict[str, str], name: str
) -> None:
    r = client("GET", path, **params)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "InvalidParameter" and name in err["message"]


SOURCE = "mysql://u:p@127.0.0.1:1"
BAD_BODIES = [
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE + "/?connect_timeout=abc"}),
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE + "/?connect_timeout=1e400"}),
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE + "/?ssl=sometimes"}),
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE + "/?bogus=1"}),
    ("POST", "/v1/integrations", {"name": "a", "source": "mysql://u@h:99999"}),
    ("POST", "/v1/integrations", {"name": "a" * 5000, "source": SOURCE}),
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE, "tags": {"k": 1}}),
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE, "source_password": "x" * 2000}),
    ("POST", "/v1/integrations", {"name": "a", "source": SOURCE, "data_filter": "x" * 20_000}),
    (
        "POST",
        "/v1/integrations",
        {"name": "a", "source": SOURCE, "data_filter": "include: db./(a+)+/"},
    ),
    ("POST", "/v1/integrations/x/refresh", {"all": "maybe"}),
    ("POST", "/v1/integrations/x/refresh", {"tables": "db.t"}),
    ("POST", "/v1/integrations/x/refresh", {"inerror": 2}),
    ("POST", "/v1/integrations/x/target-database", {"database_name": "d", "query_all_states": "x"}),
    ("PATCH", "/v1/integrations/x", {"tags": {"k": ["v"]}}),
    ("PATCH", "/v1/integrations/x", {"source_password": 12345}),
    ("PATCH", "/v1/integrations/x", {"nope": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES)
def test_bad_body_values_are_400(client: Any, method: str, path: str, body: Any) -> None:
    r = client(method, path, body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] in ("InvalidParameter", "InvalidDataFilter") and err["message"]
    assert "p@" not in r.text  # the source URL (and its password) is never echoed


def test_good_values_still_work(client: Any) -> None:
    r = client("GET", "/v1/integrations", limit="1000", next_token="0")
    assert r.status_code == 200 and r.json()["items"] == []
    r = client("GET", "/v1/integrations", next_token="1000000000")
    assert r.status_code == 200 and r.json()["items"] == []
    r = client("GET", "/v1/integrations/x/series", minutes="60", step="60")
    assert r.status_code == 404  # valid values; the integration does not exist
