"""Source URLs and connections. The password never leaves this module in clear text.

URL form: ``mysql://user[:password]@host[:port][/?option=value&...]`` with the options
``connect_timeout`` (seconds), ``ssl`` and two that name files on the user's own machine:
``password_file`` and ``ssl_ca``. ``ssl`` is one of

- ``preferred`` (default, as MySQL's own clients): TLS when the server offers it, nothing
  checked; against eavesdroppers only, so it never counts as protection for the password;
- ``disabled``: never TLS;
- ``required``: TLS or no connection; the server's certificate is not checked;
- ``verify``: TLS with the certificate checked against ``ssl_ca`` (else the system's CA store)
  and the host name: only this one proves who answers.

Who may read what: a URL that reaches the service through its API is someone else's input, so
`SourceParams.from_url` refuses the file options there and never falls back to the service's
own environment. Only the user's own processes (the CLI, `zeroetl replicate`, `source check`)
resolve them, with ``local=True`` or `client_side()`: they read the files and
``ZEROETL_SOURCE_PASSWORD`` and send the password (and the CA certificate's text) in the
request body. `str()` and `repr()` of `SourceParams` always redact the password.
"""

from __future__ import annotations

import math
import re
import ssl as ssl_lib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import pymysql

from zeroetl.config import env_value
from zeroetl.errors import ConfigError, InsecureSourceAuth, SourceAccessDenied, SourceUnavailable
from zeroetl.sources.mysql.auth import AuthRefused, GuardedConnection

DEFAULT_PORT = 3306
PASSWORD_ENV = "ZEROETL_SOURCE_PASSWORD"
SSL_MODES = ("preferred", "disabled", "required", "verify")
DEFAULT_SSL = "preferred"
FILE_OPTIONS = ("password_file", "ssl_ca")  # read only by the user's own processes
OPTIONS = ("connect_timeout", "ssl", *FILE_OPTIONS)
MAX_CONNECT_TIMEOUT = 300.0
MAX_CA_BYTES = 256 * 1024
# A query or write waits at most this long for the server unless the caller bounds it tighter
# (a silent network path would otherwise hang a snapshot forever; the binlog stream has its own).
DEFAULT_IO_TIMEOUT = 120.0
# Server errors that retrying with the same credentials cannot fix: access denied (1044, 1045,
# 1698), password expired (1820, 1862), account locked (3118 MySQL, 4151 MariaDB).
ACCESS_DENIED = frozenset({1044, 1045, 1698, 1820, 1862, 3118, 4151})
_SSL_REFUSED = 2026  # CR_SSL_CONNECTION_ERROR: the server offers no TLS


@dataclass(frozen=True)
class SourceParams:
    host: str
    port: int
    user: str
    password: str = field(default="", repr=False)
    connect_timeout: float = 10.0
    ssl: str = DEFAULT_SSL  # one of SSL_MODES
    ssl_ca: str | None = field(default=None, repr=False)  # PEM text (never a path)
    # Per read/write on the socket once connected (None: DEFAULT_IO_TIMEOUT). Not part of the
    # URL: callers that must answer quickly (validation, monitoring probes) set it lower; the
    # service sets the engine's source_read_timeout_s.
    io_timeout: float | None = None

    @classmethod
    def from_url(cls, url: str, *, local: bool = False) -> SourceParams:
        """Parse a source URL. `local=True` only in the user's own processes: it reads
        ``password_file``/``ssl_ca`` and falls back to ``ZEROETL_SOURCE_PASSWORD``."""
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ConfigError(
                "source URL must start with mysql:// or mariadb:// "
                f"(got {parts.scheme + '://' if parts.scheme else 'no scheme'})",
                hint="e.g. mysql://repl@db.example:3306",
            )
        if not parts.hostname:
            raise ConfigError("source URL has no host", hint="e.g. mysql://repl@db.example:3306")
        try:
            port = DEFAULT_PORT if parts.port is None else parts.port
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise ConfigError("source URL has an invalid port", hint="a number from 1 to 65535")
        query = _options(parts.query)
        if not local:
            _refuse_files(query)
        password = unquote(parts.password) if parts.password is not None else ""
        ssl_ca = None
        if local:
            if not password and "password_file" in query:
                password = _read_password(query["password_file"])
            if not password:
                password = env_password() or ""
            if "ssl_ca" in query:
                ssl_ca = read_ca_file(query["ssl_ca"])
        mode = _ssl_mode(query)
        if ssl_ca is not None and mode != "verify":
            raise ConfigError("ssl_ca is only used with ssl=verify", hint="add &ssl=verify")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "root"),
            password=password,
            connect_timeout=_timeout(query),
            ssl=mode,
            ssl_ca=ssl_ca,
        )

    def redacted_url(self) -> str:
        opts = "" if self.ssl == DEFAULT_SSL else f"/?ssl={self.ssl}"
        return f"mysql://{self.user}{':***' if self.password else ''}@{self.host}:{self.port}{opts}"

    def __str__(self) -> str:
        return self.redacted_url()

    def options(self) -> dict[str, object]:
        """What the catalog keeps beside host, port and user (the password is kept apart)."""
        return {"connect_timeout": self.connect_timeout, "ssl": self.ssl, "ssl_ca": self.ssl_ca}

    def _tls_options(self) -> dict[str, Any]:
        if self.ssl == "disabled":
            return {"ssl_disabled": True}
        if self.ssl == "preferred":
            return {}  # pymysql's default: TLS if offered, unverified
        return {"ssl": _context(self.ssl, self.ssl_ca), "tls_asked": True}

    def connect(self, **kw: object) -> pymysql.connections.Connection:
        """A plain SQL connection (autocommit, utf8mb4, UTC session time zone).

        The handshake is bounded by `connect_timeout` whatever the server does, only the
        authentication methods of `auth.GuardedConnection` are spoken, and TLS is used as the
        URL says. `io_timeout` (or `read_timeout`/`write_timeout`) bounds each read and
        write of the queries that follow."""
        io = DEFAULT_IO_TIMEOUT if self.io_timeout is None else self.io_timeout
        kw.setdefault("read_timeout", io)
        kw.setdefault("write_timeout", io)
        try:
            conn = GuardedConnection(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=self.connect_timeout,
                init_command="SET time_zone = '+00:00'",
                **self._tls_options(),
                **kw,  # type: ignore[arg-type]
            )
        except AuthRefused as exc:
            raise InsecureSourceAuth(
                f"refused to authenticate to {self.redacted_url()}: {exc.args[-1]}",
                hint=exc.hint,
            ) from None
        except pymysql.err.OperationalError as exc:
            raise self._connect_error(exc) from None
        except Exception as exc:  # a malformed handshake makes the driver raise anything
            raise SourceUnavailable(
                f"cannot connect to {self.redacted_url()}: unexpected answer from the server "
                f"during the handshake ({type(exc).__name__})",
                hint="is this a MySQL or MariaDB server?",
            ) from None
        return conn

    def _connect_error(
        self, exc: pymysql.err.OperationalError
    ) -> SourceUnavailable | SourceAccessDenied:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        text = scrub(str(exc.args[-1]), self.password)
        where = self.redacted_url()
        original = getattr(exc, "original_exception", None)
        if isinstance(original, ssl_lib.SSLCertVerificationError):
            return SourceUnavailable(
                f"cannot connect to {where}: the server's TLS certificate is not trusted "
                f"({original.verify_message})",
                hint="ssl=verify checks it against the CA certificate given with ssl_ca "
                "(source_ssl_ca in the API), else the system's CA store",
            )
        if isinstance(original, ssl_lib.SSLError):
            return SourceUnavailable(f"cannot connect to {where}: TLS handshake failed ({text})")
        if code == _SSL_REFUSED:
            return SourceUnavailable(
                f"cannot connect to {where}: the server does not offer TLS",
                hint="enable TLS on the server (ssl_cert, ssl_key) or remove ?ssl= from the URL",
            )
        if code in ACCESS_DENIED:
            return SourceAccessDenied(
                f"cannot connect to {where}: authentication failed: {text}",
                hint="if the password was changed on the source, give the new one with "
                "`zeroetl integration modify NAME --source-password`",
            )
        return SourceUnavailable(f"cannot connect to {where}: {text}")


def env_password() -> str | None:
    """ZEROETL_SOURCE_PASSWORD (or its _FILE), through config.py: the user's own process only."""
    secret = env_value("source.password")
    return secret.reveal() if secret is not None else None


def client_side(url: str) -> tuple[str, str | None, str | None]:
    """For the CLI: resolve what only the user's machine may read. Returns the URL without the
    file options, the password to send in the request body (None when the URL holds one or
    there is none) and the CA certificate's PEM text (None without ssl_ca)."""
    parts = urlsplit(url)
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        pairs = []
    options = dict(pairs)
    rest = [(k, val) for k, val in pairs if k not in FILE_OPTIONS]
    clean = urlunsplit(parts._replace(query=urlencode(rest)))
    password: str | None = None
    if not parts.password:
        if "password_file" in options:
            password = _read_password(options["password_file"])
        else:
            password = env_password()
    ca = None
    if "ssl_ca" in options:
        if options.get("ssl", "").lower() != "verify":
            raise ConfigError("ssl_ca is only used with ssl=verify", hint="add &ssl=verify")
        ca = read_ca_file(options["ssl_ca"])
    return clean, password, ca


def read_ca_file(path: str) -> str:
    try:
        data = Path(path).read_bytes()[: MAX_CA_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read CA file {path}: {exc.strerror}") from None
    pem = data.decode("ascii", "replace")
    check_ca(pem)
    return pem


def check_ca(pem: str) -> None:
    """A CA bundle must be PEM certificates that OpenSSL accepts (and not huge)."""
    if len(pem) > MAX_CA_BYTES or "-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(
            "the CA certificate must be PEM text (-----BEGIN CERTIFICATE-----), at most 256 KiB"
        )
    try:
        _context("verify", pem)
    except ssl_lib.SSLError as exc:
        raise ConfigError(f"the CA certificate is not valid PEM: {exc.reason}") from None


def scrub(text: str, secret: str) -> str:
    """Remove a secret from a message we did not write ourselves (driver errors).

    A long secret is replaced wherever it appears. A short one (a few characters) would match
    inside ordinary words ("a" is in "password"), so it is replaced only where it stands
    alone: not touching a letter or digit on either side."""
    if not secret:
        return text
    if len(secret) >= 8:
        return text.replace(secret, "***")
    return re.sub(rf"(?<![^\W_]){re.escape(secret)}(?![^\W_])", "***", text)


# --- options ----------------------------------------------------------------------------------


def _options(query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError("source URL has a malformed query string") from None
    for key, val in pairs:
        if key not in OPTIONS:
            raise ConfigError(
                f"source URL has an unknown option {key!r}",
                hint="known options: " + ", ".join(OPTIONS),
            )
        if key in out:
            raise ConfigError(f"source URL gives {key} more than once")
        out[key] = val
    return out


def _refuse_files(query: dict[str, str]) -> None:
    """The service reads no file named by a caller: the same answer whatever the path is, so
    nothing tells whether it exists."""
    if "password_file" in query:
        raise ConfigError(
            "the service does not read password_file: send the password in the request body "
            "(source_password)",
            hint="the CLI (`zeroetl integration create --source URL?password_file=...`) reads "
            "the file on your machine and sends it for you",
        )
    if "ssl_ca" in query:
        raise ConfigError(
            "the service does not read ssl_ca: send the CA certificate's PEM text in the request "
            "body (source_ssl_ca)",
            hint="the CLI reads ?ssl_ca=/path on your machine and sends it for you",
        )


def _timeout(query: dict[str, str]) -> float:
    raw = query.get("connect_timeout")
    if raw is None:
        return 10.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= MAX_CONNECT_TIMEOUT:
        raise ConfigError(
            f"connect_timeout must be a number of seconds above 0 and at most "
            f"{MAX_CONNECT_TIMEOUT:g} (got {raw[:20]!r})"
        )
    return value


def _ssl_mode(query: dict[str, str]) -> str:
    mode = query.get("ssl", DEFAULT_SSL).lower()
    if mode not in SSL_MODES:
        raise ConfigError(
            f"ssl must be one of {', '.join(SSL_MODES)} (got {query['ssl'][:20]!r})",
            hint="preferred (default): TLS if offered; required: always TLS; verify: TLS with "
            "the server's certificate and name checked; disabled: never TLS",
        )
    return mode


def _read_password(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not text"
        raise ConfigError(f"cannot read password file {path}: {why}") from None


@lru_cache(maxsize=64)
def _context(mode: str, ca_pem: str | None) -> ssl_lib.SSLContext:
    """required: TLS without checking who answers (against eavesdroppers only); verify: the
    certificate must chain to `ca_pem` (else the system store) and name the host."""
    if mode == "verify":
        ctx = ssl_lib.create_default_context(cadata=ca_pem)
        ctx.check_hostname = True
        ctx.verify_mode = ssl_lib.CERT_REQUIRED
    else:
        ctx = ssl_lib.SSLContext(ssl_lib.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl_lib.CERT_NONE
    ctx.minimum_version = ssl_lib.TLSVersion.TLSv1_2
    return ctx
