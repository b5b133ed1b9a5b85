"""A stand-in for the service (issue 3) in SQL-layer tests: a real in-memory DuckDB hub with
target database files written through DuckDBDestination; create/drop/refresh calls recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.errors import TerminalError
from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)  # fmt: skip

INTEGRATION = "7d4c2a8e-1111-4222-8333-944455556666"


class HubBackend:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.hub = duckdb.connect()
        self.dests: dict[str, DuckDBDestination] = {}
        self.options: dict[str, dict[str, object]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.integration_rows: list[dict[str, object]] = [
            {"integration_id": INTEGRATION, "target_database": None, "state": "CdcRefreshState",
             "current_lag_ms": 420, "creation_time": datetime(2026, 11, 1, tzinfo=UTC),
             "source_database": None},
        ]  # fmt: skip

    # --- Backend -----------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.hub.cursor()

    def databases(self) -> list[str]:
        return sorted(self.dests)

    def integrations(self) -> list[dict[str, object]]:
        return [dict(r) for r in self.integration_rows]

    def create_database(self, name: str, integration_id: str, *, source_database: str | None,
                        query_all_states: bool) -> None:  # fmt: skip
        self.calls.append(("create", name, integration_id, source_database, query_all_states))
        if integration_id not in {r["integration_id"] for r in self.integration_rows}:
            raise TerminalError(f"integration {integration_id} does not exist")
        self.attach(name, integration_id, query_all_states=query_all_states)
        for r in self.integration_rows:
            if r["integration_id"] == integration_id:
                r["target_database"] = name
                r["source_database"] = source_database

    def drop_database(self, name: str) -> None:
        self.calls.append(("drop", name))
        self.dests.pop(name).close()
        self.hub.execute(f'DETACH "{name}"')

    def refresh(self, database: str, *, tables: list[str] | None, in_error: bool) -> None:
        self.calls.append(("refresh", database, tables, in_error))

    def database_options(self, name: str) -> dict[str, object]:
        return self.options[name]

    def query_destination(self, database: str) -> object | None:
        return None  # every target database here is a DuckDB file

    # --- building test data ------------------------------------------------------------
    def attach(self, name: str, integration_id: str = INTEGRATION, *,
               query_all_states: bool = False) -> DuckDBDestination:  # fmt: skip
        d = DuckDBDestination(self.root / f"{name}.duckdb", integration_id, hub=self.hub,
                              catalog=name)  # fmt: skip
        self.dests[name] = d
        self.options[name] = {"query_all_states": query_all_states,
                              "integration_id": integration_id}  # fmt: skip
        return d


def int_col(name: str, nullable: bool = True) -> ColumnSchema:
    return ColumnSchema(name, LogicalType(Kind.INT32), nullable, "int")


def add_table(d: DuckDBDestination, schema: TableSchema, rows: list[dict[str, object]],
              state: TableState = TableState.SYNCED, reason: str = "") -> None:  # fmt: skip
    d.create_table(schema)
    if rows:
        d.write_chunk(schema, pa.Table.from_pylist(rows, schema=schema.arrow_schema()))
    d.save_table_status(TableStatus(schema.id, state, reason=reason))
    d.record_state_change(schema.id, state, reason or "initial", Position("bin.000001", 4))


def sales_schema(db: str = "demodb") -> TableSchema:
    return TableSchema(
        TableId(db, "sales"),
        (
            int_col("salesid", False),
            ColumnSchema("qtysold", LogicalType(Kind.INT16), False, "smallint"),
            ColumnSchema("pricepaid", LogicalType(Kind.DECIMAL, 8, 2), True, "decimal(8,2)"),
            ColumnSchema("saletime", LogicalType(Kind.TIMESTAMP), True, "datetime"),
            ColumnSchema("note", LogicalType(Kind.STRING), True, "varchar(20)"),
        ),
        ("salesid",),
    )
