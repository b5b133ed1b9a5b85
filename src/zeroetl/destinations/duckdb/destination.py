"""The DuckDB destination: one target database file, written by one thread (STYLE.md practice 8).

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

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl import dataversions
from zeroetl.destinations.base import Capabilities, register
from zeroetl.errors import ConfigError, DestinationError, DestinationUnavailable
from zeroetl.model import (
    ColumnSchema,
    Position,
    TableActivity,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.monitoring import tables as monitoring

from . import apply, ddl, faults, memory, meta, upkeep
from .types import ident, literal, qualified
from .upkeep import Upkeep

log = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    atomic_checkpoint=True,  # data, _zeroetl metadata and checkpoint: one DuckDB transaction
    idempotent_replay=True,  # apply.py: delete the touched keys, insert the last images
    transactional_ddl=True,  # DuckDB's DDL is transactional
    positional_add_column=True,  # by rewriting the table in place (ddl.add_column_sql)
    max_identifier_length=0,  # DuckDB has no practical limit
)


def _now() -> datetime:
    return datetime.now(UTC)


@register("duckdb")
class DuckDBDestination:
    capabilities = CAPABILITIES

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
        self._wal = upkeep.WalGuard(self.path, self.upkeep, self.upkeep_stats)
        self._pruner = upkeep.Pruner(self.upkeep)
        self._hub = hub
        self._quiesce = quiesce
        self._hub_lock = hub_lock or threading.Lock()
        self._alias = catalog or self.path.stem
        self._in_tx = False
        self._touched: set[tuple[str, str]] = set()  # tables written since the last publish
        self._reopen_needed = False
        self._reader = apply.Reader(scan=False)  # set for the connection by _open
        self._names = ddl.Names()  # table names as stored (case lookups without a scan)
        # Table statuses saved in the open transaction, written in one statement before it
        # commits (or before meta.tables is read): an UPDATE per status scans every table's
        # row, which made a many-table snapshot quadratic.
        self._statuses: dict[TableId, list[Any]] = {}
        self._schemas: dict[TableId, list[Any]] = {}  # the same for recorded schemas
        self._changes: list[list[Any]] = []  # and state changes, in order
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

    def _reopen(self) -> None:
        """Detach and attach the file again (or reconnect): after a failed checkpoint DuckDB
        refuses every statement on that database until then. The WAL is replayed on attach, so
        every committed transaction is there; an open one was lost with the failure."""
        log.warning("integration %s: reopening %s", self.integration_id, self.path)
        self._names.clear()
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

    @classmethod
    def from_url(cls, url: str, integration_id: str, **options: Any) -> DuckDBDestination:
        """`duckdb:///abs/path/file.duckdb` (or `duckdb://relative/path.duckdb`)."""
        _scheme, _sep, rest = url.partition("://")
        path = rest[1:] if rest.startswith("//") else rest
        if not path or "?" in path or "#" in path:
            raise ConfigError(
                f"not a DuckDB destination URL: {url!r}", hint="duckdb:///path/to/target.duckdb"
            )
        return cls(Path(path), integration_id, **options)

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
            if gated:
                used = self._used_bytes()
                log.info(
                    "integration %s: checkpoint with readers held back (%s): %.1f MiB in use",
                    self.integration_id,
                    "none left" if clear else "some still reading",
                    used / upkeep.MIB,
                )
                self._wal.windowed(used, clear)
        self._wal.record(time.monotonic() - started, size)

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
        """Between two transactions: keep the WAL under its limit, prune when due."""
        self._upkeep(idle=False)

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
                self._write_statuses()
        except BaseException:
            self.rollback()
            raise
        self._in_tx = False  # a failed COMMIT leaves no transaction open either
        try:
            with self._errors("commit"):
                self._con.execute("COMMIT")
        except BaseException:
            self._names.clear()
            raise
        self._after_commit()

    def rollback(self) -> None:
        if not self._in_tx:
            return
        self._in_tx = False
        self._names.clear()  # it may hold names the rolled-back transaction made or dropped
        self._statuses.clear()
        self._schemas.clear()
        self._changes.clear()
        # DuckDB may already have aborted it after a failed statement: nothing left to undo then.
        with suppress(duckdb.Error):
            self._con.execute("ROLLBACK")
        self._publish()

    def _publish(self) -> None:
        """What this destination wrote is visible now (committed, or rolled back: harmless):
        the SQL endpoint's kept results and table states of those tables are stale."""
        catalog = getattr(self, "_catalog", None)
        if catalog is not None:
            dataversions.committed(catalog, self._touched)
        self._touched.clear()

    @contextmanager
    def _errors(self, what: str, table: TableId | None = None) -> Iterator[None]:
        if self._reopen_needed and not self._in_tx:
            self._reopen()  # raises DestinationUnavailable itself while the cause lasts
        if table is not None:
            self._touched.add((table.schema, table.table))
        try:
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
            self._write_statuses()  # the open transaction reads its own statuses
            return self._con.execute(sql, params).fetchall()

    def _first(self, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
        rows = self._read(sql, params)
        return rows[0] if rows else None

    # --- schema -----------------------------------------------------------------------------

    def create_table(self, schema: TableSchema) -> None:
        ddl.check_reserved(schema.id)
        # TableFailed (before any change) when a column has no DuckDB type
        statements = ddl.create_table_sql(schema, self._catalog)
        with self._atomic("create table", schema.id):
            ddl.check_case_clash(self._con, schema.id, names=self._names)
            if self._names.schema(self._con, schema.id.schema) is not None:
                statements = statements[1:]  # its CREATE SCHEMA IF NOT EXISTS: one per table
            for sql in statements:
                self._exec(sql)
            self._names.added(schema.id)
            self._record_schema(schema.id, schema)

    def drop_table(self, table: TableId) -> None:
        with self._atomic("drop table", table):
            self._exec(f"DROP TABLE IF EXISTS {qualified(table, self._catalog)}")
            self._names.removed(table)
            self._record_schema(table, None)

    def rename_table(self, old: TableId, new: TableSchema) -> None:
        ddl.check_reserved(new.id)
        statements = ddl.rename_table_sql(old, new, self._catalog)
        with self._atomic("rename table", old):
            ddl.check_case_clash(self._con, new.id, allow=old, names=self._names)
            for sql in statements:
                self._exec(sql)
            self._names.removed(old)
            self._names.added(new.id)
            self._record_schema(old, None)
            self._record_schema(new.id, new)

    def truncate_table(self, table: TableId) -> None:
        with self._atomic("truncate table", table):
            self._exec(f"DELETE FROM {qualified(table, self._catalog)}")

    def existing_table(self, table: TableId) -> TableId | None:
        """The warehouse table `table` names, as stored (DuckDB names ignore case), if any."""
        with self._errors("look up table", table):
            return ddl.existing_name(self._con, table, self._names)

    def add_column(self, table: TableId, column: ColumnSchema, position: int | None = None) -> None:
        """Add `column` as the `position`-th column (0-based; None: last). Rows get NULL."""
        with self._atomic("add column", table):
            current = self.recorded_schema(table)
            if current is None:
                raise DestinationError(f"table {table}: no recorded schema to add a column to")
            for sql in ddl.add_column_sql(current, column, position, self._catalog):
                self._exec(sql)
            self._record_schema(table, ddl.with_added(current, column, position))

    def drop_column(self, table: TableId, name: str) -> None:
        with self._atomic("drop column", table):
            self._exec(ddl.drop_column_sql(table, name, self._catalog))
            self._update_schema(table, lambda s: ddl.with_dropped(s, name))

    def rename_column(self, table: TableId, old: str, new: str) -> None:
        with self._atomic("rename column", table):
            self._exec(ddl.rename_column_sql(table, old, new, self._catalog))
            self._update_schema(table, lambda s: ddl.with_renamed(s, old, new))

    def record_schema(self, schema: TableSchema) -> None:
        """Record `schema` for its table without DDL (e.g. a column's source type changed in a
        way that keeps its DuckDB type, or the engine knows the order after ADD ... AFTER)."""
        with self._atomic("record schema", schema.id):
            self._record_schema(schema.id, schema)

    def recorded_schema(self, table: TableId) -> TableSchema | None:
        row = self._first(
            f"SELECT table_schema FROM {self._meta}.tables WHERE integration_id = ? "
            "AND schema_name = ? AND table_name = ? AND table_schema IS NOT NULL",
            [self.integration_id, table.schema, table.table],
        )
        return None if row is None else meta.schema_from_json(row[0])

    def recorded_schemas(self) -> dict[TableId, TableSchema]:
        rows = self._read(
            f"SELECT table_schema FROM {self._meta}.tables WHERE integration_id = ? "
            "AND table_schema IS NOT NULL",
            [self.integration_id],
        )
        schemas = (meta.schema_from_json(r[0]) for r in rows)
        return {s.id: s for s in schemas}

    def _update_schema(self, table: TableId, change: Any) -> None:
        current = self.recorded_schema(table)
        if current is not None:
            self._record_schema(table, change(current))

    def _record_schema(self, table: TableId, schema: TableSchema | None) -> None:
        """Saved with the open transaction's other table rows (see `_write_statuses`)."""
        text = None if schema is None else meta.schema_to_json(schema)
        self._schemas[table] = [text, _now()]

    # --- data -------------------------------------------------------------------------------

    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        with self._atomic("apply changes", schema.id):
            apply.apply_changes(self._con, self._catalog, schema, changes, self._reader)

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        """A snapshot chunk: replaces rows with the same keys (idempotent if replayed); with
        `replace=False` a plain insert, for callers that know the keys are new."""
        with self._atomic("write snapshot chunk", schema.id):
            apply.write_chunk(self._con, self._catalog, schema, rows, replace)

    # --- metadata ---------------------------------------------------------------------------

    def load_checkpoint(self) -> Position | None:
        row = self._first(
            f"SELECT binlog_file, binlog_offset, gtid_set FROM {self._meta}.checkpoint "
            "WHERE integration_id = ?",
            [self.integration_id],
        )
        return None if row is None else Position(row[0], int(row[1]), row[2])

    def save_checkpoint(self, pos: Position) -> None:
        # One statement per commit once the row exists (a DuckDB statement costs ~0.3-2 ms
        # here; every commit pays this one).
        values = [*meta.position_values(pos), _now()]
        with self._atomic("save checkpoint"):
            changed = self._exec(
                f"UPDATE {self._meta}.checkpoint SET checkpoint_name = ?, binlog_file = ?, "
                "binlog_offset = ?, gtid_set = ?, updated_at = ? WHERE integration_id = ?",
                [*values, self.integration_id],
            ).fetchone()
            if not changed or not changed[0]:
                self._exec(
                    monitoring.table("checkpoint").insert(self._meta),
                    [self.integration_id, *values],
                )

    def load_table_statuses(self) -> dict[TableId, TableStatus]:
        cols = ", ".join(meta.STATUS_COLUMNS)
        rows = self._read(
            f"SELECT schema_name, table_name, {cols} FROM {self._meta}.tables "
            "WHERE integration_id = ? AND table_state IS NOT NULL",
            [self.integration_id],
        )
        statuses = (meta.status_from_row(r[0], r[1], r[2:]) for r in rows)
        return {s.id: s for s in statuses}

    def save_table_status(self, status: TableStatus) -> None:
        with self._atomic("save table status", status.id):
            self._statuses[status.id] = [*meta.status_values(status), _now()]

    def _write_statuses(self) -> None:
        """Write what the open transaction saved of table rows and state changes: per set of
        columns one UPDATE ... FROM and one INSERT of the rows still missing; state changes in
        one INSERT."""
        statuses, self._statuses = self._statuses, {}
        schemas, self._schemas = self._schemas, {}
        changes, self._changes = self._changes, []
        if statuses:
            self._upsert_rows([*meta.STATUS_COLUMNS, "last_updated_timestamp"], statuses)
        if schemas:
            self._upsert_rows(["table_schema", "schema_updated_at"], schemas)
        if changes:
            names = list(monitoring.table("state_changes").column_names)
            self._insert_rows("state_changes", names, changes)

    def _insert_rows(self, table: str, names: list[str], rows: list[list[Any]]) -> None:
        data = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
        view = "__zeroetl_meta_rows"
        self._con.register(view, data)
        try:
            cols = ", ".join(ident(n) for n in names)
            self._exec(f"INSERT INTO {self._meta}.{table} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self._con.unregister(view)

    def _upsert_rows(self, cols: list[str], pending: dict[TableId, list[Any]]) -> None:
        data = pa.table(
            {
                "schema_name": [t.schema for t in pending],
                "table_name": [t.table for t in pending],
                **{c: [v[i] for v in pending.values()] for i, c in enumerate(cols)},
            }
        )
        name = "__zeroetl_meta_rows"
        self._con.register(name, data)
        try:
            sets = ", ".join(f"{ident(c)} = b.{ident(c)}" for c in cols)
            self._exec(
                f"UPDATE {self._meta}.tables AS t SET {sets} FROM {name} AS b "
                "WHERE t.integration_id = ? AND t.schema_name = b.schema_name "
                "AND t.table_name = b.table_name",
                [self.integration_id],
            )
            names = ", ".join(ident(c) for c in cols)
            self._exec(
                f"INSERT INTO {self._meta}.tables (integration_id, schema_name, table_name, "
                f"{names}) SELECT ?, b.schema_name, b.table_name, {names} FROM {name} AS b "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self._meta}.tables AS t "
                "WHERE t.integration_id = ? AND t.schema_name = b.schema_name "
                "AND t.table_name = b.table_name)",
                [self.integration_id, self.integration_id],
            )
        finally:
            self._con.unregister(name)

    def record_state_change(
        self, table: TableId, new_state: TableState, reason: str, checkpoint: Position | None
    ) -> None:
        with self._atomic("record state change", table):
            self._changes.append(
                [
                    self.integration_id,
                    table.schema,
                    table.table,
                    new_state.value,
                    *meta.position_values(checkpoint),
                    reason,
                    _now(),
                ]
            )

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
    ) -> None:
        with self._atomic("record activity"):
            self._exec(
                monitoring.table("activity").insert(self._meta),
                [
                    self.integration_id,
                    *meta.position_values(checkpoint),
                    checkpoint_type,
                    checkpoint_bytes,
                    commit_ts,
                    modified_tables,
                    start,
                    end,
                ],
            )

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
    ) -> None:
        with self._atomic("record table activity", table):
            self._exec(
                monitoring.table("table_activity").insert(self._meta),
                [
                    self.integration_id,
                    str(checkpoint),
                    table.schema,
                    table.table,
                    _now(),
                    transaction_id,
                    inserted,
                    deleted,
                    updated,
                    bytes_ingested,
                ],
            )

    def record_tables_activity(
        self, *, checkpoint: Position, transaction_id: str, tables: Sequence[TableActivity]
    ) -> None:
        if not tables:
            return
        # One INSERT from an Arrow table: a row INSERT per table cost about a third of a commit
        # touching thousands of tables.
        n = len(tables)
        rows = pa.table(
            {
                "integration_id": pa.array([self.integration_id] * n, pa.string()),
                "checkpoint_name": pa.array([str(checkpoint)] * n, pa.string()),
                "schema_name": pa.array([a.table.schema for a in tables], pa.string()),
                "table_name": pa.array([a.table.table for a in tables], pa.string()),
                "record_time": pa.array([_now()] * n, pa.timestamp("us", tz="UTC")),
                "transaction_id": pa.array([transaction_id] * n, pa.string()),
                "inserted_rows": pa.array([a.inserted for a in tables], pa.int64()),
                "deleted_rows": pa.array([a.deleted for a in tables], pa.int64()),
                "updated_rows": pa.array([a.updated for a in tables], pa.int64()),
                "bytes_ingested": pa.array([a.bytes_ingested for a in tables], pa.int64()),
            }
        )
        table = monitoring.table("table_activity")
        name = "__zeroetl_table_activity"
        with self._atomic("record table activity"):
            self._con.register(name, rows)
            try:
                cols = ", ".join(table.column_names)
                self._exec(
                    f"INSERT INTO {self._meta}.table_activity ({cols}) SELECT {cols} FROM {name}"
                )
            finally:
                self._con.unregister(name)

    def table_stats(self) -> list[dict[str, Any]]:
        """Per replicated table: schema, table, rows (exact, committed) and bytes (estimate)."""
        with self._errors("table statistics"):
            return meta.table_stats(self._con, self._catalog)

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

    def __repr__(self) -> str:
        return f"DuckDBDestination({str(self.path)!r}, {json.dumps(self.integration_id)})"
