"""What the API does before any route sees a request, and how it runs calls that reach a source.

`RequestGuard` (ASGI middleware) checks the bearer token from the headers alone, so a caller
without it gets 401 before a byte of the body is read, and caps the body of those with it
(413 beyond MAX_BODY, whether announced by Content-Length or not).

`SourceCalls` runs validation that contacts a source (create, password rotation) on daemon
threads of its own, at most `slots` at once: whatever the sources do, the event loop (and so
/healthz and a SIGTERM) stays free, the shared thread pool of the other routes is not used up,
and nothing waits for such a thread at exit. Each call is bounded by the source timeouts
(sources/mysql/prereq.py); when every slot stays busy a caller gets 503 after `wait_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from zeroetl.catalog.errors import LifecycleError
from zeroetl.catalog.secrets import token_matches

MAX_BODY = 1024 * 1024

T = TypeVar("T")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ServiceBusy(LifecycleError):
    code = "ServiceBusy"


class RequestGuard:
    def __init__(
        self,
        app: Any,
        *,
        token: Callable[[], str],
        public: Callable[[str, str], bool],
        max_body: int = MAX_BODY,
    ) -> None:
        self.app = app
        self.token = token
        self.public = public
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not self.public(scope["method"], scope["path"]):
            problem = self._auth_problem(headers.get(b"authorization", b""))
            if problem:
                await _answer(send, 401, "Unauthorized", *problem)
                return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or len(length) > 18:
                await _answer(send, 400, "InvalidParameter", "invalid Content-Length")
                return
            if int(length) > self.max_body:
                await _answer(send, 413, "PayloadTooLarge", *self._too_large())
                return
        body = b""
        more = scope["method"] not in ("GET", "HEAD", "DELETE", "OPTIONS") or length is not None
        while more:  # at most max_body bytes are ever held
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _answer(send, 413, "PayloadTooLarge", *self._too_large())
                return
            more = message.get("more_body", False)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # waits for the disconnect, as the server's would

        await self.app(scope, replay, send)

    def _auth_problem(self, header: bytes) -> tuple[str, str] | None:
        scheme, _, given = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return "missing bearer token", "send Authorization: Bearer <token>"
        if not token_matches(given.strip(), self.token()):
            return "invalid bearer token", "see <warehouse>/api.token"
        return None

    def _too_large(self) -> tuple[str, str]:
        return f"request body larger than {self.max_body} bytes", ""


async def _answer(send: Send, status: int, code: str, message: str, hint: str = "") -> None:
    body = json.dumps({"error": {"code": code, "message": message, "hint": hint}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SourceCalls:
    def __init__(self, slots: int = 8, wait_s: float = 10.0) -> None:
        self.slots = threading.BoundedSemaphore(slots)
        self.wait_s = wait_s

    async def run(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        deadline = time.monotonic() + self.wait_s
        while not self.slots.acquire(blocking=False):  # loop-agnostic; contention is rare
            if time.monotonic() > deadline:
                raise ServiceBusy(
                    "too many source checks are under way (sources slow to answer)",
                    hint="retry in a few seconds",
                )
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():
                return  # the caller went away (cancelled): nobody to tell
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def work() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(*args, **kw)
            except BaseException as exc:
                error = exc
            finally:
                self.slots.release()
            with contextlib.suppress(RuntimeError):  # the loop is closed: the service stopped
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=work, name="source-check", daemon=True).start()
        return await future
