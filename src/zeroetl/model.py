"""Plain values shared by every stage: positions, schemas, states.

Nothing here does I/O. Sources produce these, the engine passes them on, destinations consume them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import NamedTuple

import pyarrow as pa

_BINLOG_INDEX = re.compile(r"\.(\d+)$")


@lru_cache(maxsize=64)
def _file_index(file: str) -> int:
    # Positions are compared twice a source transaction: the regex was a visible share of it.
    m = _BINLOG_INDEX.search(file)
    return int(m.group(1)) if m else 0


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
        return _file_index(self.file)

    def key(self) -> tuple[int, int]:
        """Total order within one server's binlog (file sequence number, offset)."""
        return (self.file_index, self.offset)

    # Within one file (nearly always) the offsets decide: the engine compares positions at
    # every source commit.
    def __lt__(self, other: Position) -> bool:
        if self.file == other.file:
            return self.offset < other.offset
        return self.key() < other.key()

    def __le__(self, other: Position) -> bool:
        if self.file == other.file:
            return self.offset <= other.offset
        return self.key() <= other.key()

    def __gt__(self, other: Position) -> bool:
        if self.file == other.file:
            return self.offset > other.offset
        return self.key() > other.key()

    def __ge__(self, other: Position) -> bool:
        if self.file == other.file:
            return self.offset >= other.offset
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


INTEGER_KINDS = frozenset(
    {
        Kind.INT8,
        Kind.INT16,
        Kind.INT32,
        Kind.INT64,
        Kind.UINT8,
        Kind.UINT16,
        Kind.UINT32,
        Kind.UINT64,
    }
)


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


class TableId(NamedTuple):
    """A source table. A tuple (hashed and compared in C): it keys the dicts the stream and the
    engine look up for every rows event, where the frozen dataclass's Python `__hash__` and
    `__eq__` cost ~8 us a 5-change transaction."""

    schema: str  # MySQL database
    table: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class TableSchema:
    id: TableId
    columns: tuple[ColumnSchema, ...]
    primary_key: tuple[str, ...] = ()

    @cached_property
    def names(self) -> tuple[str, ...]:
        # cached: read for every batch applied (a frozen schema never changes its columns)
        return tuple(c.name for c in self.columns)

    @cached_property
    def _shape(self) -> tuple[object, ...]:
        return (self.primary_key, *((c.name, c.type) for c in self.columns))

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
        return self is other or self._shape == other._shape


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


# -- change batches: what a source's stream hands the engine and the engine hands a destination --

SEQ = "__seq"  # ordering column of a change table: source order within the batch
DEL = "__del"  # true: the entry deletes its key; false: it is the key's full new image


@dataclass(frozen=True)
class TableChanges:
    """One table's changes in a sealed batch, as Arrow: the table's columns plus `__seq` and
    `__del`. An UPDATE that keeps its key is its new image; one that moves its key is a delete of
    the old key, then the new image. Applying reduces to the last entry per key, so replaying a
    batch changes nothing. `failure`: why the changes could not be built (the table fails, e.g.
    a TIME out of range); `rows` is then None. The counts feed the activity views.

    `changed`, when the source compared before and after images: per entry of `rows`, a bitmap
    (fixed-size binary, bit i of byte i // 8 is `schema.columns[i]`, least significant first)
    of the columns an UPDATE that kept its key changed; NULL for any other entry (inserts,
    deletes, key moves). Writing any superset of those columns from the new image is exact for
    a warehouse row that equals the before image (a destination's `ChangedColumns` role)."""

    schema: TableSchema
    rows: pa.Table | None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    nbytes: int = 0
    zero_dates: int = 0  # source zero dates that became NULL
    failure: str = ""
    changed: pa.Array | None = None


@dataclass(frozen=True)
class TableActivity:
    """One table's row changes in one warehouse commit (the table activity view's counts)."""

    table: TableId
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    bytes_ingested: int = 0


@dataclass(frozen=True)
class ChangeBatch:
    """Changes of several tables, sealed: immutable and ready to apply, in source order."""

    tables: dict[TableId, TableChanges]
    entries: int

    def __bool__(self) -> bool:
        return self.entries > 0


# -- schema changes: what a source reads from its DDL, in source-neutral terms -----------------


@dataclass(frozen=True)
class AddColumn:
    """`has_default`: existing rows get a value other than NULL (a default, a generated value,
    an auto-increment). `not_null`: NOT NULL / PRIMARY KEY. `first` / `after`: its position
    (else last). `column`: its name and logical type when the statement alone tells them."""

    name: str
    has_default: bool
    not_null: bool
    if_not_exists: bool = False
    first: bool = False
    after: str | None = None
    column: ColumnSchema | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DropColumn:
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class RenameColumn:
    old: str
    new: str


@dataclass(frozen=True)
class ModifyColumn:
    """A column's definition changed (new_name set when its name changes, case included)."""

    name: str
    new_name: str | None = None


@dataclass(frozen=True)
class OtherAlter:
    """Any other ALTER operation (index, engine, options, partitioning), as written, with what
    the source read of it: `changes_rows` (rows added or removed without row events: the
    table needs a copy) and `changes_shape` (the key or column types may change)."""

    text: str
    changes_rows: bool = field(default=False, compare=False)
    changes_shape: bool = field(default=False, compare=False)


AlterOp = AddColumn | DropColumn | RenameColumn | ModifyColumn | OtherAlter


@dataclass(frozen=True)
class CreateTable:
    """`if_not_exists`: the table may already exist, in which case nothing changed."""

    table: TableId
    like: TableId | None = None
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropTable:
    table: TableId


@dataclass(frozen=True)
class RenameTable:
    old: TableId
    new: TableId


@dataclass(frozen=True)
class TruncateTable:
    table: TableId


@dataclass(frozen=True)
class AlterTable:
    table: TableId
    ops: tuple[AlterOp, ...]
    rename_to: TableId | None = None


@dataclass(frozen=True)
class CreateDatabase:
    schema: str


@dataclass(frozen=True)
class DropDatabase:
    schema: str


@dataclass(frozen=True)
class Unknown:
    """A statement the source could not read: the tables it names, else (`schemas`) the
    databases it names, are copied again. `what`: "could not be read" or "... classified"."""

    tables: tuple[TableId, ...]
    sql: str
    schemas: frozenset[str] = field(default=frozenset(), compare=False)
    what: str = field(default="could not be read", compare=False)


DdlAction = (
    CreateTable
    | DropTable
    | RenameTable
    | TruncateTable
    | AlterTable
    | CreateDatabase
    | DropDatabase
    | Unknown
)


@dataclass(frozen=True)
class SchemaChange:
    """One schema-change statement from the source's stream, as the actions it performs, in
    order. `statement` is kept for messages only; the engine acts on `actions`."""

    statement: str
    actions: tuple[DdlAction, ...]
    timestamp: float = 0.0
