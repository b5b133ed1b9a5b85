"""Plain values shared by every stage: positions, schemas, states.

Nothing here does I/O. Sources produce these, the engine passes them on, destinations consume them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

import pyarrow as pa

_BINLOG_INDEX = re.compile(r"\.(\d+)$")


@dataclass(frozen=True, order=False)
class Position:
    """A point in the source's binlog, always at a transaction boundary.

    `file`/`offset` is where the next event to read starts. `gtid_set` is the executed GTID set
    up to here (MySQL `uuid:1-5,...` or MariaDB `0-1-42,...`), or "" when the source has none.
    """

    file: str
    offset: int
    gtid_set: str = ""

    @property
    def file_index(self) -> int:
        m = _BINLOG_INDEX.search(self.file)
        return int(m.group(1)) if m else 0

    def key(self) -> tuple[int, int]:
        """Total order within one server's binlog (file sequence number, offset)."""
        return (self.file_index, self.offset)

    def __lt__(self, other: Position) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Position) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: Position) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: Position) -> bool:
        return self.key() >= other.key()

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}"


class Kind(enum.Enum):
    """Logical column kinds: what a value *is*, independent of source and destination."""

    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    DECIMAL = "decimal"  # precision <= 38, exact
    DECIMAL_TEXT = "decimal_text"  # precision > 38: exact decimal text
    STRING = "string"
    BINARY = "binary"
    DATE = "date"
    TIMESTAMP = "timestamp"  # wall-clock, microseconds (MySQL DATETIME)
    TIMESTAMPTZ = "timestamptz"  # UTC instant, microseconds (MySQL TIMESTAMP)
    TIME = "time"  # microseconds of day, 00:00..24:00
    JSON = "json"


@dataclass(frozen=True)
class LogicalType:
    kind: Kind
    precision: int = 0
    scale: int = 0

    def arrow(self) -> pa.DataType:
        return _ARROW[self.kind](self)

    def __str__(self) -> str:
        if self.kind is Kind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        return self.kind.value


_ARROW = {
    Kind.INT8: lambda t: pa.int8(),
    Kind.INT16: lambda t: pa.int16(),
    Kind.INT32: lambda t: pa.int32(),
    Kind.INT64: lambda t: pa.int64(),
    Kind.UINT8: lambda t: pa.uint8(),
    Kind.UINT16: lambda t: pa.uint16(),
    Kind.UINT32: lambda t: pa.uint32(),
    Kind.UINT64: lambda t: pa.uint64(),
    Kind.FLOAT32: lambda t: pa.float32(),
    Kind.FLOAT64: lambda t: pa.float64(),
    Kind.DECIMAL: lambda t: pa.decimal128(t.precision, t.scale),
    Kind.DECIMAL_TEXT: lambda t: pa.string(),
    Kind.STRING: lambda t: pa.string(),
    Kind.BINARY: lambda t: pa.binary(),
    Kind.DATE: lambda t: pa.date32(),
    Kind.TIMESTAMP: lambda t: pa.timestamp("us"),
    Kind.TIMESTAMPTZ: lambda t: pa.timestamp("us", tz="UTC"),
    Kind.TIME: lambda t: pa.time64("us"),
    Kind.JSON: lambda t: pa.string(),
}


@dataclass(frozen=True)
class ColumnSchema:
    """One column. `type` is None when the source type has no mapping (the table then fails)."""

    name: str
    type: LogicalType | None
    nullable: bool = True
    source_type: str = ""  # the source's own spelling, e.g. "decimal(65,30) unsigned"
    unsupported_reason: str = ""


@dataclass(frozen=True)
class TableId:
    schema: str  # MySQL database
    table: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class TableSchema:
    id: TableId
    columns: tuple[ColumnSchema, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSchema:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(c.name, c.type.arrow() if c.type else pa.null(), c.nullable)
                for c in self.columns
            ]
        )

    def problem(self) -> str | None:
        """Why this table cannot be replicated, or None."""
        if not self.primary_key:
            return "table has no primary key"
        bad = [c for c in self.columns if c.type is None]
        if bad:
            c = bad[0]
            why = c.unsupported_reason or f"unsupported type {c.source_type}"
            return f"column {c.name!r}: {why}"
        return None

    def same_shape(self, other: TableSchema) -> bool:
        """Same column names, types and key (nullability and spelling ignored)."""
        return self.primary_key == other.primary_key and [
            (c.name, c.type) for c in self.columns
        ] == [(c.name, c.type) for c in other.columns]


class TableState(enum.Enum):
    """Per-table states, spelled as the reference spells them."""

    SYNCED = "Synced"
    FAILED = "Failed"
    RESYNC_REQUIRED = "ResyncRequired"
    RESYNC_INITIATED = "ResyncInitiated"
    DELETED = "Deleted"


class IntegrationState(enum.StrEnum):
    """An integration's lifecycle states (docs/service.md, "Lifecycle"); str-valued, as the
    catalog records them and the API shows them."""

    CREATING = "creating"
    ACTIVE = "active"
    SYNCING = "syncing"
    NEEDS_ATTENTION = "needs_attention"
    MODIFYING = "modifying"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"  # tombstone in the catalog; never listed
    PAUSED = "paused"  # stopped on request (no worker), until resumed; survives a restart


@dataclass
class TableStatus:
    """Mutable per-table bookkeeping the engine keeps and the destination persists."""

    id: TableId
    state: TableState
    reason: str = ""
    # Snapshot progress: last primary-key value copied (JSON text), and the position at or after
    # which every copied chunk was read. Until the stream passes `snapshot_hw` the table is still
    # being reconciled (ResyncInitiated); then it becomes Synced.
    snapshot_done: bool = False
    snapshot_cursor: str | None = None
    snapshot_hw: Position | None = None
    rows_copied: int = 0
    extra: dict[str, str] = field(default_factory=dict)
