"""The warehouse connection of the DuckDB destination: open (or attach to the service's hub),
reopen after a fault, transactions, error mapping, and upkeep between transactions.

Data, DDL and our metadata (`_zeroetl` schema, see meta.py) share one connection and one
explicit transaction, so a crash can never separate rows from the checkpoint that covers them.
Called outside `begin()`/`commit()`, each method runs in a transaction of its own.
Readers (SQL endpoint, API) take `reader()` cursors and see committed snapshots only.

Between transactions the writer keeps the file bounded (upkeep.py: the WAL under its limit, the
monitoring history under its retention). Failures of the environment (disk full, file size
limit, I/O error, a file locked by another process) raise `DestinationUnavailable`, which the
engine retries; a database DuckDB invalidated after a failed write is detached and attached
again before its next use (faults.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import duckdb

from zeroetl import dataversions
from zeroetl.errors import DestinationError, DestinationUnavailable
from zeroetl.model import TableId
from zeroetl.monitoring import tables as monitoring

from . import apply, ddl, faults, memory, meta, upkeep
from .pending import PendingRows
from .types import ident, literal
from .upkeep import Upkeep

log = logging.getLogger(__name__)


class Connection:
    """The connection and its transaction; the destination's operations build on it
    (schema_ops.py, records.py, destination.py)."""

    def __init__(
        self,
        path: Path,
        integration_id: str,
        *,
        upkeep_settings: Upkeep | None = None,
        hub: duckdb.DuckDBPyConnection | None = None,
        hub_lock: threading.Lock | None = None,
        catalog: str | None = None,
        quiesce: Callable[[], AbstractContextManager[bool]] | None = None,
        memory_settings: memory.Memory | None = None,
    ) -> None:
        """Open `path` on a connection of its own, or, with `hub`, attach it to that shared
        DuckDB instance as `catalog` (the service does this so that SQL sessions on the same
        instance see every target database by 3-part names) and write through a cursor.
        `hub_lock` guards the hub's catalog of attached databases (taken to re-attach);
        `quiesce` opens a moment without readers on the hub, yielding whether it got one
        (the service's read gate: see upkeep.py for when a checkpoint asks for one).
        `memory_settings` bound DuckDB's memory on a connection of its own (memory.py); the
        hub has its own."""
        self.path = Path(path)
        self.integration_id = integration_id
        self.upkeep = upkeep_settings or Upkeep()
        self.upkeep_stats = upkeep.UpkeepStats()
        self.memory = memory_settings or memory.Memory()
        self._limit = self.memory.limit  # between checkpoints, with the WAL not stretched
        self._wal = upkeep.WalGuard(self.path, self.upkeep, self.upkeep_stats)
        self._pruner = upkeep.Pruner(self.upkeep)
        self._hub = hub
        self._quiesce = quiesce
        self._hub_lock = hub_lock or threading.Lock()
        self._alias = catalog or self.path.stem
        self._in_tx = False
        self._touched: set[tuple[str, str]] = set()  # tables written since the last publish
        # `_zeroetl.tables` written since the last publish (true at first: the file just opened
        # may hold other states than the SQL endpoint kept for a database of this name)
        self._states_written = True
        self._allowance = memory.TableAllowance()  # limit raised for a many-table transaction
        self._wide = memory.WideRows()  # limit raised and checkpoints put off for BLOB rows
        self._reopen_needed = False
        self._reader = apply.Reader(scan=False)  # set for the connection by _open
        self._names = ddl.Names()  # table names as stored (case lookups without a scan)
        self._pending = PendingRows()  # table rows and state changes of the open transaction
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Readers of the hub take `hub_lock` for a cursor: holding it until the metadata schema
        # exists means no reader ever sees the database attached without it.
        with self._hub_lock if hub is not None else nullcontext():
            self._con = self._open()
            try:
                row = self._con.execute("SELECT current_database()").fetchone()
                self._catalog: str = row[0]  # type: ignore[index]
                self._meta = f"{ident(self._catalog)}.{meta.SCHEMA}"
                with self._atomic("create metadata schema"):
                    self._con.execute(meta.ddl(ident(self._catalog)))
                    if self.kv_get("_zeroetl.meta_version") is None:
                        self.kv_set("_zeroetl.meta_version", meta.VERSION)
            except BaseException:
                self._con.close()
                raise

    def _open(self) -> duckdb.DuckDBPyConnection:
        """A connection (or hub cursor) whose default database is the file. With a hub, the
        caller holds `hub_lock`."""
        try:
            if self._hub is None:
                fold = self.upkeep.wal_limit_bytes  # WalGuard would fold it after one commit
                con, self.memory = memory.connect(self.path, self.memory, fold_above=fold)
            else:
                attached = self._hub.execute(
                    "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                    [self._alias],
                ).fetchone()
                if not attached or not attached[0]:
                    self._hub.execute(f"ATTACH {literal(str(self.path))} AS {ident(self._alias)}")
                con = self._hub.cursor()
                con.execute(f"USE {ident(self._alias)}")
            con.execute(f"SET checkpoint_threshold = {literal(self.upkeep.duckdb_threshold)}")
            self._reader = apply.Reader(scan=apply.scans_by_name(con))
        except duckdb.Error as e:
            fault = faults.classify(e)
            where = f"integration {self.integration_id}: cannot open warehouse file {self.path}"
            if fault.transient:
                raise DestinationUnavailable(
                    f"{where}: {fault.cause}: {e}", hint="retried until it clears"
                ) from e
            raise DestinationError(
                f"{where}: {e}",
                hint="only one process may open a DuckDB file; stop the other zeroetl process",
            ) from e
        return con

    def release_memory(self) -> None:
        """Between transactions, on a connection of its own: close the file and open it again.
        DuckDB keeps ~25-30 KB of every table written since the file was opened (its catalog
        entry, row group and statistics as written), ~11 KB once the file is opened again
        (10,000 tables of 10 rows in DuckDB alone: peak RSS 500 MB, 435 MB opened again every
        2,000 tables). Closing checkpoints, which the close at the end would do anyway."""
        if self._in_tx or self._hub is not None or self._reopen_needed:
            return
        self._reopen(quiet=True)

    def _reopen(self, *, quiet: bool = False) -> None:
        """Detach and attach the file again (or reconnect): after a failed checkpoint DuckDB
        refuses every statement on that database until then. The WAL is replayed on attach, so
        every committed transaction is there; an open one was lost with the failure."""
        level = logging.DEBUG if quiet else logging.WARNING
        log.log(level, "integration %s: reopening %s", self.integration_id, self.path)
        self._names.clear()
        self._states_written = True  # the file as attached again is what readers see next
        self._allowance = memory.TableAllowance()  # a new connection: the plain limit
        self._wide = memory.WideRows()
        with suppress(duckdb.Error):
            self._con.close()
        if self._hub is None:
            self._con = self._open()
        else:
            with self._hub_lock:
                with suppress(duckdb.Error):
                    self._hub.execute(f"DETACH DATABASE IF EXISTS {ident(self._alias)}")
                self._con = self._open()
        self._reopen_needed = False

    # --- connection -------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A new cursor for another thread; it sees committed data only."""
        if self._reopen_needed and not self._in_tx:
            self._reopen()
        return self._con.cursor()

    def close(self) -> None:
        if self._in_tx:
            self.rollback()
        self._con.close()

    def checkpoint(self) -> None:
        """Fold the WAL into the database file now (between transactions)."""
        if self._in_tx:
            return
        size = upkeep.wal_bytes(self.path)
        started = time.monotonic()
        with self._errors("checkpoint"):
            gated = self._quiesce is not None and self._wal.wants_window(self._used_bytes())
            room = memory.headroom(self._con, self.memory) if self._hub is None else nullcontext()
            window = self._quiesce() if self._quiesce and gated else nullcontext(False)
            with window as clear, room:
                self._con.execute(f"CHECKPOINT {ident(self._catalog)}")
            if self._hub is None:
                self._allowance.checkpointed()
                self._wide.checkpointed(self._con, self.upkeep.duckdb_threshold)
            if gated:
                used = self._used_bytes()
                log.info(
                    "integration %s: checkpoint with readers held back (%s): %.1f MiB in use",
                    self.integration_id,
                    "none left" if clear else "some still reading",
                    used / upkeep.MIB,
                )
                self._wal.windowed(used, clear)
        if self._wal.record(time.monotonic() - started, size):  # stretched: never on a hub
            self._fit()  # the WAL is back under its own limit: so is the memory

    def _used_bytes(self) -> int:
        row = self._con.execute(
            "SELECT used_blocks * block_size FROM pragma_database_size() WHERE database_name = ?",
            [self._catalog],
        ).fetchone()
        return int(row[0]) if row else 0

    def checkpoint_if_idle(self) -> None:
        """The stream is idle: fold a WAL worth folding, prune the history when due."""
        if not self._in_tx:
            self._upkeep(idle=True)

    def _after_commit(self) -> None:
        """Between two transactions: keep the WAL under its limit (unless a vector of wide
        rows is filling: memory.WideRows), prune when due."""
        if self._hub is not None or not self._wide.committed():
            self._upkeep(idle=False)
            if not self._reopen_needed:
                with suppress(duckdb.Error):
                    self._wide.lower(self._con, self.memory, self.upkeep.duckdb_threshold)

    def _upkeep(self, *, idle: bool) -> None:
        """Upkeep never fails the integration for a reason of its own: a fault of the
        environment (disk full) is raised, to be retried like any write; anything else is
        logged, and DuckDB's own checkpoint threshold stays as the safety net."""
        try:
            if self._wal.due(idle=idle):
                self.checkpoint()
            if self._pruner.due(idle=idle):
                self.prune_history()
        except DestinationUnavailable:
            raise
        except DestinationError:
            log.exception("integration %s: upkeep of %s failed", self.integration_id, self.path)

    def prune_history(self) -> int:
        """Apply the monitoring history's retention now (its own transaction)."""
        self._pruner.done()  # first: its own commit must not prune again
        with self._atomic("prune monitoring history"):
            deleted = upkeep.prune_history(self._con, self._meta, self.integration_id, self.upkeep)
        self.upkeep_stats.pruned_rows += deleted
        if deleted:
            log.info("integration %s: pruned %d history rows", self.integration_id, deleted)
        return deleted

    # --- transactions -----------------------------------------------------------------------

    def begin(self) -> None:
        if self._in_tx:
            raise DestinationError(
                f"integration {self.integration_id}: a transaction is already open"
            )
        with self._errors("begin transaction"):
            self._con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        self._reader.new_transaction()

    def commit(self) -> None:
        if not self._in_tx:
            raise DestinationError(f"integration {self.integration_id}: no transaction to commit")
        try:
            with self._errors("save table statuses"):
                self._write_pending()
        except BaseException:
            self.rollback()
            raise
        self._in_tx = False  # a failed COMMIT leaves no transaction open either
        try:
            with self._errors("commit"):
                if self._hub is None:
                    self._wide.before_commit(self._con, self.memory)
                self._con.execute("COMMIT")
        except BaseException:
            self._names.clear()
            self._wide.rolled_back()
            raise
        self._lower_limit()
        self._after_commit()

    def rollback(self) -> None:
        if not self._in_tx:
            return
        self._in_tx = False
        self._wide.rolled_back()
        self._names.clear()  # it may hold names the rolled-back transaction made or dropped
        self._pending.clear()
        # DuckDB may already have aborted it after a failed statement: nothing left to undo then.
        with suppress(duckdb.Error):
            self._con.execute("ROLLBACK")
        self._publish()
        self._lower_limit()

    def _wrote(self, table: TableId, columns: int) -> None:
        """Change rows go into `table` now (memory.TableAllowance; upkeep.py, wide tables)."""
        if self._hub is None:  # the hub's limit is the service's: no stretch there either
            self._allowance.wrote(self._con, self.memory, (table.schema, table.table))
            if self._wal.wrote(columns):  # the rows the WAL may hold on stay pinned
                self._fit()

    def _fit(self) -> None:
        self.memory = memory.fit(self._con, self.memory, self._limit, self._wal, self._allowance)

    def _lower_limit(self) -> None:
        """Between transactions: the memory limit raised for a many-table one goes back."""
        if self._hub is None and not self._reopen_needed:
            with suppress(duckdb.Error):  # a connection a failure closed: reopened anyway
                self._allowance.reset(self._con, self.memory)

    def _publish(self) -> None:
        """What this destination wrote is visible now (committed, or rolled back: harmless):
        the SQL endpoint's kept results and table states of those tables are stale."""
        catalog = getattr(self, "_catalog", None)
        if catalog is not None:
            dataversions.committed(catalog, self._touched, states=self._states_written)
            self._states_written = False
        self._touched.clear()

    @contextmanager
    def _errors(self, what: str, table: TableId | None = None) -> Iterator[None]:
        if self._reopen_needed and not self._in_tx:
            self._reopen()  # raises DestinationUnavailable itself while the cause lasts
        try:
            if table is not None:
                self._touched.add((table.schema, table.table))
            yield
        except duckdb.Error as e:
            where = f"integration {self.integration_id}" + (f", table {table}" if table else "")
            fault = faults.classify(e)
            if fault.memory and self._hub is None:  # reopen under the checkpoint limit
                self.memory = memory.raised(self.memory, e)
            if fault.reopen or (fault.memory and self._hub is None):
                self._reopen_needed = True
            if fault.transient:
                raise DestinationUnavailable(
                    f"{where}: {what} failed: {fault.cause}: {e}",
                    hint="nothing committed is lost; retried until it clears",
                ) from e
            raise DestinationError(
                f"{where}: {what} failed: {e}",
                hint="roll back; the work can be retried from the last committed checkpoint",
            ) from e
        finally:
            if not self._in_tx:  # a statement of its own, or the COMMIT: visible now
                self._publish()

    @contextmanager
    def _atomic(self, what: str, table: TableId | None = None) -> Iterator[None]:
        """Join the open transaction, or run in one of our own."""
        if self._in_tx:
            with self._errors(what, table):
                yield
            return
        self.begin()
        try:
            with self._errors(what, table):
                yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def _exec(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self._con.execute(sql, params) if params is not None else self._con.execute(sql)

    def _read(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._errors("read metadata"):
            self._write_pending()  # the open transaction reads its own statuses
            return self._con.execute(sql, params).fetchall()

    def _first(self, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
        rows = self._read(sql, params)
        return rows[0] if rows else None

    def _write_pending(self) -> None:
        if self._pending.write(self._con, self._meta, self.integration_id):
            self._states_written = True

    def kv_get(self, key: str) -> str | None:
        row = self._first(
            f"SELECT value FROM {self._meta}.kv WHERE integration_id = ? AND key = ?",
            [self.integration_id, key],
        )
        return None if row is None else str(row[0])

    def kv_set(self, key: str, value: str) -> None:
        with self._atomic("save key/value"):
            args = [self.integration_id, key]
            self._exec(f"DELETE FROM {self._meta}.kv WHERE integration_id = ? AND key = ?", args)
            self._exec(monitoring.table("kv").insert(self._meta), [*args, value])
