"""What the SQL layer needs from the service that owns the warehouse (issue 3 implements it).

The SQL layer never opens database files itself: the service attaches every target database file
to one in-memory DuckDB "hub" under the target database's name, and sessions read through
cursors on that hub (FACTS.md: one process per file; cursors see committed snapshots).
"""

from __future__ import annotations

from typing import Protocol

import duckdb


class Backend(Protocol):
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the hub, every target database attached under its own name."""
        ...

    def databases(self) -> list[str]:
        """Names of the target databases (each attached to the hub)."""
        ...

    def integrations(self) -> list[dict[str, object]]:
        """One row per integration, read live on every query of `svv_integration`.

        Keys (missing keys read as NULL):
        - `integration_id` (str, required), `target_database` (str | None: no CREATE DATABASE
          yet), `source` (str, default 'MySQL'), `state` (PendingDbConnectState |
          CdcRefreshState | ErrorState ...), `current_lag_ms` (int | None: live lag in ms),
          `creation_time` (datetime), `source_database` (str | None), `is_history_mode`
          (bool, default False), `latest_detected_change_time` (datetime | None).
        The other svv_integration columns come from each target database's `_zeroetl` schema.
        """
        ...

    def create_database(
        self,
        name: str,
        integration_id: str,
        *,
        source_database: str | None,
        query_all_states: bool,
    ) -> None:
        """CREATE DATABASE name FROM INTEGRATION ...; raises ZeroEtlError when refused."""
        ...

    def drop_database(self, name: str) -> None: ...

    def refresh(self, database: str, *, tables: list[str] | None, in_error: bool) -> None:
        """ALTER DATABASE ... INTEGRATION REFRESH: `tables` as 'schema.table' (None: all tables
        or, with `in_error`, the tables not Synced)."""
        ...

    def database_options(self, name: str) -> dict[str, object]:
        """Options of a target database, e.g. {"query_all_states": False, "integration_id": ...}."""
        ...


class QueryDestinations(Protocol):
    """Optional for a Backend (the session asks with getattr, so one without it is DuckDB-only):
    the open ClickHouse destination behind a ClickHouse-backed target database."""

    def query_destination(self, database: str) -> object | None:
        """The destination for `database`, None for one in DuckDB. Queries that read its tables
        run there (clickhouse_session.py); system views and the catalog stay on the hub."""
        ...
