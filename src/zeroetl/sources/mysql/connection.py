"""Source URLs and connections. The password never leaves this module in clear text.

URL form: ``mysql://user[:password]@host[:port][/?option=value]``. The password may also come
from ``ZEROETL_SOURCE_PASSWORD`` or ``?password_file=/path``; ``str()`` and ``repr()`` of
`SourceParams` always redact it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql

from zeroetl.errors import ConfigError, SourceAccessDenied, SourceUnavailable

DEFAULT_PORT = 3306
PASSWORD_ENV = "ZEROETL_SOURCE_PASSWORD"
# Server errors that retrying with the same credentials cannot fix: access denied (1044, 1045,
# 1698), password expired (1820, 1862), account locked (3118 MySQL, 4151 MariaDB).
ACCESS_DENIED = frozenset({1044, 1045, 1698, 1820, 1862, 3118, 4151})


@dataclass(frozen=True)
class SourceParams:
    host: str
    port: int
    user: str
    password: str = field(default="", repr=False)
    connect_timeout: float = 10.0
    # A query or write waits at most this long for the server (a silent network path would
    # otherwise hang a snapshot forever); the binlog stream has its own, shorter timeout.
    read_timeout: float = 120.0

    @classmethod
    def from_url(cls, url: str) -> SourceParams:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ConfigError(
                f"source URL must start with mysql:// (got {parts.scheme or 'no scheme'}://)",
                hint="e.g. mysql://repl@db.example:3306",
            )
        if not parts.hostname:
            raise ConfigError("source URL has no host", hint="e.g. mysql://repl@db.example:3306")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise ConfigError("source URL has an invalid port") from exc
        query = parse_qs(parts.query)
        password = unquote(parts.password) if parts.password is not None else ""
        if not password and "password_file" in query:
            path = Path(query["password_file"][0])
            try:
                password = path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read password file {path}: {exc.strerror}") from None
        if not password:
            password = os.environ.get(PASSWORD_ENV, "")
        timeout = float(query.get("connect_timeout", ["10"])[0])
        read_timeout = float(query.get("read_timeout", ["120"])[0])
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "root"),
            password=password,
            connect_timeout=timeout,
            read_timeout=read_timeout,
        )

    def redacted_url(self) -> str:
        return f"mysql://{self.user}{':***' if self.password else ''}@{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.redacted_url()

    def connect(self, **kw: object) -> pymysql.connections.Connection:
        """A plain SQL connection (autocommit, utf8mb4, UTC session time zone)."""
        try:
            conn = pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=self.connect_timeout,
                init_command="SET time_zone = '+00:00'",
                **{"read_timeout": self.read_timeout, "write_timeout": self.read_timeout, **kw},  # type: ignore[arg-type]
            )
        except pymysql.err.OperationalError as exc:
            why = scrub(str(exc.args[-1]), self.password)
            if exc.args and exc.args[0] in ACCESS_DENIED:
                raise SourceAccessDenied(
                    f"{self.redacted_url()} rejected the credentials: {why}",
                    hint="fix the password or grants, then modify or refresh the integration",
                ) from None
            raise SourceUnavailable(f"cannot connect to {self.redacted_url()}: {why}") from None
        return conn


def scrub(text: str, secret: str) -> str:
    """Remove a secret from a message we did not write ourselves (driver errors)."""
    return text.replace(secret, "***") if secret else text
