"""One connection abstraction over two transports: embedded chDB and a server over HTTP.

The destination speaks three verbs: `command` (DDL, no result), `query` (a result as Arrow) and
`insert` (an Arrow table into a table). chDB runs ClickHouse in this process; clickhouse-connect
talks to a server's HTTP interface. Both are ClickHouse 24+ with the same SQL, so everything
above this module is transport-blind.

Secrets: the server's password comes from the environment (`ZEROETL_CLICKHOUSE_PASSWORD`) or a
file (`ZEROETL_CLICKHOUSE_PASSWORD_FILE`), never from the URL (a URL is shown in logs).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa

from zeroetl.errors import ConfigError, DestinationError, DestinationUnavailable

from . import faults

# Arrow output: String columns as binary, so bytes that are not UTF-8 (BINARY/BLOB) survive;
# the reader casts text columns back to UTF-8 (read.py).
READ_SETTINGS = {"output_format_arrow_string_as_string": "0"}
# A tombstone carries only its key: NULLs elsewhere become the column default on insert.
INSERT_SETTINGS = {"input_format_null_as_default": "1"}
# The least time between two CDC commits (each one an insert per touched table, a new part each):
# a server wants about one insert per second per table ("Too many parts" otherwise); embedded
# chDB merges in this process and measured fine at five a second (docs/clickhouse.md, Loading).
# A URL's `?min_insert_interval_ms=` overrides it (0: commit as soon as the stream is quiet).
SERVER_INSERT_INTERVAL_MS = 1000
CHDB_INSERT_INTERVAL_MS = 200
INTERVAL_OPTION = "min_insert_interval_ms"


def insert_interval_ms(query: dict[str, list[str]], default: int) -> int:
    """The URL's `min_insert_interval_ms` (whole milliseconds, 0 to 60000), or `default`."""
    if INTERVAL_OPTION not in query:
        return default
    raw = query[INTERVAL_OPTION][-1]
    if not raw.isdigit() or int(raw) > 60_000:
        raise ConfigError(
            f"bad {INTERVAL_OPTION} in ClickHouse URL: {raw!r}",
            hint="whole milliseconds from 0 (commit at once) to 60000, e.g. 1000",
        )
    return int(raw)


def chdb_url_parts(url: str) -> tuple[str, int]:
    """`chdb:///dir?min_insert_interval_ms=N`: the directory and the interval (ms)."""
    _scheme, _sep, rest = url.partition("://")
    path = rest[1:] if rest.startswith("//") else rest
    path, _q, qs = path.partition("?")
    query = parse_qs(qs, keep_blank_values=True)
    unknown = set(query) - {INTERVAL_OPTION}
    if unknown or "#" in path:
        raise ConfigError(
            f"unknown chDB URL option(s): {', '.join(sorted(unknown)) or '#'}",
            hint=f"chdb:///path/to/dir or chdb:///path/to/dir?{INTERVAL_OPTION}=200",
        )
    return path, insert_interval_ms(query, CHDB_INSERT_INTERVAL_MS)


class Transport(Protocol):
    def command(self, sql: str) -> None: ...
    def query(self, sql: str, settings: dict[str, str] | None = None) -> pa.Table: ...
    def insert(
        self, table_sql: str, data: pa.Table, settings: dict[str, str] | None = None
    ) -> None: ...
    def close(self) -> None: ...


def _settings_clause(settings: dict[str, str]) -> str:
    """Settings as a query's SETTINGS clause: numbers as they are, text quoted (as an HTTP
    request would pass each value)."""
    return " SETTINGS " + ", ".join(f"{k} = {_setting(v)}" for k, v in settings.items())


def _setting(v: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Engine:
    """The process's one chDB session: shared by every ChdbTransport on its directory.

    chDB keeps one engine per process, so a second directory is refused with a clear message
    instead of corrupting state. Transports on the same directory (the service's worker and
    the SQL endpoint's reader) share the session, counted, and take turns through `lock`:
    a chDB session runs one statement at a time."""

    guard = threading.Lock()  # open/close
    path: Path | None = None
    session: Any = None
    users = 0
    lock = threading.RLock()  # one statement at a time


class ChdbTransport:
    """Embedded ClickHouse (chdb-core): a session on a data directory, in this process."""

    def __init__(self, path: Path, config_file: Path | None = None) -> None:
        """`config_file`: a ClickHouse server configuration for the engine (the cluster tests
        give one that defines a cluster of this process: docs/clickhouse.md)."""
        try:
            from chdb import session
        except ImportError as e:  # chdb-core is a dependency; an install without it says so
            raise ConfigError("chdb is not installed", hint="pip install chdb-core") from e
        self.path = Path(path)
        self._closed = False
        with _Engine.guard:
            if _Engine.path not in (None, self.path):
                raise DestinationError(
                    f"embedded ClickHouse is already open on {_Engine.path}",
                    hint="chDB runs one engine per process: one chdb:// directory at a time",
                )
            if _Engine.session is None:
                self.path.mkdir(parents=True, exist_ok=True)
                where = str(self.path)
                if config_file is not None:  # chDB passes URL parameters on as its options
                    where += f"?config-file={config_file}"
                _Engine.session = session.Session(where)
                _Engine.path = self.path
            _Engine.users += 1
        self._session = _Engine.session
        # Arrow reads take turns process-wide (see _run): the engine's statement lock.
        self._arrow_lock = _Engine.lock

    def _run(self, sql: str, fmt: str) -> Any:
        if fmt != "ArrowTable":
            return self._try(sql, fmt)
        # chDB 26.9 leaves the output of an Arrow query that failed while running (a division
        # by zero) in a buffer the next Arrow query reads, in any thread ("Message metadata too
        # long"): Arrow queries take turns, and an empty query takes the leftover out.
        with self._arrow_lock:
            try:
                return self._try(sql, fmt)
            except Exception:
                with contextlib.suppress(Exception):
                    self._session.query("SELECT 1 WHERE 0", fmt)
                raise

    def _try(self, sql: str, fmt: str) -> Any:
        try:
            with _Engine.lock:
                return self._session.query(sql, fmt)
        except Exception as e:  # chdb raises its own error classes (ChdbError, RuntimeError)
            raise faults.error("statement", str(e)) from e

    def command(self, sql: str) -> None:
        self._run(sql, "CSV")

    def query(self, sql: str, settings: dict[str, str] | None = None) -> pa.Table:
        clause = _settings_clause({**READ_SETTINGS, **(settings or {})})
        return self._run(sql + clause, "ArrowTable")  # type: ignore[no-any-return]

    def insert(
        self, table_sql: str, data: pa.Table, settings: dict[str, str] | None = None
    ) -> None:
        # chDB's Python() table function finds the Arrow table by name in the calling frame
        # (this one: hence no helper in between), and scans it zero-copy.
        zeroetl_rows = data  # noqa: F841 (read by name by the Python() table function)
        cols = ", ".join(_quote(n) for n in data.column_names)
        sql = f"INSERT INTO {table_sql} ({cols}) SELECT {cols} FROM Python(zeroetl_rows)"
        try:
            with _Engine.lock:
                clause = _settings_clause({**INSERT_SETTINGS, **(settings or {})})
                self._session.query(sql + clause, "CSV")
        except Exception as e:  # chdb raises its own error classes (ChdbError, RuntimeError)
            raise faults.error("insert", str(e)) from e

    def close(self) -> None:
        with _Engine.guard:
            if self._closed:
                return
            self._closed = True
            _Engine.users -= 1
            if _Engine.users > 0:
                return
            try:
                with _Engine.lock:
                    self._session.close()
            finally:
                _Engine.session = None
                _Engine.path = None


def chdb_open_on() -> Path | None:
    """The directory this process's chDB engine is open on, if any."""
    return _Engine.path


class HttpTransport:
    """A ClickHouse server (or a cluster's node) over HTTP(S), through clickhouse-connect."""

    def __init__(self, params: ServerParams, timeout_s: float | None = None) -> None:
        """`timeout_s`: bound connecting and each request (None: the client's defaults)."""
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self._errors: tuple[type[BaseException], ...] = (ClickHouseError,)
        timeouts: dict[str, Any] = {}
        if timeout_s is not None:
            timeouts = {"connect_timeout": timeout_s, "send_receive_timeout": timeout_s}
        try:
            self._client = clickhouse_connect.get_client(
                host=params.host,
                port=params.port,
                username=params.user,
                password=params.password(),
                secure=params.secure,
                settings={"mutations_sync": "2"},
                # No server session: the client may then serve several threads at once (a
                # session runs one query at a time), and nothing here needs session state.
                autogenerate_session_id=False,
                **timeouts,
            )
        except Exception as e:  # unreachable server, TLS, auth: retried by the engine
            raise DestinationUnavailable(
                f"cannot reach ClickHouse at {params.redacted()}: {type(e).__name__}",
                hint="check the host, port and ZEROETL_CLICKHOUSE_PASSWORD",
            ) from e

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """The server's refusal: DestinationError; a network fault: DestinationUnavailable
        (the engine retries it)."""
        try:
            yield
        except self._errors as e:
            raise faults.error(what, str(e)) from e
        except OSError as e:
            raise DestinationUnavailable(f"ClickHouse {what}: {e}") from e

    def command(self, sql: str) -> None:
        with self._guard("command"):
            self._client.command(sql)

    def query(self, sql: str, settings: dict[str, str] | None = None) -> pa.Table:
        with self._guard("query"):
            return self._client.query_arrow(  # type: ignore[no-any-return]
                sql, settings={**READ_SETTINGS, **(settings or {})}
            )

    def insert(
        self, table_sql: str, data: pa.Table, settings: dict[str, str] | None = None
    ) -> None:
        with self._guard("insert"):
            # `table_sql` is already quoted (db.table): no database argument, no re-quoting.
            from clickhouse_connect.driver.query import arrow_buffer

            names, block = arrow_buffer(data)  # Arrow IPC file, as the client's insert_arrow
            self._client.raw_insert(
                table_sql,
                [_quote(n) for n in names],
                block,
                settings={**INSERT_SETTINGS, **(settings or {})},
                fmt="Arrow",
            )

    def close(self) -> None:
        self._client.close()


def _quote(name: str) -> str:
    """A ClickHouse identifier, quoted exactly (backquotes; backslash and backquote escaped)."""
    if "\x00" in name:
        raise ValueError("identifier contains a NUL character")
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass(frozen=True)
class ServerParams:
    host: str
    port: int
    user: str
    secure: bool
    cluster: str
    insert_interval_ms: int = SERVER_INSERT_INTERVAL_MS

    def password(self) -> str:
        path = os.environ.get("ZEROETL_CLICKHOUSE_PASSWORD_FILE")
        if path:
            return Path(path).read_text().strip()
        return os.environ.get("ZEROETL_CLICKHOUSE_PASSWORD", "")

    def redacted(self) -> str:
        return f"clickhouse://{self.user}@{self.host}:{self.port}/"

    @classmethod
    def from_url(cls, url: str) -> ServerParams:
        """`clickhouse://user@host:8123/?cluster=NAME&secure=1&min_insert_interval_ms=1000`
        (no password in the URL)."""
        parts = urlsplit(url)
        if parts.password is not None:
            raise ConfigError(
                "a password in a ClickHouse URL would show in logs",
                hint="set ZEROETL_CLICKHOUSE_PASSWORD (or ZEROETL_CLICKHOUSE_PASSWORD_FILE)",
            )
        if not parts.hostname:
            raise ConfigError(
                f"not a ClickHouse URL: {url!r}",
                hint="clickhouse://user@host:8123/?cluster=NAME&secure=1",
            )
        query = parse_qs(parts.query)
        unknown = set(query) - {"cluster", "secure", INTERVAL_OPTION}
        if unknown:
            raise ConfigError(f"unknown ClickHouse URL option(s): {', '.join(sorted(unknown))}")
        secure = query.get("secure", ["0"])[-1] in ("1", "true", "yes")
        try:
            port = parts.port or (8443 if secure else 8123)
        except ValueError as e:
            raise ConfigError(f"bad port in ClickHouse URL: {e}") from None
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "default"),
            secure=secure,
            cluster=query.get("cluster", [""])[-1],
            insert_interval_ms=insert_interval_ms(query, SERVER_INSERT_INTERVAL_MS),
        )
