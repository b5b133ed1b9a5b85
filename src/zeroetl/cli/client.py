"""How `zeroetl integration ...` finds the service and its token, and talks to it.

The service: `--api-url`, else `ZEROETL_API_URL`, else the address its warehouse recorded in
`service.json` when it started (the warehouse: `--warehouse`, else `ZEROETL_WAREHOUSE`, else
`.zeroetl/warehouse` when it exists), else http://127.0.0.1:8155. The token: `--api-token`,
else `ZEROETL_API_TOKEN`, else the warehouse's `api.token`. The implicit `.zeroetl/warehouse`
lends its token only when the address came from it or is the default, so a token is never
sent to a service it was not made for.

Exit statuses: 1 the API refused or the service cannot be reached (the error code is
printed); 2 usage: a URL that is not http(s)://HOST[:PORT], no token anywhere.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from zeroetl.catalog.secrets import TOKEN_ENV, TOKEN_FILE, read_token_file
from zeroetl.cli.options import DEFAULT_WAREHOUSE, with_settings
from zeroetl.cli.ports import local_api_url
from zeroetl.config import Settings

URL_ENV = "ZEROETL_API_URL"
DEFAULT_URL = "http://127.0.0.1:8155"


@dataclass(frozen=True)
class Target:
    url: str
    url_from: str  # where the address came from, for messages
    token: str | None
    token_from: str


def find_service(settings: Settings) -> Target:
    """The service's address and token, from flags, variables, zeroetl.toml and the local
    warehouse (config.py resolves the first three)."""
    explicit_wh = settings.warehouse
    wh = explicit_wh or (DEFAULT_WAREHOUSE if DEFAULT_WAREHOUSE.is_dir() else None)
    url_origin = settings.origin("api.url")
    if settings.api.url:
        url, url_from = settings.api.url, url_origin.where
    elif wh is not None and (recorded := local_api_url(wh)) is not None:
        url, url_from = recorded, f"{wh / 'service.json'}"
    else:
        url, url_from = DEFAULT_URL, "the default"
    check_url(url, url_from)
    token, token_from = None, ""
    if settings.api.token is not None:
        token = settings.api.token.reveal().strip()
        token_from = str(settings.origin("api.token").where)
    else:
        # A token file of the implicit warehouse goes only to the address it recorded (or the
        # default local one): never to a service named elsewhere.
        lend = explicit_wh or (wh if settings.api.url is None else None)
        if lend is not None and (token := read_token_file(lend)) is not None:
            token_from = str(lend / TOKEN_FILE)
    return Target(url.rstrip("/"), url_from, token, token_from)


def check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise click.UsageError(
            f"the service address {url!r} (from {where}) is not a URL: give it as "
            "http://HOST:PORT, e.g. http://127.0.0.1:8155"
        )


class Client:
    def __init__(self, target: Target, as_json: bool) -> None:
        self.target = target
        self.url = target.url
        self.as_json = as_json

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        import httpx

        t = self.target
        if t.token is None:
            raise click.UsageError(
                f"no API token for the service at {t.url}: pass --warehouse DIR (the service's "
                f"warehouse: its {TOKEN_FILE} is read), set {TOKEN_ENV}, or pass --api-token"
            )
        headers = {"Authorization": f"Bearer {t.token}"}
        try:
            resp = httpx.request(
                method, self.url + path, json=body, params=params, headers=headers, timeout=120
            )
        except httpx.HTTPError as exc:
            self.fail(
                "ServiceUnavailable",
                f"cannot reach the zeroetl service at {t.url} (from {t.url_from}): {exc}",
                f"is `zeroetl serve` running? pass --api-url, set {URL_ENV}, or --warehouse DIR "
                "for the address a local service recorded",
            )
        if resp.status_code == 204:
            return None
        try:
            data = resp.json()
        except ValueError:
            data = {"error": {"code": "HttpError", "message": resp.text[:200]}}
        if resp.status_code >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            hint = err.get("hint", "")
            if resp.status_code == 401:
                hint = (
                    f"the token came from {t.token_from}; the service's own is its warehouse's "
                    f"{TOKEN_FILE} (or its {TOKEN_ENV})"
                )
            self.fail(err.get("code", "HttpError"), err.get("message", ""), hint)
        return data

    def pages(self, path: str) -> list[Any]:
        items: list[Any] = []
        token: str | None = None
        while True:
            data = self.call(
                "GET", path, params={"limit": 1000, **({"next_token": token} if token else {})}
            )
            items.extend(data["items"])
            token = data.get("next_token")
            if not token:
                return items

    def fail(self, code: str, message: str, hint: str = "") -> NoReturn:
        if self.as_json:
            click.echo(json.dumps({"error": {"code": code, "message": message, "hint": hint}}))
        else:
            click.echo(f"error: {code}: {message}" + (f" ({hint})" if hint else ""), err=True)
        sys.exit(1)

    def show(self, data: Any, human: Callable[[Any], None]) -> None:
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            human(data)


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """--json, --config, --warehouse, --api-url and --api-token on every command; passes
    `client`. The warehouse's service.json gives the address, its api.token the token."""

    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @with_settings("api.url", "api.token", fallback_warehouse=DEFAULT_WAREHOUSE)
    @functools.wraps(f)
    def wrapper(settings: Settings, as_json: bool, **kw: Any) -> None:
        f(Client(find_service(settings), as_json), **kw)

    return wrapper
