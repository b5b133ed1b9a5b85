"""What every source offers the engine: the Source protocol and the vocabulary of its stream.

A source (sources/mysql/ today) hands the engine four things, and the engine knows nothing else
of it (Debezium's per-connector factory of a snapshot source and a streaming source sharing one
offset):
- `check()`: its prerequisites, each with the fix;
- discovery: `list_tables()` and `load_schemas()`, as of now;
- `snapshot()`: consistent chunks of a table in key order, each with the position it is
  consistent at (`SnapshotChunk.position`) and an opaque resume cursor;
- `stream(start, ...)`: the changes after a position, as sealed `ChangeBatch`es (model.py),
  `SchemaChange`s, `Commit` points where the position advances, `Idle` points, and the two
  kinds of trouble (`TableError`, `SourceFault`).
A `Position` is opaque to the engine except for its order: it compares positions, stores them
with the data and hands them back. The only source-specific knob the engine passes on is the
replica id it announces (`replica_id`).

Batching (PeerDB, Debezium): the stream gathers the rows of every event it reads into an open
batch of its own; the engine only says whether it wants the rows of a table (`admit`, called on
the engine's thread before the rows are gathered) and when to seal (`seal()`: at a source
transaction boundary, when its batch size or age is reached). The stream seals on its own when
the open batch holds `batch_rows` entries (then a batch may end inside one large source
transaction: the engine keeps its warehouse transaction open and writes the checkpoint only at
the next `Commit`) and when a table's shape changes within a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from zeroetl.errors import ZeroEtlError
from zeroetl.model import ChangeBatch, Position, SchemaChange, TableId, TableSchema

# -- prerequisites ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    actual: str
    fix: str = ""
    warning: bool = False  # a failing warning does not make the source unready
    skipped: bool = False  # moot while another check fails (counts as ok: never blocks)

    def __post_init__(self) -> None:
        if self.ok:  # a fix is only shown for what needs fixing
            object.__setattr__(self, "fix", "")

    @property
    def status(self) -> str:
        """ok | warning | fail | skipped: what both the human and the JSON output say."""
        if self.skipped:
            return "skipped"
        if self.ok:
            return "ok"
        return "warning" if self.warning else "fail"


@dataclass
class CheckReport:
    source: str  # redacted URL
    flavor: str = ""  # e.g. "mariadb" | "mysql" | "" (not reached)
    version: str = ""
    checks: list[Check] = field(default_factory=list)
    # Why the source could not be checked (for callers that raise it; not in to_dict()).
    error: ZeroEtlError | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(c.ok or c.warning for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "flavor": self.flavor,
            "version": self.version,
            "ready": self.ready,
            "checks": [
                {"name": c.name, "status": c.status, "actual": c.actual, "fix": c.fix}
                for c in self.checks
            ],
        }


# -- stream events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commit:
    """A source transaction ended here: everything before `position` is complete. `timestamp`:
    the source's commit time, epoch seconds (the best estimate the source has)."""

    position: Position
    timestamp: float


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing open: the stream stands at `position` (a heartbeat between transactions)."""

    position: Position


@dataclass(frozen=True, slots=True)
class TableError:
    """The changes of one table cannot be read any more (the stream already dropped what it
    had gathered of it, and skips it until `forget_failure`)."""

    table: TableId
    reason: str


@dataclass(frozen=True, slots=True)
class FaultKind:
    """Something the source logged that replication cannot use, and the setting that fixes it."""

    name: str
    setting: str  # the prerequisite (a `Check.name`) that fixes it; "" when none does
    need: str  # what the setting must be
    fix: str


@dataclass(slots=True)
class SourceFault:
    """Changes the source logged in a form that cannot be applied: the tables must be re-copied
    once the source logs full rows again. `tables` None: any table may be affected."""

    kind: FaultKind
    tables: tuple[TableId, ...] | None
    what: str  # what was seen, and where
    timestamp: int

    @property
    def reason(self) -> str:
        need = f": {self.kind.need}" if self.kind.need else ""
        return f"{self.what}{need}; {self.kind.fix}"


StreamEvent = ChangeBatch | SchemaChange | Commit | Idle | TableError | SourceFault

# admit(table, schema, rows): the engine wants these rows of `table` (read with `schema`).
Admit = Callable[[TableId, TableSchema, int], bool]


# -- protocols ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """Rows of one table in key order, consistent at `position` (or later); `cursor` resumes
    the copy after them; `zero_dates`: source zero dates that became NULL in these rows."""

    rows: pa.Table
    cursor: str
    position: Position
    zero_dates: int = 0


@dataclass(frozen=True, slots=True)
class TableChunk:
    """What `Snapshot.table_chunks` hands out, in the order to apply it: rows of `table` (None:
    no rows), the cursor the table's copy resumes from once they are written (None: unchanged;
    chunks read in parallel resume from the end of the gapless part), whether the table is
    now complete, or the error that ends its copy."""

    table: TableId
    rows: pa.Table | None
    cursor: str | None
    position: Position | None
    zero_dates: int = 0
    done: bool = False
    error: Exception | None = None


def serial_table_chunks(
    snapshot: Snapshot, items: list[tuple[TableSchema, str | None]], at: Position | None
) -> Iterator[TableChunk]:
    """`table_chunks` one table after another over `snapshot.chunks` (TableFailed ends a table)."""
    from zeroetl.errors import TableFailed

    for schema, cursor in items:
        try:
            for c in snapshot.chunks(schema, cursor, at=at):
                yield TableChunk(schema.id, c.rows, c.cursor, c.position, c.zero_dates)
        except TableFailed as exc:
            yield TableChunk(schema.id, None, None, None, error=exc)
            continue
        yield TableChunk(schema.id, None, None, None, done=True)


class Snapshot(Protocol):
    """Reads tables chunk by chunk. Raises TableChanged (the table changed shape or went away
    since its schema was read) or TableFailed (a value it cannot hold) from `chunks`."""

    def begin_consistent(self) -> Position | None:
        """Pin a consistent view; the position it is exact at, or None when the source cannot
        tell (then every chunk carries a position read after it)."""

    def end(self) -> None:
        """Leave the consistent view, if any."""

    def close(self) -> None: ...

    def chunks(
        self,
        schema: TableSchema,
        cursor: str | None,
        *,
        at: Position | None = None,
        prefetch: bool = True,
    ) -> Iterator[SnapshotChunk]:
        """Chunks of `schema`'s table after `cursor` (None: from the start). `at`: the position
        of the consistent view the chunks are read in (None: read one after each chunk)."""

    def table_chunks(
        self,
        items: list[tuple[TableSchema, str | None]],
        *,
        at: Position | None = None,
        readers: int = 1,
        processes: bool = False,
    ) -> Iterator[TableChunk]:
        """Chunks of several tables (each after its cursor), read over up to `readers`
        connections at once where the source can keep them consistent; see TableChunk.
        `processes`: read (and convert) in child processes where the source can. Closing the
        iterator stops the reading."""


class ChangeStream(Protocol):
    """One pass over the source's changes from a position; not restartable. The engine calls
    `next`, `seal`, `discard`, `forget_failure` and `close` from its own thread only."""

    def next(self, timeout: float) -> StreamEvent | None:
        """The next event, or None when nothing came within `timeout` seconds. Rows are
        gathered into the open batch as they come (see the module docstring). Raises the
        source's errors (SourceUnavailable and other TransientErrors are retried)."""

    def quiet(self) -> bool:
        """Whether `next` has handed out everything the source has sent so far (it is
        quiet, or slower than the engine): the engine commits what it holds at once then,
        and batches only while more is already waiting (adaptive batching)."""

    def seal(self) -> ChangeBatch:
        """The open batch, sealed (empty when nothing is gathered); a new one opens."""

    def discard(self, table: TableId) -> None:
        """Forget what the open batch holds of `table` (it is being copied again or failed)."""

    def forget_failure(self, table: TableId) -> None:
        """Read `table` again (after a TableError; a resync may have fixed it). Thread-safe."""

    def close(self) -> None: ...


class Source(Protocol):
    """One source server. `check` may run on any thread; the rest on the engine's."""

    def describe(self) -> str:
        """The source for messages and logs (a redacted URL: never a secret)."""

    def check(self) -> CheckReport: ...

    def position(self) -> Position:
        """The source's current position (raises when it cannot be reached)."""

    def list_tables(self) -> list[TableId]: ...

    def load_schemas(self, tables: list[TableId]) -> dict[TableId, TableSchema]:
        """The current schema of each table that exists (missing ones are left out)."""

    def row_estimates(self, tables: list[TableId]) -> dict[TableId, int]:
        """Rough row counts of `tables` (for progress display only; 0 when unknown)."""

    def snapshot(self, chunk_rows: int) -> Snapshot: ...

    def stream(
        self,
        start: Position,
        *,
        replica_id: int,
        wanted: Callable[[TableId], bool],
        admit: Admit,
        heartbeat_s: float,
        batch_rows: int,
    ) -> ChangeStream:
        """The changes after `start`. `wanted`: tables whose changes are read at all (may be
        called on the stream's reader thread); `admit`: see the module docstring."""

    def close(self) -> None:
        """Close the connections the discovery calls keep (they reopen on the next call)."""
