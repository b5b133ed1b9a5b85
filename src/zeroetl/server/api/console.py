"""The web console at `/` and the API docs at `/docs`: static files (no token needed: the pages
hold no data).

The pages read the API token from the URL fragment (`/#token=...`, which browsers never send)
or a login box, keep it in sessionStorage and call the JSON API with it, so every view the
console shows has its JSON twin under `/v1`. Plain HTML, CSS and JavaScript; no build step,
nothing fetched from outside the machine (the Content-Security-Policy below forbids it anyway).
`/docs` renders the OpenAPI document with Swagger UI, whose files come from the
`fastapi-offline` package (installed with zeroetl): no CDN, so it works air-gapped.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse

from zeroetl.catalog.errors import LifecycleError

STATIC = Path(__file__).resolve().parent.parent / "console"
FILES = {
    "app.js": "text/javascript",
    "charts.js": "text/javascript",
    "app.css": "text/css",
    "favicon.svg": "image/svg+xml",
    "docs.js": "text/javascript",
    "docs.css": "text/css",
}
SWAGGER = Path(fastapi_offline.__file__).resolve().parent / "static"
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class ConsoleFileNotFound(LifecycleError):
    code = "NotFound"


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.api_route("/", methods=["GET", "HEAD"])  # HEAD: uptime checks
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)

    @r.api_route("/docs", methods=["GET", "HEAD"])
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html", headers=HEADERS)

    @r.get("/docs/{name}")
    def docs_asset(name: str) -> FileResponse:
        if name not in SWAGGER_FILES:  # a fixed list, as for the console's files
            raise ConsoleFileNotFound(f"no docs file {name!r}")
        return FileResponse(SWAGGER / name, media_type=SWAGGER_FILES[name], headers=HEADERS)

    @r.get("/console/{name}")
    def asset(name: str) -> FileResponse:
        if name not in FILES:  # a fixed list: no path from the request reaches the filesystem
            raise ConsoleFileNotFound(f"no console file {name!r}")
        return FileResponse(STATIC / name, media_type=FILES[name], headers=HEADERS)

    return r
