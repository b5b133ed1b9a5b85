"""Session parameters: SET, RESET and SHOW as PostgreSQL clients use them, never DuckDB's options.

`search_path`, `timezone` and `statement_timeout` take effect; other PostgreSQL parameters that
clients send (application_name, extra_float_digits, DateStyle ...) are kept and shown back.
DuckDB's own options (memory_limit, enable_external_access, threads ...) are refused whatever the
form (SET, SET GLOBAL, RESET): the hub's configuration is the service's, and locked anyway.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import duckdb

from . import catalog
from .errors import SqlError
from .limits import format_timeout, parse_timeout
from .policy import EMULATION_SCHEMA, METADATA_SCHEMA, Kind, Policy, Principal, Touch

SHOW_DEFAULTS: dict[str, str] = {
    "server_version": catalog.SERVER_VERSION, "server_version_num": "150000",
    "server_encoding": "UTF8", "client_encoding": "UTF8", "standard_conforming_strings": "on",
    "transaction isolation level": "repeatable read", "transaction_isolation": "repeatable read",
    "default_transaction_isolation": "repeatable read", "timezone": "UTC",
    "datestyle": "ISO, MDY", "intervalstyle": "postgres", "integer_datetimes": "on",
    "is_superuser": "off", "max_identifier_length": "63", "application_name": "",
    "default_transaction_read_only": "on", "transaction_read_only": "on",
    "lc_collate": "C.UTF-8", "lc_ctype": "C.UTF-8", "extra_float_digits": "1",
    "statement_timeout": "0", "bytea_output": "hex", "query_all_states": "off",
    "enable_result_cache_for_session": "on",
}  # fmt: skip

# Redshift's and PostgreSQL's default ("$user" names no schema here: there are none per user).
DEFAULT_SEARCH_PATH = '"$user", public'

# PostgreSQL parameters handled here even though DuckDB has an option of the same name.
_OURS = {"search_path", "schema", "timezone", "statement_timeout"}
_HIDDEN = {METADATA_SCHEMA, EMULATION_SCHEMA}

_options: frozenset[str] | None = None
_lock = threading.Lock()


def duckdb_options(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """DuckDB's option names, lower-cased (read once per process)."""
    global _options
    with _lock:
        if _options is None:
            rows = con.execute("SELECT lower(name) FROM duckdb_settings()").fetchall()
            _options = frozenset(r[0] for r in rows)
        return _options


def unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1].replace(v[0] * 2, v[0])
    return v


class SessionParams:
    """One session's parameters; `apply_*` callbacks push the effective ones into DuckDB."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        who: Principal,
        policy: Policy,
        *,
        timeout_ms: int,
        apply_search_path: Callable[[list[str]], None],
        public_schema: str = "main",
    ) -> None:
        self._con = con
        self._who = who
        self._policy = policy
        self._apply_search_path = apply_search_path
        self.default_timeout_ms = timeout_ms
        self.timeout_ms = timeout_ms
        # The schema the user calls `public`: dev's own public schema, DuckDB's `main` elsewhere.
        self.public = public_schema
        self.schemas = [public_schema]
        self.values: dict[str, str] = dict(SHOW_DEFAULTS)
        self.values["statement_timeout"] = format_timeout(timeout_ms)

    def _refuse_duckdb_option(self, name: str) -> None:
        if name not in _OURS and name in duckdb_options(self._con):
            self._policy.check([Touch(Kind.SETTING, name)], self._who)

    def set(self, name: str, value: str, scope: str = "") -> None:
        if scope == "VARIABLE":
            self._policy.check([Touch(Kind.STATEMENT, "SET VARIABLE")], self._who)
        if scope == "GLOBAL":  # not PostgreSQL: DuckDB's instance-wide form
            self._policy.check([Touch(Kind.SETTING, name)], self._who)
        raw = value.strip()
        if unquote(raw).upper() == "DEFAULT":
            self.reset(name)
            return
        items = [unquote(v) for v in re.split(r"\s*,\s*", raw) if v]
        if name in ("search_path", "schema"):
            self._set_search_path(items, raw)
        elif name == "timezone":
            self._set_timezone(unquote(raw))
        elif name == "statement_timeout":
            self.timeout_ms = parse_timeout(raw)
            self.values[name] = format_timeout(self.timeout_ms)
        else:
            self._refuse_duckdb_option(name)
            self.values[name] = ", ".join(items) if len(items) > 1 else (items[0] if items else "")

    def reset(self, name: str) -> None:
        if name == "all":
            self._reset_search_path()
            self.timeout_ms = self.default_timeout_ms
            self.values["statement_timeout"] = format_timeout(self.timeout_ms)
            return
        if name in ("search_path", "schema"):
            self._reset_search_path()
        elif name == "statement_timeout":
            self.timeout_ms = self.default_timeout_ms
            self.values[name] = format_timeout(self.timeout_ms)
        elif name == "timezone":
            self._set_timezone("UTC")
        else:
            self._refuse_duckdb_option(name)
            if name in SHOW_DEFAULTS:
                self.values[name] = SHOW_DEFAULTS[name]

    def show(self, name: str) -> str:
        if name == "search_path" and "search_path" not in self.values:
            return DEFAULT_SEARCH_PATH
        if name in self.values:
            return self.values[name]
        raise SqlError("42704", f'unrecognized configuration parameter "{name}"')

    # --- the parameters that take effect --------------------------------------------------

    def _set_search_path(self, items: list[str], raw: str) -> None:
        schemas = []
        for s in items:
            if s in ('"$user"', "$user"):
                continue
            hidden = {p.strip('"').lower() for p in s.split(".")} & _HIDDEN
            if hidden:
                raise SqlError(
                    "42501",
                    f"permission denied for schema {hidden.pop()}: it holds zeroetl's internal objects;"
                    " query the system views instead",
                )
            schemas.append(self.public if s.lower() == "public" else s)
        self.schemas = schemas or [self.public]
        self._apply_search_path(self.schemas)
        self.values["search_path"] = raw

    def _reset_search_path(self) -> None:
        self.schemas = [self.public]
        self.values.pop("search_path", None)
        self._apply_search_path(self.schemas)

    def _set_timezone(self, tz: str) -> None:
        tz = "UTC" if tz.lower() in ("local", "default") else tz
        try:
            self._con.execute("SET TimeZone = '" + tz.replace("'", "''") + "'")
        except duckdb.Error as e:
            raise SqlError("22023", f'invalid value for parameter "TimeZone": "{tz}"') from e
        self.values["timezone"] = tz
