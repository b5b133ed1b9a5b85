"""Which authentication exchanges we take part in, and a handshake that always ends.

pymysql speaks every method a server asks for, including two that hand the password to
whoever answers: an auth switch to ``mysql_clear_password`` (or ``dialog``) makes it send the
password in clear, and ``caching_sha2_password``'s "full authentication" (or
``sha256_password``) on a connection without TLS makes it ask the *server* for an RSA public
key and encrypt the password with it, so a fake server supplying its own key reads the
password. `GuardedConnection` keeps pymysql's protocol code and changes the decisions:

- only ``mysql_native_password`` and ``caching_sha2_password`` (scrambles: no password on the
  wire) are spoken, plus ``sha256_password``/``caching_sha2_password`` full authentication
  inside TLS the user asked for (``?ssl=required|verify``; ``verify`` also proves who
  answers). Opportunistic TLS (pymysql's default, our ``ssl=preferred``) does not count: it
  checks nothing, so a fake server offering TLS would read the password inside it.
  Everything else is refused before a byte of the password is sent;
- the whole handshake (TCP connect, greeting, authentication, session set-up) ends within
  about twice `connect_timeout`, whatever the server sends or withholds.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pymysql
from pymysql import _auth
from pymysql.constants import CR

from zeroetl.errors import SourceUnavailable

SCRAMBLES = (b"mysql_native_password", b"caching_sha2_password")
FULL_AUTH = (b"caching_sha2_password", b"sha256_password")
TLS_HINT = (
    "add ?ssl=verify (or ?ssl=required) to the source URL so the password travels inside TLS, "
    "or use an account with mysql_native_password"
)


class AuthRefused(pymysql.err.OperationalError):
    """The server asked for an exchange that would expose the password."""

    def __init__(self, message: str, hint: str = TLS_HINT) -> None:
        super().__init__(CR.CR_AUTH_PLUGIN_CANNOT_LOAD, message)
        self.hint = hint


_PREFERRED_CTX: ssl.SSLContext | None = None
_PREFERRED_LOCK = threading.Lock()


def preferred_context() -> ssl.SSLContext:
    """pymysql's context for `ssl={}` (`ssl.create_default_context()`, then no certificate or
    host name checked) without the system's CA store, which it would never consult: loading
    it cost ~20-80 ms of CPU, paid once a process on the first source connection (a stream's
    start, each `replicate` run). The protocol versions and options are the default
    context's."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class GuardedConnection(pymysql.connections.Connection):
    def __init__(self, *args: Any, tls_asked: bool = False, **kw: Any) -> None:
        """`tls_asked`: the user required TLS (`ssl=required|verify`), so the password may
        travel inside it."""
        self.tls_asked = tls_asked
        kw["auth_plugin_map"] = {
            "caching_sha2_password": _CachingSha2,
            "sha256_password": _Sha256,
        }
        super().__init__(*args, **kw)

    def _create_ssl_ctx(self, sslp: Any) -> Any:
        """The context for opportunistic TLS (`ssl=preferred`: `sslp` empty, nothing
        verified) is made once per process and shared (pymysql makes one per connection)."""
        global _PREFERRED_CTX
        if sslp:  # asked for (required, verify): made as pymysql makes it
            return super()._create_ssl_ctx(sslp)
        with _PREFERRED_LOCK:
            if _PREFERRED_CTX is None:
                _PREFERRED_CTX = preferred_context()
            return _PREFERRED_CTX

    def connect(self, sock: Any = None) -> None:
        """Every read and write of the handshake waits at most `connect_timeout`, and a
        watchdog closes the socket once the whole of it has taken twice that."""
        read: float | None = self._read_timeout  # type: ignore[has-type]
        write: float | None = self._write_timeout  # type: ignore[has-type]
        self._read_timeout = self._write_timeout = self.connect_timeout
        try:
            with deadline(self, 2 * float(self.connect_timeout or 10)):
                super().connect(sock)
        finally:
            self._read_timeout, self._write_timeout = read, write
        if self._sock is not None:
            self._sock.settimeout(read)
            self._current_timeout = read

    def query(self, sql: Any, unbuffered: bool = False) -> int:
        """A query whose connection dies (reset, timeout, cut mid-packet: pymysql says
        OperationalError 2xxx, InternalError on a broken packet sequence, or a bare OSError)
        raises SourceUnavailable, which the engine retries, wherever in the source code it
        was issued; errors the server itself sent pass through unchanged."""
        try:
            return int(super().query(sql, unbuffered))
        except (pymysql.err.Error, OSError) as exc:  # Error: "Already closed"
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            if 0 < code < 2000 or isinstance(exc, pymysql.err.ProgrammingError):
                raise  # the server answered with an error: not a lost connection
            if isinstance(exc, AuthRefused):
                raise
            what = str(exc.args[-1]) if exc.args else str(exc)
            raise SourceUnavailable(
                f"lost the connection to the source {self.host}:{self.port}: {what}"
            ) from None

    def _process_auth(self, plugin_name: bytes, auth_packet: Any, handler: Any = None) -> Any:
        """An auth switch request: only to a method on the allow-list."""
        if plugin_name not in SCRAMBLES and plugin_name not in FULL_AUTH:
            name = plugin_name.decode("ascii", "replace")[:64] if plugin_name else "?"
            what = (
                "which sends the password in clear text"
                if name in ("mysql_clear_password", "dialog")
                else "which zeroetl does not use"
            )
            raise AuthRefused(
                f"the server asked for the {name!r} authentication method, {what}",
                hint="zeroetl authenticates with mysql_native_password or "
                "caching_sha2_password; if this really is your server, change the replication "
                "user's authentication plugin",
            )
        return super()._process_auth(plugin_name, auth_packet, handler)


def _require_tls(conn: GuardedConnection, what: str) -> None:
    if not conn._secure:
        raise AuthRefused(
            f"the server asked for {what}, which needs the password itself: refused on a "
            "connection without TLS (the password would be encrypted with a key the server "
            "provides, which a fake server can supply)"
        )
    if not conn.tls_asked:
        raise AuthRefused(
            f"the server asked for {what}, which needs the password itself: refused inside "
            "TLS that was not asked for (ssl=preferred checks nothing: a fake server offering "
            "TLS would read the password)"
        )


class _CachingSha2:
    """caching_sha2_password as pymysql does it, but full authentication only inside TLS."""

    def __init__(self, conn: GuardedConnection) -> None:
        self.conn = conn

    def authenticate(self, pkt: Any) -> Any:
        conn = self.conn
        if not conn.password:
            return _auth._roundtrip(conn, b"")
        if pkt.is_auth_switch_request():
            salt = pkt.read_all()
            conn.salt = salt[:-1] if salt.endswith(b"\0") else salt
            pkt = _auth._roundtrip(conn, _auth.scramble_caching_sha2(conn.password, conn.salt))
        if not pkt.is_extra_auth_data():
            raise pymysql.err.OperationalError(
                CR.CR_AUTH_PLUGIN_ERR, "caching_sha2_password: unexpected packet"
            )
        pkt.advance(1)
        result = pkt.read_uint8()
        if result == 3:  # fast authentication succeeded; an OK packet follows
            pkt = conn._read_packet()
            pkt.check_error()
            return pkt
        if result != 4:
            raise pymysql.err.OperationalError(
                CR.CR_AUTH_PLUGIN_ERR, f"caching_sha2_password: unknown result {result}"
            )
        _require_tls(conn, "caching_sha2_password full authentication")
        return _auth._roundtrip(conn, conn.password + b"\0")


class _Sha256:
    """sha256_password: the password itself, so only inside TLS."""

    def __init__(self, conn: GuardedConnection) -> None:
        self.conn = conn

    def authenticate(self, pkt: Any) -> Any:
        conn = self.conn
        if not conn.password:
            return _auth._roundtrip(conn, b"")
        _require_tls(conn, "sha256_password authentication")
        return _auth._roundtrip(conn, conn.password + b"\0")


@contextlib.contextmanager
def deadline(conn: pymysql.connections.Connection, seconds: float) -> Iterator[None]:
    """Shut `conn`'s socket down if the block is still running after `seconds`: whatever read
    or write it is blocked in fails at once (per-call timeouts alone let a server trickle one
    byte at a time forever)."""

    def expire() -> None:
        sock = getattr(conn, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
