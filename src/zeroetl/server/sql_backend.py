"""The service as the SQL layer's Backend, and the SQL endpoint's start and stop.

`zeroetl serve` runs the PostgreSQL-wire endpoint beside the HTTP API in one process: DuckDB
allows one process per file, so sessions read the warehouse through cursors on the service's
hub (every target database attached by name) and see committed snapshots.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from zeroetl.errors import ZeroEtlError
from zeroetl.server.pgwire.server import PgServer
from zeroetl.server.pgwire.tls import server_tls
from zeroetl.server.sql.errors import SqlError
from zeroetl.server.sql.grants import Access
from zeroetl.server.sql.limits import Admission, SessionLimits, format_timeout
from zeroetl.server.sql.memguard import MemoryGuard
from zeroetl.server.sql.policy import Policy
from zeroetl.server.sql.session import SqlSession
from zeroetl.server.sql.users_store import User, UserStore
from zeroetl.server.sql_auth import authenticator

if TYPE_CHECKING:
    from zeroetl.service.service import Service

log = logging.getLogger("zeroetl.sql")


def _time(text: object) -> datetime | None:
    if isinstance(text, datetime) or text is None:
        return text  # type: ignore[return-value]
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


class ServiceBackend:
    """Implements zeroetl.server.sql.backend.Backend over a running Service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.read_gate = service.read_gate  # SQL statements count as the hub's readers

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.service.hub_cursor()

    def databases(self) -> list[str]:
        return self.service.catalog.database_names()  # target_databases() without the paths

    def query_destination(self, database: str) -> object | None:
        """The open ClickHouse destination holding target database `database`'s data (run
        ClickHouse SQL on it with `.query(sql) -> pyarrow.Table`; committed data, superseded
        and deleted versions included unless the query says FINAL), or None when the database
        is a DuckDB one (or unknown). Shared and kept open by the service: do not close it.
        Raises DestinationError / DestinationUnavailable when it cannot be opened."""
        return self.service.query_destination(database)

    def integrations(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        offset = 0
        while True:
            page, total = self.service.list_integrations(offset=offset, limit=500)
            for it in page:
                lag = it.get("lag_seconds")
                rows.append(
                    {
                        "integration_id": it["id"],
                        "target_database": it.get("target_database"),
                        "source": "MySQL",
                        "state": it.get("replication_state"),
                        "current_lag_ms": round(lag * 1000) if lag is not None else None,
                        "creation_time": _time(it.get("created_at")),
                        "source_database": it.get("source_database"),
                        "is_history_mode": False,
                        "latest_detected_change_time": self._detected(it),
                    }
                )
            offset += len(page)
            if not page or offset >= total:
                return rows

    def _detected(self, it: dict[str, Any]) -> datetime | None:
        """The source commit time of the newest change the engine has read (applied or not);
        before it read any since it started, the newest one it applied."""
        seen = _time(it.get("last_change_detected_at"))
        if seen is not None or not it.get("target_database"):
            return seen
        try:
            newest = self.service.activity(str(it["id"]), limit=1)
        except (duckdb.Error, ZeroEtlError):  # e.g. the database is being dropped
            return None
        return _time(newest[0]["source_commit_at"]) if newest else None

    def create_database(
        self, name: str, integration_id: str, *, source_database: str | None, query_all_states: bool
    ) -> None:
        self.service.create_target_database(
            integration_id, name, source_database=source_database, query_all_states=query_all_states
        )

    def drop_database(self, name: str) -> None:
        self.service.drop_target_database(name)

    def refresh(self, database: str, *, tables: list[str] | None, in_error: bool) -> None:
        owner = self.database_options(database).get("integration_id")
        if not owner:
            from zeroetl.catalog.errors import InvalidIntegrationState

            raise InvalidIntegrationState(f"database {database} has no integration")
        if tables is not None:
            self.service.refresh(str(owner), tables=tables)
        elif in_error:
            self.service.refresh(str(owner), in_error=True)
        else:
            self.service.refresh(str(owner), all_tables=True)

    def database_options(self, name: str) -> dict[str, object]:
        db = self.service.catalog.database(name)
        if db is None:
            return {}
        opts: dict[str, Any] = {"integration_id": db.get("integration_id")}
        if db.get("integration_id"):
            rec = self.service.catalog.get(db["integration_id"], include_deleted=True)
            opts["query_all_states"] = bool(rec.query_all_states)
            opts["source_database"] = rec.source_database
        return opts


def session_limits(limits: SessionLimits, hub_memory_bytes: int) -> SessionLimits:
    """The limits every session gets: without a configured per-session memory, the running
    slots together get half of the hub's memory (the rest stays for replication)."""
    if limits.memory:
        return limits
    slots = limits.max_running or 4
    share = max(16 * 2**20, hub_memory_bytes // (2 * slots))
    return dataclasses.replace(limits, memory=f"{share // 2**20}MiB")


class SqlEndpoint:
    """The PostgreSQL-wire server of one service."""

    def __init__(self, service: Service, host: str, port: int) -> None:
        self.backend = ServiceBackend(service)
        self.limits = session_limits(service.config.sql_limits, service.hub_info.memory_bytes)
        self.admission = Admission(self.limits.max_running)
        self.users = UserStore(service.warehouse)  # users, groups and grants (CREATE USER ...)
        self.policy = Policy(Access(self.users))
        self._sessions: weakref.WeakSet[SqlSession] = weakref.WeakSet()
        self._sessions_lock = threading.Lock()
        self.memory_guard = MemoryGuard(
            service.hub_cursor, service.hub_info.memory_bytes, self.sessions
        )
        password = service.config.sql_password  # config.py's; None: <warehouse>/sql.password
        auth = authenticator(
            service.warehouse, self.credentials, password.reveal() if password else None
        )
        tls_settings = service.config.sql_tls
        self.tls = server_tls(service.warehouse, tls_settings)
        self.server = PgServer(
            host,
            port,
            auth,
            self._session,
            self.tls.context,
            require_tls=tls_settings.require,
        )
        self.port = port

    def sessions(self) -> list[SqlSession]:
        with self._sessions_lock:
            return list(self._sessions)

    def credentials(self, user: str) -> User | None:
        """A user made with CREATE USER who may log in (sql_auth.py takes their verifiers);
        None when unknown, disabled (PASSWORD DISABLE) or past VALID UNTIL."""
        u = self.users.snapshot.users.get(user)
        if u is None or u.name == "admin" or u.expired() or not (u.scram or u.md5):
            return None
        return u

    def _session(self, database: str, user: str) -> SqlSession:
        u = self.users.snapshot.users.get(user)
        if u is not None and u.connection_limit is not None:
            open_ = sum(1 for s in self.sessions() if s.user == user and not s.closed)
            if open_ >= u.connection_limit:
                raise SqlError("53300", f'too many connections for role "{user}"')
        session = SqlSession(
            self.backend,
            database=database,
            user=user,
            limits=self.limits,
            admission=self.admission,
            policy=self.policy,
        )
        with self._sessions_lock:
            self._sessions.add(session)
        return session

    def start(self) -> int:
        self.port = self.server.start_in_thread()
        self.memory_guard.start()
        lim = self.limits
        log.info(
            "SQL endpoint on %s:%d (user admin); per session: memory %s, statement_timeout %s"
            " (max %s); %s statements run at once",
            self.server.host,
            self.port,
            lim.memory,
            format_timeout(lim.statement_timeout_ms),
            format_timeout(lim.max_statement_timeout_ms),
            lim.max_running or "any number of",
        )
        log.info(
            "SQL endpoint TLS: %s certificate %s (SHA-256 %s); connections without TLS %s",
            "self-signed" if self.tls.self_signed else "configured",
            self.tls.cert,
            self.tls.fingerprint,
            "refused" if self.server.require_tls else "accepted",
        )
        return self.port

    def stop(self) -> None:
        self.memory_guard.stop()
        self.server.stop_in_thread()
        self.users.close()
