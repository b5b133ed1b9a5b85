"""The SQL endpoint's TCP server: start-up, TLS, SCRAM authentication, cancel requests.

`PgServer` runs on an asyncio loop, either the caller's (`await start()` / `serve_forever()`) or
its own thread (`start_in_thread()`), so the service can run it beside its HTTP API. Each accepted
connection gets a worker thread that owns its SQL session; cancel requests arrive on a separate
connection and are matched to a session by its backend key data (pid + secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import ssl
import threading
from collections.abc import Callable
from typing import Any

from zeroetl.server.pgwire import messages as m
from zeroetl.server.pgwire.auth import MECHANISM, Authenticator, AuthFailed, wants_md5
from zeroetl.server.pgwire.session import Session, as_wire_error
from zeroetl.server.pgwire.worker import SessionWorker

log = logging.getLogger("zeroetl.pgwire")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5439
# A plain PostgreSQL 15 version. psql, libpq (psycopg 2/3, psqlODBC) and pgJDBC read the major
# version from it and pick their catalog queries accordingly (Redshift's own `8.0.2` would send
# psql to pre-9 catalogs it refuses to use); redshift_connector parses it with
# `packaging.version`, which refuses any suffix such as `15.0 (zeroetl)`. Kept equal to
# zeroetl.server.sql.catalog.SERVER_VERSION (what `SHOW server_version` and version() say).
SERVER_VERSION = "15.0"
AUTH_TIMEOUT_S = 60.0

SessionFactory = Callable[[str, str], Any]  # (database, user) -> SqlSession-like object


def startup_settings(options: str) -> list[tuple[str, str]]:
    """`-c name=value` / `--name=value` pairs of a startup `options` parameter (spaces escaped with
    a backslash, as libpq does), each value quoted as a SQL string."""
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in options:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c" and i + 1 < len(words):
            word, i = words[i + 1], i + 1
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            raise m.ProtocolViolation(f"invalid command-line argument in startup options: {word}")
        name, sep, value = word.partition("=")
        if not sep or not name.replace("_", "a").replace(".", "a").isalnum():
            raise m.ProtocolViolation(f"invalid setting in startup options: {word}")
        pairs.append((name, "'" + value.replace("'", "''") + "'"))
        i += 1
    return pairs


def _fatal(sqlstate: str, msg: str) -> bytes:
    return m.error_response("FATAL", sqlstate, msg)


class PgServer:
    """PostgreSQL wire protocol v3 endpoint in front of a SQL session factory."""

    def __init__(
        self,
        host: str,
        port: int,
        auth: Authenticator,
        session_factory: SessionFactory,
        ssl_context: ssl.SSLContext | None = None,
        *,
        require_tls: bool = False,
        max_sessions: int = 100,
    ) -> None:
        self.host, self.port = host, port
        self.auth = auth
        self.session_factory = session_factory
        self.ssl_context = ssl_context
        self.require_tls = require_tls and ssl_context is not None
        self.max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._sessions: dict[int, tuple[int, Session]] = {}  # pid -> (secret, session)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pids = itertools.count((os.getpid() % 1000) * 100_000 + 1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen; `self.port` becomes the bound port (useful with port 0)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("SQL endpoint listening on %s:%d", self.host, self.port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def start_in_thread(self) -> int:
        """Run the server on its own event loop thread; returns the bound port."""
        ready = threading.Event()
        error: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=main, name="pgwire-server", daemon=True)
        self._thread.start()
        ready.wait()
        if error:
            raise error[0]
        return self.port

    def stop_in_thread(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # ---------------------------------------------------------------- connections

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client went away (psql does this before prompting for a password)
        except m.ProtocolViolation as exc:
            with contextlib.suppress(Exception):
                writer.write(_fatal("08P01", str(exc)))
                await writer.drain()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                writer.write(_fatal("57P01", "terminating connection due to administrator command"))
        except Exception:
            log.exception("SQL endpoint connection failed")
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _startup(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, str] | None:
        """Negotiate TLS and read the StartupMessage; None for a cancel request."""
        tls = False
        while True:
            code, payload = await m.read_startup(reader)
            if code == m.SSL_REQUEST and not tls:
                if self.ssl_context is None:
                    writer.write(b"N")
                    continue
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self.ssl_context)
                tls = True
                continue
            if code == m.GSSENC_REQUEST:
                writer.write(b"N")
                continue
            if code == m.CANCEL_REQUEST:
                b = m.Buffer(payload)
                self._cancel(b.int32(), b.int32())
                return None
            if code >> 16 != 3:
                writer.write(
                    _fatal("0A000", f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}")
                )
                return None
            params = m.parse_startup_params(payload)
            unknown = [k for k in params if k.startswith("_pq_.")]
            if (code & 0xFFFF) > 0 or unknown:
                writer.write(m.negotiate_protocol_version(0, unknown))
            if self.require_tls and not tls:
                writer.write(_fatal("28000", "the SQL endpoint requires TLS (sslmode=require)"))
                return None
            return params

    def _cancel(self, pid: int, secret: int) -> None:
        entry = self._sessions.get(pid)
        if entry is not None and secrets.compare_digest(
            entry[0].to_bytes(4, "big", signed=True), secret.to_bytes(4, "big", signed=True)
        ):
            entry[1].request_cancel()

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, params: dict[str, str]
    ) -> None:
        user = params["user"]
        if wants_md5(params):
            await self._authenticate_md5(reader, writer, user)
            return
        exchange = self.auth.exchange(user)
        writer.write(m.auth_sasl([MECHANISM]))
        await writer.drain()
        kind, payload = await m.read_message(reader, m.MAX_AUTH_MESSAGE_LEN)
        if kind != b"p":
            raise AuthFailed("expected SASLInitialResponse", "08P01")
        b = m.Buffer(payload)
        if b.cstr() != MECHANISM:
            raise AuthFailed("unsupported SASL mechanism", "08P01")
        first = b.take(b.int32())
        writer.write(m.auth_sasl_continue(exchange.first(first)))
        await writer.drain()
        kind, payload = await m.read_message(reader, m.MAX_AUTH_MESSAGE_LEN)
        if kind != b"p":
            raise AuthFailed("expected SASLResponse", "08P01")
        writer.write(m.auth_sasl_final(exchange.final(payload)))
        writer.write(m.auth_ok())

    async def _authenticate_md5(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: str
    ) -> None:
        """Redshift drivers: MD5 challenge and response (auth.py says why)."""
        exchange = self.auth.md5_exchange(user)
        writer.write(m.auth_md5(exchange.salt))
        await writer.drain()
        kind, payload = await m.read_message(reader, m.MAX_AUTH_MESSAGE_LEN)
        if kind != b"p":
            raise AuthFailed("expected PasswordMessage", "08P01")
        exchange.check(payload)
        writer.write(m.auth_ok())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        params = await asyncio.wait_for(self._startup(reader, writer), AUTH_TIMEOUT_S)
        if params is None:
            await writer.drain()
            return
        user = params.get("user", "")
        database = params.get("database") or user
        if not user:
            writer.write(_fatal("28000", "no user name given in the startup packet"))
            return
        try:
            await asyncio.wait_for(self._authenticate(reader, writer, params), AUTH_TIMEOUT_S)
        except AuthFailed as exc:
            msg = (
                f'password authentication failed for user "{user}"'
                if exc.sqlstate == "28P01"
                else str(exc)
            )
            log.info("SQL endpoint: %s", msg)
            writer.write(_fatal(exc.sqlstate, msg))
            await writer.drain()
            return
        if len(self._sessions) >= self.max_sessions:
            writer.write(_fatal("53300", "sorry, too many clients already"))
            await writer.drain()
            return
        pid, secret = next(self._pids), secrets.randbits(31)
        pool = SessionWorker(f"pgwire-{pid}")
        sql: Any = None
        try:
            settings = startup_settings(params.get("options", ""))  # bad: FATAL 08P01
            try:
                sql = await pool.run(self.session_factory, database, user)
                for name, value in settings:
                    # libpq's options / PGOPTIONS: `-c statement_timeout=5s`, as SET would.
                    await pool.run(sql.execute, f"SET {name} = {value}")
            except Exception as exc:
                err = as_wire_error(exc)
                writer.write(_fatal(err.sqlstate, err.message))
                await writer.drain()
                return
            session = Session(reader, writer, sql, pool)
            self._sessions[pid] = (secret, session)
            for name, value in self._parameters(params, user).items():
                writer.write(m.parameter_status(name, value))
            writer.write(m.backend_key_data(pid, secret))
            await session.serve()
        finally:
            self._sessions.pop(pid, None)
            if sql is not None:
                close = sql.close
                with contextlib.suppress(Exception):
                    sql.cancel()  # a query may still run on the worker after a disconnect
                pool.submit(close)
            pool.shutdown(wait=False)

    @staticmethod
    def _parameters(params: dict[str, str], user: str) -> dict[str, str]:
        return {
            "application_name": params.get("application_name", ""),
            "client_encoding": "UTF8",
            "DateStyle": "ISO, MDY",
            "default_transaction_read_only": "off",
            "in_hot_standby": "off",
            "integer_datetimes": "on",
            "IntervalStyle": "postgres",
            "is_superuser": "off",
            "server_encoding": "UTF8",
            "server_version": SERVER_VERSION,
            "session_authorization": user,
            "standard_conforming_strings": "on",
            "TimeZone": "UTC",
        }
