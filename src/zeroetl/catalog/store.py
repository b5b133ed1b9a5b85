"""The warehouse catalog: integrations, their state changes and the target databases.

A SQLite file `<warehouse>/catalog.sqlite3` (WAL mode): small, transactional, readable with any
SQLite tool for a post-mortem. Source passwords are stored encrypted (see secrets.py), never in
clear. One connection shared by the service's threads behind a lock: the catalog sees a handful
of writes per state change, so contention is no concern.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zeroetl.catalog.errors import (
    IntegrationAlreadyExists,
    IntegrationNotFound,
    TargetDatabaseAlreadyExists,
)
from zeroetl.catalog.sqlite_tx import transaction

CATALOG_FILE = "catalog.sqlite3"
SCHEMA_VERSION = 3  # 2: source_options; 3: destination

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS integrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '{}',            -- JSON object
    source_host TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    source_user TEXT NOT NULL,
    source_password BLOB,                       -- Fernet token, never clear text
    source_options TEXT NOT NULL DEFAULT '{}',  -- JSON: connect_timeout, ssl, ssl_ca (PEM)
    data_filter TEXT NOT NULL DEFAULT '',
    destination TEXT,                           -- URL (no secret); NULL: the warehouse's DuckDB
    target_database TEXT,
    source_database TEXT,
    query_all_states INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    state_reason TEXT NOT NULL DEFAULT '',
    error_code TEXT,
    error_message TEXT,
    first_synced_at TEXT,                       -- the first snapshot finished (creating -> active)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS integrations_live_name
    ON integrations (name) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS state_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id TEXT NOT NULL,
    record_time TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_changes_by_integration ON state_changes (integration_id, seq);
CREATE TABLE IF NOT EXISTS databases (
    name TEXT PRIMARY KEY,                      -- attached under this name; file databases/<name>.duckdb
    integration_id TEXT,
    created_at TEXT NOT NULL
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class IntegrationRecord:
    id: str
    name: str
    source_host: str
    source_port: int
    source_user: str
    source_password: bytes | None = field(default=None, repr=False)
    source_options: dict[str, Any] = field(default_factory=dict, repr=False)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    data_filter: str = ""
    destination: str | None = None  # chdb:///dir or clickhouse://user@host:port/; None: DuckDB
    target_database: str | None = None
    source_database: str | None = None
    query_all_states: bool = False
    state: str = "creating"
    state_reason: str = ""
    error_code: str | None = None
    error_message: str | None = None
    first_synced_at: str | None = None
    created_at: str = ""
    updated_at: str = ""
    deleted_at: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> IntegrationRecord:
        d = dict(row)
        d["tags"] = json.loads(d["tags"] or "{}")
        d["source_options"] = json.loads(d.get("source_options") or "{}")
        d["query_all_states"] = bool(d["query_all_states"])
        return cls(**d)


_COLUMNS = tuple(IntegrationRecord.__dataclass_fields__)


class Catalog:
    def __init__(self, warehouse: Path) -> None:
        self.path = warehouse / CATALOG_FILE
        self._lock = threading.RLock()
        # the target databases as last read, and what they were read at (databases())
        self._dbs_read: tuple[tuple[int, int], list[dict[str, Any]]] | None = None
        self._dbs_written = 0  # this connection's writes to them (data_version misses those)
        self._names: tuple[object, list[str]] | None = None  # database_names() of a _dbs_read
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.executescript(_DDL)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a catalog written by an older version up to SCHEMA_VERSION (additive only)."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(integrations)")}
        if "source_options" not in columns:  # version 1
            self._db.execute(
                "ALTER TABLE integrations ADD COLUMN source_options TEXT NOT NULL DEFAULT '{}'"
            )
        if "destination" not in columns:  # version 2
            self._db.execute("ALTER TABLE integrations ADD COLUMN destination TEXT")
        self._db.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(SCHEMA_VERSION)],
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with transaction(self._db, self._lock):
            yield self._db

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- integrations -----------------------------------------------------------------------

    def add(self, rec: IntegrationRecord, reason: str) -> None:
        rec.created_at = rec.updated_at = now()
        values = [getattr(rec, c) for c in _COLUMNS]
        values[_COLUMNS.index("tags")] = json.dumps(rec.tags, sort_keys=True)
        values[_COLUMNS.index("source_options")] = json.dumps(rec.source_options, sort_keys=True)
        marks = ", ".join("?" * len(_COLUMNS))
        try:
            with self._tx() as db:
                db.execute(
                    f"INSERT INTO integrations ({', '.join(_COLUMNS)}) VALUES ({marks})", values
                )
                self._log_state(db, rec.id, rec.state, reason)
        except sqlite3.IntegrityError:
            raise IntegrationAlreadyExists(
                f"an integration named {rec.name!r} already exists",
                hint="choose another name, or delete the existing integration first",
            ) from None

    def get(self, ident: str, *, include_deleted: bool = False) -> IntegrationRecord:
        """By id or by name (names are unique among integrations not deleted)."""
        alive = "" if include_deleted else " AND deleted_at IS NULL"
        rows = self._rows(f"SELECT * FROM integrations WHERE id = ?{alive}", [ident])
        if not rows:
            rows = self._rows(
                "SELECT * FROM integrations WHERE name = ? AND deleted_at IS NULL", [ident]
            )
        if not rows:
            raise IntegrationNotFound(
                f"no integration with name or id {ident!r}",
                hint="`zeroetl integration list` shows the integrations of this warehouse",
            )
        return IntegrationRecord.from_row(rows[0])

    def integrations(
        self, *, offset: int = 0, limit: int = 1000
    ) -> tuple[list[IntegrationRecord], int]:
        total = self._rows("SELECT count(*) FROM integrations WHERE deleted_at IS NULL")[0][0]
        rows = self._rows(
            "SELECT * FROM integrations WHERE deleted_at IS NULL "
            "ORDER BY created_at, id LIMIT ? OFFSET ?",
            [limit, offset],
        )
        return [IntegrationRecord.from_row(r) for r in rows], int(total)

    def update(self, integration_id: str, **values: Any) -> None:
        """Change columns other than the state (use set_state for that: it is logged)."""
        if "tags" in values:
            values["tags"] = json.dumps(values["tags"], sort_keys=True)
        if "source_options" in values:
            values["source_options"] = json.dumps(values["source_options"], sort_keys=True)
        if "query_all_states" in values:
            values["query_all_states"] = int(bool(values["query_all_states"]))
        values["updated_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in values)
        try:
            with self._tx() as db:
                db.execute(
                    f"UPDATE integrations SET {sets} WHERE id = ?",
                    [*values.values(), integration_id],
                )
        except sqlite3.IntegrityError:
            raise IntegrationAlreadyExists(
                f"an integration named {values.get('name')!r} already exists"
            ) from None

    def set_state(
        self,
        integration_id: str,
        state: str,
        reason: str,
        *,
        error: tuple[str, str] | None = None,
        **values: Any,
    ) -> None:
        """Record a state change (with time and reason) and the new state, in one transaction."""
        code, message = error if error else (None, None)
        extra = {**values, "error_code": code, "error_message": message}
        sets = ", ".join(f"{k} = ?" for k in extra)
        with self._tx() as db:
            db.execute(
                f"UPDATE integrations SET state = ?, state_reason = ?, updated_at = ?, {sets} "
                "WHERE id = ?",
                [state, reason, now(), *extra.values(), integration_id],
            )
            self._log_state(db, integration_id, state, reason)

    def _log_state(
        self, db: sqlite3.Connection, integration_id: str, state: str, reason: str
    ) -> None:
        db.execute(
            "INSERT INTO state_changes (integration_id, record_time, state, reason) "
            "VALUES (?, ?, ?, ?)",
            [integration_id, now(), state, reason],
        )

    def state_changes(
        self, integration_id: str | None = None, *, offset: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        where, params = (
            ("WHERE integration_id = ?", [integration_id]) if integration_id else ("", [])
        )
        rows = self._rows(
            f"SELECT integration_id, record_time, state, reason FROM state_changes {where} "
            "ORDER BY seq LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [dict(r) for r in rows]

    # --- target databases -------------------------------------------------------------------

    def add_database(self, name: str, integration_id: str | None) -> None:
        try:
            with self._tx() as db:
                db.execute("INSERT INTO databases VALUES (?, ?, ?)", [name, integration_id, now()])
        except sqlite3.IntegrityError:
            raise TargetDatabaseAlreadyExists(
                f"target database {name!r} already exists in this warehouse",
                hint="choose another name, or drop that database first",
            ) from None
        with self._lock:
            self._dbs_written += 1  # after its commit (see drop_database)

    def drop_database(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM databases WHERE name = ?", [name])
        with self._lock:
            self._dbs_written += 1  # after its commit: a read meanwhile saw it, or reads again

    def databases(self) -> list[dict[str, Any]]:
        """Every target database. The SQL endpoint asks on every statement: the rows are kept
        until this connection writes them or another one commits (SQLite's data_version)."""
        with self._lock:
            return [dict(d) for d in self._databases_read()[1]]

    def database_names(self) -> list[str]:
        """The names of `databases()`, in order, without copying every row (the SQL endpoint
        asks twice a statement, on the wire's event loop for a kept result)."""
        with self._lock:
            read = self._databases_read()
            if self._names is None or self._names[0] is not read:
                self._names = (read, [str(d["name"]) for d in read[1]])
            return list(self._names[1])

    def _databases_read(self) -> tuple[tuple[int, int], list[dict[str, Any]]]:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        key = (self._dbs_written, int(version))
        if self._dbs_read is None or self._dbs_read[0] != key:
            rows = self._db.execute("SELECT * FROM databases ORDER BY name").fetchall()
            self._dbs_read = (key, [dict(r) for r in rows])
        return self._dbs_read

    def database(self, name: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM databases WHERE name = ?", [name])
        return dict(rows[0]) if rows else None
