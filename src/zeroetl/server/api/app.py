"""The HTTP API application: bearer-token auth, JSON errors with stable codes, and routers.

`create_app(service)` builds it: the integrations router, `/metrics` and its JSON twins
(api/monitoring.py), `/v1/config` (api/settings.py), the web console at `/` and the API docs at
`/docs` (api/console.py).
Requests pass the `guard.RequestGuard` first: token checked from the headers before any body is
read, bodies capped at 1 MiB. The OpenAPI document shows every route's response model, example
and real error statuses; FastAPI's generic 422 is never answered (bad input is a 400) and is
taken out of it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from zeroetl import __version__
from zeroetl.catalog.errors import LifecycleError
from zeroetl.catalog.secrets import token_matches
from zeroetl.errors import ZeroEtlError
from zeroetl.server.api import schemas
from zeroetl.server.api.errors import http_status
from zeroetl.server.api.guard import RequestGuard, SourceCalls
from zeroetl.service.service import Service

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False)


class Unauthorized(LifecycleError):
    code = "Unauthorized"


def error_body(code: str, message: str, hint: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint}}


def create_app(
    service: Service, *, manage_lifecycle: bool = False, metrics_public: bool = False
) -> FastAPI:
    """The API over `service`. With `manage_lifecycle` the app starts and shuts the service down
    with the server (uvicorn's lifespan): a signal then stops the workers before exit.
    `metrics_public` serves `/metrics` without the token (for scrapers that cannot send one)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if manage_lifecycle:
            service.shutdown()

    app = FastAPI(
        title="zeroetl",
        version=__version__,
        description="Integrations from MySQL/MariaDB sources into this warehouse.",
        lifespan=lifespan,
        openapi_url=None,  # served below, behind the token like every route but /healthz
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service

    def require_token(
        creds: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> None:
        if creds is None or creds.scheme.lower() != "bearer":
            raise Unauthorized("missing bearer token", hint="send Authorization: Bearer <token>")
        if not token_matches(creds.credentials, service.api_token):
            raise Unauthorized("invalid bearer token", hint="see <warehouse>/api.token")

    @app.exception_handler(ZeroEtlError)
    async def _zeroetl_error(request: Request, exc: ZeroEtlError) -> JSONResponse:
        status = http_status(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(exc.code, exc.message, exc.hint), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: the body may hold a source URL with its password.
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
        return JSONResponse(
            error_body("InvalidParameter", "; ".join(parts) or "invalid request"), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HttpError")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            error_body("InternalError", f"unexpected {type(exc).__name__}"), status_code=500
        )

    @app.get("/healthz", tags=["service"], response_model=schemas.Health, responses={})
    async def healthz() -> dict[str, Any]:
        """Liveness (no token needed): the service answers. On the event loop itself, so no
        number of slow requests elsewhere can keep it from answering. HEAD works too (uptime
        checks)."""
        return {"status": "ok", "version": __version__}

    @app.head("/healthz", include_in_schema=False)
    async def healthz_head() -> Response:
        return Response(status_code=200, media_type="application/json")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    def openapi_document() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=API_DESCRIPTION,
                routes=app.routes,
                tags=TAGS,
            )
            app.openapi_schema = _without_422(doc)
        return app.openapi_schema

    app.openapi = openapi_document  # type: ignore[method-assign]

    from zeroetl.server.api import console, integrations, monitoring, settings
    from zeroetl.service.monitor import Monitor

    def public(method: str, path: str) -> bool:
        """Routes served without the token: liveness, the console's and the docs' static
        files (they hold no data), and /metrics when asked."""
        if path in ("/healthz", "/", "/docs") or path.startswith(("/console/", "/docs/")):
            return True
        return metrics_public and path == "/metrics"

    # Outermost: a caller without the token never gets a body read, whatever its size.
    app.add_middleware(RequestGuard, token=lambda: service.api_token, public=public)
    monitor = Monitor(service)
    token = [Depends(require_token)]
    app.include_router(integrations.router(service, SourceCalls()), dependencies=token)
    app.include_router(monitoring.router(monitor), dependencies=token)
    app.include_router(
        monitoring.metrics_router(monitor, public=metrics_public),
        dependencies=[] if metrics_public else token,
    )
    app.include_router(settings.router(service.config.settings), dependencies=token)
    app.include_router(console.router())
    return app


API_DESCRIPTION = """\
Integrations from MySQL/MariaDB sources into this warehouse.

**Authentication**: every route but `/healthz`, the console (`/`) and this documentation needs
`Authorization: Bearer <token>`: the token is `<warehouse>/api.token` (or the service's
`ZEROETL_API_TOKEN`). `/metrics` too, unless the service runs with `--metrics-public`.

**Errors** answer `{"error": {"code", "message", "hint"}}` with a stable code; each route lists
the statuses and codes it can answer. Any route may also answer 404 `NotFound` (no such route),
405 `MethodNotAllowed`, or 400 `InvalidParameter` for an invalid `Content-Length`. Bad input is
always a 400 naming the parameter, never a 422.

**Names and units**: a table is `schema` + `table`; a state comes with its `reason`; an
integration's current problems are `errors`, a list of `{code, message}`; durations are seconds
(`*_seconds`), sizes bytes; times are ISO 8601 UTC strings (`*_at`). Lists are pages: `limit`
(1-1000) and the previous page's `next_token` (`null`: no more).
"""

TAGS = [
    {"name": "integrations", "description": "Create, inspect, change and control integrations."},
    {"name": "databases", "description": "Target databases of the warehouse."},
    {"name": "monitoring", "description": "Prometheus metrics and their JSON twins."},
    {"name": "service", "description": "Liveness and the effective configuration."},
]


def _without_422(doc: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 for every route with parameters; this API answers bad input with
    a 400 (see the handler above), which each route documents itself."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas_ = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas_.pop(name, None)
    return doc
