"""DuckDB's memory for a target database opened on a connection of its own (`zeroetl replicate`,
benches); the service's hub sets its own limit for every database it attaches (service/hub.py).

Left alone, DuckDB may take 80% of the host's memory and keeps what it took: the blocks of every
table it wrote stay cached until that limit is reached (each table, however small, holds at least
one 256 KiB block: 2,000 tables of 10 rows kept 500 MiB after their checkpoint). So between
checkpoints the writer runs under `limit`; DuckDB evicts cached blocks (they are on disk
already) and spills what it must keep to `temp_dir`. The default, 128 MiB, measured on 2 cores
(`zeroetl replicate`, peak RSS): the 10M-row snapshot 426 MB (563 MB under 256 MiB, 870 MB
under DuckDB's default); 10,000 tables of 10 rows 537 MB (674 MB, 3,006 MB). What stays past
the limit is DuckDB's catalog (~11 KB a table once reopened, ~25 KB while written) and Python.

Some statements need more, and cannot spill it: a checkpoint rewrites the last row group of
every table it touches one vector of up to 2,048 rows at a time, with every value of that vector
in memory at once, a COMMIT holds every value of the vector it appends to that is not yet
checkpointed (those of earlier transactions too), and a scan allocates a vector's values in one
piece (measured on DuckDB 2.0: 1 MiB BLOBs failed to checkpoint past ~320 rows under a 256 MiB
limit, ~830 under 512 MiB, a 128-row transaction of them failed to commit under 64 MiB, and a
scan of 500 wanted 512 MiB at once; bench/blob_pin_bench.py). Snapshots of such rows: WideRows. A checkpoint that fails
invalidates the database until it is opened again, and one inside COMMIT (DuckDB's own
threshold) would fail again at every retry. Hence:
- an explicit checkpoint runs under `checkpoint_limit` (default: half the memory DuckDB
  detects, the service's share), and the limit goes back down right after;
- the file is opened under `checkpoint_limit` (the WAL replay), a WAL past the WAL limit is
  checkpointed there and then, and only then is `limit` set: a database invalidated by a
  checkpoint that failed inside COMMIT comes back with that WAL folded;
- a statement that runs out of memory anyway (a table of wide values) marks the settings
  `raised`: the destination reopens the file and stays under `checkpoint_limit` from then on,
  so the engine's retry of that batch succeeds (a warning says so).
Committed data is never at stake: DuckDB writes the WAL before it checkpoints, and replays it
on open (tests/unit/test_duckdb_memory.py kills a writer mid-load and compares).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from .types import literal
from .upkeep import MIB, WalGuard, wal_bytes

log = logging.getLogger(__name__)

DEFAULT_LIMIT = "128MiB"
CHECKPOINT_SHARE = 0.5  # of the memory DuckDB detects, during a checkpoint (as the hub's limit)
DUCKDB_DEFAULT_SHARE = 0.8  # what DuckDB takes by default


@dataclass(frozen=True)
class Memory:
    limit: str = DEFAULT_LIMIT  # DuckDB memory_limit between checkpoints
    checkpoint_limit: str | None = None  # during a checkpoint; None: half the detected memory
    temp_dir: Path | None = None  # spill files; None: `<file>.tmp` beside the database file
    temp_limit: str | None = None  # max_temp_directory_size; None: DuckDB's (90% of free disk)
    raised: bool = False  # `limit` proved too small: the checkpoint limit stays in force

    @property
    def ceiling(self) -> str:
        """The limit in force during a checkpoint."""
        return self.checkpoint_limit or self.limit

    @property
    def current(self) -> str:
        """The limit in force between checkpoints."""
        return self.ceiling if self.raised else self.limit


def temp_dir(path: Path, memory: Memory) -> Path:
    return memory.temp_dir or Path(f"{path}.tmp")


def connect(
    path: Path, memory: Memory, fold_above: int
) -> tuple[duckdb.DuckDBPyConnection, Memory]:
    """A connection to `path` under `memory`: opened (and its WAL replayed) under the
    checkpoint limit, a WAL past `fold_above` bytes folded, then `memory.limit` in force.
    Returns it with `memory` resolved (its checkpoint limit in bytes)."""
    spill = temp_dir(path, memory)
    spill.mkdir(mode=0o700, parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(spill)}
    if memory.temp_limit:
        config["max_temp_directory_size"] = memory.temp_limit
    if memory.checkpoint_limit:
        config["memory_limit"] = memory.checkpoint_limit
    con = duckdb.connect(str(path), config=config)
    try:
        memory = resolve(con, memory)
        con.execute(f"SET memory_limit = {literal(memory.ceiling)}")
        size = wal_bytes(path)
        if size > fold_above:
            log.info("%s: folding a %.0f MiB WAL under %s", path, size / MIB, memory.ceiling)
            con.execute("CHECKPOINT")
        con.execute(f"SET memory_limit = {literal(memory.current)}")
    except BaseException:
        con.close()
        raise
    return con, memory


def resolve(con: duckdb.DuckDBPyConnection, memory: Memory) -> Memory:
    """`memory` with its checkpoint limit set: half of what DuckDB detects unless given (never
    below `limit`). Call before lowering DuckDB's own limit: it reads what DuckDB took."""
    if memory.checkpoint_limit:
        return memory
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    detected = _bytes(str(row[0])) / DUCKDB_DEFAULT_SHARE if row else 0
    wanted = max(int(detected * CHECKPOINT_SHARE), _bytes(memory.limit))
    return replace(memory, checkpoint_limit=f"{wanted // MIB}MiB")


@contextmanager
def headroom(con: duckdb.DuckDBPyConnection, memory: Memory) -> Iterator[None]:
    """Run a checkpoint under the (resolved) checkpoint limit, then go back to the limit."""
    con.execute(f"SET memory_limit = {literal(memory.ceiling)}")
    try:
        yield
    finally:
        try:
            con.execute(f"SET memory_limit = {literal(memory.current)}")
        except duckdb.Error as e:  # blocks still pinned; the next checkpoint tries again
            log.warning("memory_limit stays raised after a checkpoint: %s", e)


class TableAllowance:
    """The limit in force grows with the tables the open transaction writes, and goes back
    after it ends. Until its COMMIT has appended every table's rows, DuckDB holds a 256 KiB
    block per table written, and cannot evict it: a transaction touching 1,000 small tables
    needs ~300 MiB, whatever the rows (measured: 10-row slices into 1,000 tables failed to
    commit under 128 MiB, 600 passed; the engine's DELETE + INSERT slices failed at the 443rd
    table). Raised in steps of `STEP` tables (a statement each), for change batches (a
    snapshot commits its groups of small tables every second), never on the hub (its limit is
    the service's)."""

    PER_TABLE = 512 * 1024  # bytes allowed per table written, a block and its companions
    STEP = 128  # tables covered by the plain limit, and the size of each raise

    def __init__(self) -> None:
        self.tables = self.STEP  # tables the limit in force covers
        self.held = False  # lowering failed: committed blocks stay until a checkpoint
        self.written: set[tuple[str, str]] = set()  # tables given rows in the open transaction

    def wrote(self, con: duckdb.DuckDBPyConnection, memory: Memory, table: tuple[str, str]) -> None:
        """Rows go into `table` in the open transaction: raise the limit if needed."""
        self.written.add(table)
        if len(self.written) <= self.tables:
            return
        self.tables = -(-len(self.written) // self.STEP) * self.STEP
        self.apply(con, memory)

    def apply(self, con: duckdb.DuckDBPyConnection, memory: Memory) -> None:
        """Set the limit in force: `memory`'s, raised for the tables this allowance covers."""
        wanted = _bytes(memory.current)
        if self.tables > self.STEP:
            wanted += self.tables * self.PER_TABLE
        con.execute(f"SET memory_limit = {literal(f'{wanted // MIB}MiB')}")

    def reset(self, con: duckdb.DuckDBPyConnection, memory: Memory) -> None:
        """The transaction ended: the limit in force again, if DuckDB can evict what the
        tables took; committed blocks not yet checkpointed cannot be, and keep the raise
        until the next checkpoint (`checkpointed`)."""
        self.written.clear()
        if self.tables == self.STEP or self.held:
            return
        try:
            con.execute(f"SET memory_limit = {literal(memory.current)}")
        except duckdb.Error as e:
            self.held = True
            log.info("memory_limit stays raised until the next checkpoint: %s", e)
            return
        self.tables = self.STEP

    def checkpointed(self) -> None:
        """A checkpoint ran under `headroom`, which put the limit in force back."""
        self.tables = self.STEP
        self.held = False


class WideRows:
    """Rows of large values (BLOBs, long texts) committed since the last checkpoint, and the
    limit held raised for them (a connection of its own only, never the hub's).

    DuckDB 2.0 (bench/blob_pin_bench.py, 1 MiB values): a COMMIT pins every value not yet
    checkpointed of the vector (2,048 rows) it appends to, the earlier transactions' ones too
    (spilled ones are read back), so 16-row commits failed at the 256th row under a 256 MB
    limit; a checkpoint that rewrites a vector already in the file holds all its values and
    its new copy (the copy before: a 64 MiB commit and a checkpoint after each, 500 rows
    peaked at 1,207 MB, 2,000 rows at 4,271 MB in 81 s), while the first checkpoint of values
    only committed streams them (500 under 320 MB). So while a vector of wide rows fills, its
    commits run under the checkpoint limit and the WAL is not folded: the vector is written
    once, when it is full or the rows stop (DuckDB alone, 16-row commits: 500 rows 945 MB;
    2,000 rows 2,641 MB in 9.4 s). Past the vector's values DuckDB needs memory for, nothing
    keeps 500 rows of 1 MiB under ~800 MB: the COMMIT holds them all."""

    ROW_BYTES = 64 * 1024  # a vector of rows this wide (128 MiB) fills the default limit
    OFF = "1024TiB"  # DuckDB's checkpoint_threshold while a vector fills
    VECTOR_ROWS = 2048

    def __init__(self) -> None:
        self.tx_rows = 0  # wide rows written in the open transaction
        self.rows = 0  # wide rows committed since the last checkpoint
        self.raised = False  # the checkpoint limit set for them is in force

    def wrote(self, rows: int, nbytes: int) -> None:
        if rows and nbytes >= self.ROW_BYTES * rows:
            self.tx_rows += rows

    def before_commit(self, con: duckdb.DuckDBPyConnection, memory: Memory) -> None:
        """The COMMIT of wide rows pins the vector they go into: the checkpoint limit, and
        DuckDB's own checkpoint (inside COMMIT, past its threshold) off meanwhile."""
        if self.tx_rows and not self.raised:
            con.execute(f"SET memory_limit = {literal(memory.ceiling)}")
            con.execute(f"SET checkpoint_threshold = {literal(self.OFF)}")
            self.raised = True

    def committed(self) -> bool:
        """After a COMMIT: whether the WAL's checkpoint waits (a vector of wide rows fills)."""
        wide = self.tx_rows > 0
        self.rows += self.tx_rows
        self.tx_rows = 0
        return wide and self.rows < self.VECTOR_ROWS

    def rolled_back(self) -> None:
        self.tx_rows = 0

    def lower(self, con: duckdb.DuckDBPyConnection, memory: Memory, threshold: str) -> None:
        """No vector of wide rows filling any more: DuckDB's checkpoint threshold and the limit
        in force again (what they left uncheckpointed spills to the temp directory)."""
        if not self.raised:
            return
        con.execute(f"SET checkpoint_threshold = {literal(threshold)}")
        try:
            con.execute(f"SET memory_limit = {literal(memory.current)}")
        except duckdb.Error as e:  # still pinned: the next checkpoint puts it back
            log.info("memory_limit stays raised until the next checkpoint: %s", e)
            return
        self.raised = False

    def checkpointed(self, con: duckdb.DuckDBPyConnection, threshold: str) -> None:
        """A checkpoint ran under `headroom`, which put the limit in force back."""
        if self.raised:
            con.execute(f"SET checkpoint_threshold = {literal(threshold)}")
        self.rows = 0
        self.raised = False


def fit(
    con: duckdb.DuckDBPyConnection,
    memory: Memory,
    limit: str,
    wal: WalGuard,
    allowance: TableAllowance,
) -> Memory:
    """`memory` with the limit between checkpoints `limit` plus twice what `wal` may hold past
    its own limit (upkeep.py, wide tables), in force now (with `allowance`'s raise)."""
    memory = widened(memory, limit, 2 * wal.extra_bytes)
    with suppress(duckdb.Error):  # still pinned: the next checkpoint puts it back
        allowance.apply(con, memory)
    return memory


def widened(memory: Memory, limit: str, extra: int) -> Memory:
    """`memory` with `extra` bytes over `limit` between checkpoints: the rows of a WAL allowed
    past its limit stay pinned until folded (upkeep.WalGuard.stretched). Never above the
    checkpoint limit: the most this writer may take."""
    wanted = _bytes(limit) + extra
    if memory.checkpoint_limit:
        wanted = min(wanted, max(_bytes(memory.checkpoint_limit), _bytes(limit)))
    return replace(memory, limit=f"{wanted // MIB}MiB")


def raised(memory: Memory, error: BaseException) -> Memory:
    """`memory` after a statement ran out of it: the checkpoint limit from now on (for this
    process). Wide values need it for every statement that holds a vector of them."""
    if not memory.raised:
        log.warning(
            "DuckDB memory limit %s too small (%s); using %s from now on",
            memory.limit,
            str(error).splitlines()[0][:200],
            memory.ceiling,
        )
    return replace(memory, raised=True)


def _bytes(size: str) -> int:
    """Bytes in a size as DuckDB writes or takes it: '18.8 GiB', '256MiB', '4GB', '0 bytes'."""
    m = _SIZE.match(size)
    if not m:
        raise ValueError(f"not a size: {size!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").upper()])


_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMGT]?i?B|bytes?)?\s*$", re.I)
_UNITS = {"B": 1, "BYTE": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip
