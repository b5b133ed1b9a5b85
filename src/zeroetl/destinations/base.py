"""What every destination offers the engine: small role protocols, capabilities, a registry.

Roles (PeerDB's small connector interfaces): `Writer` (transactions, DDL, apply, checkpoint)
and `MetadataStore` (table states and their history, activity, key/value, statistics). The
engine types its destination as `Destination` (both) and never names a class; it consults
`capabilities` (dlt's capabilities context) where a destination may differ.

A destination registers its class with `@register("scheme")`; `open_url("scheme://...")` picks
it by the URL's scheme (`duckdb:///path/file.duckdb` today; `chdb://`, `clickhouse://` later) and
calls the class's `from_url`. `get` imports `zeroetl.destinations.<scheme>` on first use, so
built-in destinations need no central list. Every destination passes tests/destinations/.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

from zeroetl.errors import ConfigError
from zeroetl.model import (
    ColumnSchema,
    Position,
    TableActivity,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)


@dataclass(frozen=True)
class Capabilities:
    """Facts about a destination that the engine plans around (not preferences). Each one is
    read by engine code (named beside it) and tested both ways in tests/unit/engine/."""

    # Data, checkpoint and metadata commit in one transaction: a crash never splits them.
    # False: the engine needs `idempotent_replay` and replays from an older checkpoint after a
    # crash (engine/runner.py refuses a destination with neither).
    atomic_checkpoint: bool = True
    # Replaying a batch (or a snapshot chunk) already applied changes nothing.
    idempotent_replay: bool = True
    # DDL takes part in the transaction (a rolled-back batch also rolls back its DDL). False:
    # the engine commits what is pending before a schema change and the checkpoint right after
    # it, so a failure never leaves the DDL done and the data before it undone
    # (engine/runner.py).
    transactional_ddl: bool = True
    # New columns can be placed (FIRST/AFTER), natively or by rewriting the table. False: such
    # an ADD COLUMN copies the table again instead (engine/ddl_apply.py).
    positional_add_column: bool = False
    # The longest schema, table or column name the destination holds (0: no limit). A table
    # with a longer name fails with that reason before anything is created (engine/tables.py).
    max_identifier_length: int = 0
    # The least time between two data commits, in seconds (0: commit as soon as the stream is
    # quiet). ClickHouse makes a part per insert per table and wants about one insert per
    # second per table; the engine gathers changes until the interval has passed, so batches
    # grow under load instead of the commit rate (engine/pacing.py, engine/runner.py).
    min_commit_interval_s: float = 0.0


class Transactions(Protocol):
    """One explicit transaction at a time; outside one, each call is a transaction of its own."""

    @property
    def in_transaction(self) -> bool: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class Writer(Transactions, Protocol):
    """The engine's writer role: DDL, data and the checkpoint, inside its transactions. All
    methods run on the engine's writer thread."""

    capabilities: Capabilities

    def close(self) -> None: ...
    def checkpoint_if_idle(self) -> None:
        """The stream is idle and no transaction is open: housekeeping that suits a quiet
        moment (the runner calls it when the source has nothing new)."""

    # schema
    def create_table(self, schema: TableSchema) -> None: ...
    def drop_table(self, table: TableId) -> None: ...
    def rename_table(self, old: TableId, new: TableSchema) -> None: ...
    def truncate_table(self, table: TableId) -> None: ...
    def add_column(
        self, table: TableId, column: ColumnSchema, position: int | None = None
    ) -> None: ...
    def drop_column(self, table: TableId, name: str) -> None: ...
    def rename_column(self, table: TableId, old: str, new: str) -> None: ...
    def record_schema(self, schema: TableSchema) -> None: ...
    def recorded_schemas(self) -> dict[TableId, TableSchema]: ...

    # data
    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        """Apply one table's changes of a sealed batch (model.TableChanges.rows): the last
        entry per key wins; deleted keys go; replaying the same changes changes nothing."""

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        """A snapshot chunk; `replace=False`: the keys are known to be new (a plain insert)."""

    # checkpoint
    def load_checkpoint(self) -> Position | None: ...
    def save_checkpoint(self, pos: Position) -> None: ...


class MetadataStore(Protocol):
    """Per-table states, their history, activity, a key/value store and table statistics:
    what the monitoring views read. Writes join the writer's open transaction."""

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
    def record_tables_activity(
        self, *, checkpoint: Position, transaction_id: str, tables: Sequence[TableActivity]
    ) -> None:
        """`record_table_activity` for many tables of one commit at once (a transaction may
        touch thousands of tables: one write, not one per table)."""

    def table_stats(self) -> list[dict[str, Any]]: ...
    def kv_get(self, key: str) -> str | None: ...
    def kv_set(self, key: str, value: str) -> None: ...


@runtime_checkable
class NewKeyInserts(Protocol):
    """An optional role: insert a table's slice of change rows whose keys the engine knows are
    absent from the warehouse table, without deleting them first (half the statements of a
    commit of inserts into many tables). The engine promises it only for a Synced table (the
    warehouse table equals the source table at the last committed checkpoint, and the stream
    resumes exactly there) and a slice made of source INSERTs alone: the source's key held no
    row before each insert, so neither does the warehouse. A destination that cannot tell
    still has `apply_changes`."""

    def insert_new(self, schema: TableSchema, changes: pa.Table) -> None:
        """Insert `changes` (model.TableChanges.rows: no deletes, each key once; else the
        destination applies them as `apply_changes` does)."""


@runtime_checkable
class ChangedColumns(Protocol):
    """An optional role: apply a table's slice of changes where UPDATEs that kept their key
    carry the columns they changed (model.TableChanges.changed), writing only those. The engine
    promises it only for a Synced table (as for NewKeyInserts): each UPDATE's before image is
    then the warehouse row it replaces, so the columns it did not change are already right."""

    def apply_changed(self, schema: TableSchema, changes: pa.Table, changed: pa.Array) -> None:
        """`apply_changes` of `changes`, using `changed` (one bitmap or NULL per entry)."""


@runtime_checkable
class ReleasesMemory(Protocol):
    """An optional role: between transactions, give back the memory the tables written so far
    hold. The snapshot calls it every few thousand tables, so that a copy of many small tables
    does not grow with their number."""

    def release_memory(self) -> None: ...


@runtime_checkable
class Destination(Writer, MetadataStore, Protocol):
    """A target database as the engine uses it: both roles, one transaction."""


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


def open_url(url: str, integration_id: str, **options: Any) -> Destination:
    """The destination a URL names, by its scheme (`duckdb:///path`), opened for
    `integration_id`. `options` go to the class's `from_url` (e.g. a shared DuckDB hub)."""
    scheme, sep, _rest = url.partition("://")
    if not sep or not scheme.isidentifier():
        raise ConfigError(
            f"not a destination URL: {url!r}", hint="e.g. duckdb:///path/to/target.duckdb"
        )
    factory = get(scheme.lower())
    return factory.from_url(url, integration_id, **options)  # type: ignore[attr-defined,no-any-return]


def available() -> list[str]:
    return sorted(_REGISTRY)
