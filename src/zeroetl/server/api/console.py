"""The web console: static files at `/` (no token needed: the page holds no data).

The page reads the API token from the URL fragment (`/#token=...`, which browsers never send)
or a login box, keeps it in sessionStorage and calls the JSON API with it, so every view it
shows has its JSON twin under `/v1`. Plain HTML, CSS and JavaScript; no build step, nothing
fetched from outside the machine (the Content-Security-Policy below forbids it anyway).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from zeroetl.catalog.errors import LifecycleError

STATIC = Path(__file__).resolve().parent.parent / "console"
FILES = {
    "app.js": "text/javascript",
    "charts.js": "text/javascript",
    "app.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
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
    status = 404


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)

    @r.get("/console/{name}")
    def asset(name: str) -> FileResponse:
        if name not in FILES:  # a fixed list: no path from the request reaches the filesystem
            raise ConsoleFileNotFound(f"no console file {name!r}")
        return FileResponse(STATIC / name, media_type=FILES[name], headers=HEADERS)

    return r
