"""What every destination offers the engine: a small protocol, declared capabilities, a registry.

Destinations are plug-ins with declared capabilities. The engine looks one up by name with `get(name)`
and checks `capabilities` instead of the class; a destination registers itself with
`@register("name")` when its module is imported. `get` imports `zeroetl.destinations.<name>` on
first use, so built-in destinations need no central list.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

from zeroetl.errors import ConfigError
from zeroetl.model import (
    ColumnSchema,
    Kind,
    Position,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)


@dataclass(frozen=True)
class Capabilities:
    """Facts about a destination the engine plans around (not preferences)."""

    # Data, checkpoint and metadata commit in one transaction: a crash never splits them.
    atomic_checkpoint: bool = True
    # DDL takes part in the transaction (a rolled-back batch also rolls back its DDL).
    transactional_ddl: bool = True
    # Identifiers that differ only in case are distinct tables/columns.
    case_sensitive_identifiers: bool = False
    # New columns can be placed (MySQL `FIRST`/`AFTER`), natively or by rewriting the table;
    # False means they are always appended.
    positional_add_column: bool = False
    # A table can be renamed into another schema without copying its rows.
    cheap_cross_schema_rename: bool = False
    max_decimal_precision: int = 38
    kinds: frozenset[Kind] = field(default_factory=lambda: frozenset(Kind))


@runtime_checkable
class Destination(Protocol):
    """The writer side of one target database. All methods run on the engine's writer thread."""

    capabilities: Capabilities

    def close(self) -> None: ...
    def checkpoint_if_idle(self) -> None: ...

    # transactions
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...

    # schema
    def create_table(self, schema: TableSchema) -> None: ...
    def drop_table(self, table: TableId) -> None: ...
    def rename_table(self, old: TableId, new: TableSchema) -> None: ...
    def truncate_table(self, table: TableId) -> None: ...
    def add_column(
        self, table: TableId, column: ColumnSchema, position: int | None = None
    ) -> None: ...
    def existing_table(self, table: TableId) -> TableId | None: ...
    def drop_column(self, table: TableId, name: str) -> None: ...
    def rename_column(self, table: TableId, old: str, new: str) -> None: ...
    def record_schema(self, schema: TableSchema) -> None: ...
    def recorded_schema(self, table: TableId) -> TableSchema | None: ...
    def recorded_schemas(self) -> dict[TableId, TableSchema]: ...

    # data
    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None: ...
    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None: ...

    # metadata (in the current transaction)
    def load_checkpoint(self) -> Position | None: ...
    def save_checkpoint(self, pos: Position) -> None: ...
    def load_table_statuses(self) -> dict[TableId, TableStatus]: ...
    def save_table_status(self, status: TableStatus) -> None: ...
    def record_state_change(
        self, table: TableId, new_state: TableState, reason: str, checkpoint: Position | None
    ) -> None: ...
    def record_activity(
        self,
        *,
        checkpoint: Position,
        checkpoint_type: str,
        checkpoint_bytes: int,
        commit_ts: datetime | None,
        modified_tables: int,
        start: datetime,
        end: datetime,
    ) -> None: ...
    def record_table_activity(
        self,
        *,
        checkpoint: Position,
        table: TableId,
        transaction_id: str,
        inserted: int,
        updated: int,
        deleted: int,
        bytes_ingested: int,
    ) -> None: ...
    def table_stats(self) -> list[dict[str, Any]]: ...
    def kv_get(self, key: str) -> str | None: ...
    def kv_set(self, key: str, value: str) -> None: ...


_REGISTRY: dict[str, Callable[..., Destination]] = {}

T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a destination available as `get(name)`."""

    def deco(cls: T) -> T:
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return deco


def get(name: str) -> Callable[..., Destination]:
    """The destination factory (usually the class) registered under `name`."""
    if name not in _REGISTRY:
        module = f"zeroetl.destinations.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:  # a real import bug inside the destination: show it
                raise
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(
            f"unknown destination {name!r}", hint=f"registered destinations: {known}"
        ) from None


def available() -> list[str]:
    return sorted(_REGISTRY)
