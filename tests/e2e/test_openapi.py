"""The OpenAPI document against the service it describes: every route's documented statuses are
provoked on a real `zeroetl serve` (with a real MariaDB source) and answered as documented, the
answers match the documented models, no 422 anywhere; and the curl lines of docs/service.md run
as printed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.service_support import Serve, wait_for, without_pytz

from zeroetl.sandbox.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Statuses no request can provoke on demand: a bug, and more than 8 slow source checks at once.
UNPROVOKED = {500, 503}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    tmp = tmp_path_factory.mktemp("openapi")
    s = Serve(tmp / "wh", tmp / "serve.log", "--allow-source", "127.0.0.1", env=without_pytz(tmp))
    s.start()
    try:
        yield s
    finally:
        s.kill()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "patch", "delete", "put")
    ]


def test_the_document_shows_real_answers_only(svc: Serve) -> None:
    doc = svc.ok("GET", "/openapi.json")
    assert '"422"' not in json.dumps(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorResponse"]["properties"]["error"]["$ref"].endswith("/ApiError")
    for method, path, op in _operations(doc):
        statuses = set(op["responses"])
        assert "422" not in statuses, (method, path)
        ok = [s for s in statuses if s.startswith("2")]
        assert len(ok) == 1, (method, path, statuses)
        if path.startswith("/v1"):
            # Every route under /v1 answers 401 without the token and documents its errors with
            # the shared schema and one example per code.
            assert "401" in statuses, (method, path)
        for status in statuses - set(ok):
            content = op["responses"][status]["content"]["application/json"]
            assert content["schema"]["$ref"].endswith("/ErrorResponse"), (method, path, status)
            for name, example in content["examples"].items():
                assert example["value"]["error"]["code"] == name
        body = op["responses"][ok[0]].get("content", {})
        if body and "application/json" in body:  # its model carries an example
            ref = body["application/json"]["schema"].get("$ref", "")
            if ref:
                model = schemas[ref.rsplit("/", 1)[-1]]
                assert model.get("examples"), (method, path, ref)
    # The one vocabulary: a table is schema + table, durations in seconds, errors a list.
    assert set(schemas["Table"]["properties"]) >= {"schema", "table", "state", "reason"}
    assert set(schemas["TableStateChange"]["properties"]) >= {"schema", "table", "state", "reason"}
    integration = schemas["Integration"]["properties"]
    assert {"lag_seconds", "errors", "reason"} <= set(integration)
    assert not {"lag_ms", "error", "last_error", "state_reason"} & set(integration)


def _provoke(
    svc: Serve, method: str, path: str, status: int, names: dict[str, str]
) -> httpx.Response:
    """A request that should get `status` from `method path`."""
    ident = names["pending"] if status == 409 else names["live"]
    url = path.replace("{ident}", "nosuch" if status == 404 else ident)
    url = url.replace("{name}", "nosuch" if status == 404 else names["dropme"])
    body: Any = None
    params: dict[str, Any] = {}
    if method in ("POST", "PATCH"):
        body = {}
    if status == 401:
        return svc.api(method, url, body, token=None)
    if status == 413:
        return svc.api(method, url, {"description": "x" * (2 << 20)})
    if status == 400:
        if method == "GET":
            params = {"minutes": 0} if url.endswith("/series") else {"limit": 0}
        else:
            body = {"no_such_field": 1}
    if status == 403:
        body = {"name": "from-elsewhere", "source": names["elsewhere"]}
    if status == 404 and method == "POST":  # a valid body: the integration is what is missing
        body = {"all": True} if url.endswith("/refresh") else {"database_name": "x"}
        body = None if url.endswith(("/pause", "/resume", "/restart")) else body
    if status == 409:
        if method == "POST" and url == "/v1/integrations":
            body = {"name": names["live"], "source": names["source"]}
        elif method == "PATCH":
            body = {"name": names["live"]}
        elif url.endswith("/target-database"):
            url = path.replace("{ident}", names["live"])
            body = {"database_name": "another"}
        elif url.endswith("/refresh"):
            body = {"all": True}
    if status < 300:
        return _succeed(svc, method, path, names)
    return svc.api(method, url, body, **params)


def _succeed(svc: Serve, method: str, path: str, names: dict[str, str]) -> httpx.Response:
    live = names["live"]
    body: Any = None
    url = path.replace("{ident}", live)
    if (method, path) == ("POST", "/v1/integrations"):
        body = {"name": "made-here", "source": names["source"]}
    elif (method, path) == ("DELETE", "/v1/integrations/{ident}"):
        url = path.replace("{ident}", "made-here")
    elif path.endswith("/target-database"):
        url = path.replace("{ident}", names["dropme-owner"])
        body = {"database_name": names["dropme"], "query_all_states": True}
    elif path == "/v1/databases/{name}":
        url = path.replace("{name}", names["dropme"])
    elif method == "PATCH":
        body = {"description": "changed"}
    elif path.endswith("/refresh"):
        body = {"all": True}
    return svc.api(method, url, body)


def test_every_documented_status_is_answered(
    svc: Serve, mariadb: MariaDBServer, db_conn: Any, test_db: str
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1), (2)")
    source = mariadb.url()
    names = {
        "live": "docs-live",
        "pending": "docs-pending",
        "dropme": "docs_dropme",
        "dropme-owner": "docs-dropme",
        "source": source,
        "elsewhere": source.replace("127.0.0.1", "localhost"),  # not an allowed source
    }
    flt = f"include: {test_db}.*"
    svc.ok("POST", "/v1/integrations",
           {"name": "docs-live", "source": source, "data_filter": flt, "target_database": "docs_live"})  # fmt: skip
    svc.ok(
        "POST", "/v1/integrations", {"name": "docs-pending", "source": source, "data_filter": flt}
    )
    svc.ok(
        "POST", "/v1/integrations", {"name": "docs-dropme", "source": source, "data_filter": flt}
    )
    svc.wait_state("docs-live", "active", 60)
    doc = svc.ok("GET", "/openapi.json")
    ops = _operations(doc)
    # In an order that keeps what later requests need: the target database is created before
    # it is dropped, the throwaway integration before it is deleted, pause before resume.
    rank = {"/target-database": 0, "/pause": 1, "/resume": 2, "/restart": 3}
    ops.sort(
        key=lambda o: (o[0] == "DELETE", next((v for k, v in rank.items() if o[1].endswith(k)), 5))
    )
    seen = 0
    for method, path, op in ops:
        for status_text in op["responses"]:
            status = int(status_text)
            if status in UNPROVOKED:
                continue
            r = _provoke(svc, method, path, status, names)
            assert r.status_code == status, (method, path, status, r.text[:300])
            if status >= 400:
                content = op["responses"][status_text]["content"]["application/json"]
                assert r.json()["error"]["code"] in content["examples"], (method, path, r.text)
            seen += 1
            if (method, path) == ("POST", "/v1/integrations/{ident}/restart"):
                svc.wait_state("docs-live", "active", 60)
    assert seen >= 60, seen
    # HEAD for uptime checks, on the console and the liveness route, without a token.
    for path in ("/", "/healthz"):
        r = httpx.head(svc.url + path, timeout=10)
        assert r.status_code == 200 and r.content == b"", (path, r.status_code)
    r = httpx.get(svc.url + "/docs", timeout=10)
    assert r.status_code == 200 and "swagger-ui-bundle.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/console/docs.js"):
        assert httpx.get(svc.url + asset, timeout=10).status_code == 200, asset
    for name in ("api.token", "..%2Fapi.token"):  # a fixed list: nothing else is served
        assert httpx.get(f"{svc.url}/docs/{name}", timeout=10).status_code == 404, name


def _curl_script(service_md: str) -> str:
    block = service_md.split("### Every route with curl", 1)[1]
    return re.search(r"```sh\n(.*?)```", block, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_lines_of_the_docs_run_as_printed(
    svc: Serve, mariadb: MariaDBServer, db_conn: Any, test_db: str, tmp_path: Path
) -> None:
    script = _curl_script((ROOT / "docs" / "service.md").read_text())
    lines = script.splitlines()
    # Only the first lines (where the service and the source are) are the reader's to change.
    assert lines[0].startswith("WH=") and lines[1].startswith("API=")
    assert lines[3].startswith("SOURCE=")
    lines[0] = f"WH={svc.warehouse}"
    lines[1] = f"API={svc.url}"
    lines[3] = f"SOURCE=mysql://zeroetl@127.0.0.1:{mariadb.port}"
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
    body = "\n".join(lines).replace("include: shop.*", f"include: {test_db}.*")
    # Every curl fails the script on an HTTP error status (and shows the body).
    run = subprocess.run(
        ["sh", "-e", "-c", 'curl() { command curl --fail-with-body "$@"; }\n' + body],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "ZEROETL_SOURCE_PASSWORD": "zeroetl"},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert '"name":"appdb-etl"' in run.stdout and "zeroetl_integration_lag_seconds" in run.stdout
    assert (tmp_path / "zeroetl-openapi.json").stat().st_size > 10_000
    gone = svc.api("GET", "/v1/integrations/appdb-etl")
    assert gone.status_code == 404
    assert "appdb" not in {d["name"] for d in svc.ok("GET", "/v1/databases")["items"]}
    wait_for(lambda: not (svc.warehouse / "databases" / "appdb.duckdb").exists(), "the file gone")
