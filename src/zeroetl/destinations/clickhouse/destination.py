"""The ClickHouse destination: replicated tables as ReplacingMergeTree, our metadata beside
them in the `_zeroetl` database, over embedded chDB or a server's HTTP interface.

Exactly once without transactions (docs/clickhouse.md has the argument in full):
- `begin()` opens a transaction in this process only: writes are gathered (apply.Pending,
  metadata in `_meta`), `rollback()` drops them, and `commit()` writes the data first, then the
  metadata, and the checkpoint last.
- Each key is written once per commit with `_version` = version_of(the commit's checkpoint, or
  the last committed one when the commit saves none), so versions follow the source's order.
- A crash inside `commit()` leaves data written past the stored checkpoint; the engine replays
  from the checkpoint, rewriting the same state with versions no higher, and FINAL shows the
  latest state once the replay passes the crash point: `idempotent_replay`, not
  `atomic_checkpoint`.
- DDL is not transactional: it runs at once (after writing what is pending), and the engine
  commits the checkpoint right after it (`transactional_ddl=False`).
- With `?cluster=NAME` a replicated table is a Replicated local table plus a Distributed table
  under the source's name; which statements a change takes is cluster.py's (`Layout`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from zeroetl import dataversions
from zeroetl.destinations.base import Capabilities, register
from zeroetl.errors import ConfigError, DestinationError
from zeroetl.model import (
    ColumnSchema,
    Position,
    TableActivity,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)

from . import cluster as layouts
from . import ddl, meta, read
from .apply import Pending
from .conn import ChdbTransport, HttpTransport, ServerParams, Transport, chdb_url_parts
from .types import literal, qualified, version_of

log = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    atomic_checkpoint=False,  # data, then metadata, then checkpoint: a crash can split them
    idempotent_replay=True,  # deterministic _version + ReplacingMergeTree (apply.py)
    transactional_ddl=False,  # ClickHouse DDL is immediate
    positional_add_column=True,  # ALTER TABLE ... ADD COLUMN ... FIRST / AFTER
    # ClickHouse has no name limit of its own; MergeTree hashes long column file names
    # (replace_long_file_name_to_hash), and MySQL names are at most 64 characters.
    max_identifier_length=0,
)

DB = ddl.META_DB


@register("clickhouse")
@register("chdb")
class ClickHouseDestination:
    capabilities = CAPABILITIES

    def __init__(
        self,
        transport: Transport,
        integration_id: str,
        *,
        cluster: str = "",
        where: str = "",
        insert_interval_ms: int = 0,
    ) -> None:
        """`insert_interval_ms`: the least time between two data commits (from_url gives the
        transport's default or the URL's `min_insert_interval_ms`; conn.py)."""
        self.integration_id = integration_id
        self.capabilities = replace(CAPABILITIES, min_commit_interval_s=insert_interval_ms / 1000)
        self.cluster = cluster
        self._layout = layouts.layout(cluster)
        self.where = where  # for messages: a path or a redacted URL
        self._t = transport
        self._clock = meta.Clock()
        self._in_tx = False
        self._pending: dict[TableId, Pending] = {}
        self._meta: dict[tuple[str, str], str | None] = {}  # pending state rows; None: delete
        self._history: list[tuple[str, str]] = []
        self._tx_checkpoint: Position | None = None
        try:
            for sql in ddl.meta_sql(cluster):
                self._t.command(sql)
            self._committed = self.load_checkpoint()
        except BaseException:
            self._t.close()
            raise

    @classmethod
    def from_url(cls, url: str, integration_id: str, **options: Any) -> ClickHouseDestination:
        scheme = url.partition("://")[0]
        if scheme.lower() == "chdb":
            path, interval_ms = chdb_url_parts(url)
            if not path:
                raise ConfigError(
                    f"not a chDB destination URL: {url!r}", hint="chdb:///path/to/dir"
                )
            transport = ChdbTransport(Path(path))
            return cls(
                transport, integration_id, where=path, insert_interval_ms=interval_ms, **options
            )
        params = ServerParams.from_url(url)
        return cls(
            HttpTransport(params),
            integration_id,
            cluster=params.cluster,
            where=params.redacted(),
            insert_interval_ms=params.insert_interval_ms,
            **options,
        )

    # --- transactions -----------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    def begin(self) -> None:
        if self._in_tx:
            raise DestinationError(
                f"integration {self.integration_id}: a transaction is already open"
            )
        self._in_tx = True

    def rollback(self) -> None:
        self._in_tx = False
        self._pending.clear()
        self._meta.clear()
        self._history.clear()
        self._tx_checkpoint = None

    def commit(self) -> None:
        if not self._in_tx:
            raise DestinationError(f"integration {self.integration_id}: no transaction to commit")
        try:
            self._write_pending()
            self._write_meta()
            if self._tx_checkpoint is not None:
                self._committed = self._tx_checkpoint
        finally:
            self.rollback()  # what is written is written; nothing stays pending

    def _tx_version(self) -> int:
        return version_of(self._tx_checkpoint or self._committed)

    def _write_pending(self, only: TableId | None = None) -> None:
        version = self._tx_version()
        for table in [t for t in self._pending if only is None or t == only]:
            rows = self._pending.pop(table).rows_to_write(version)
            if rows is not None and rows.num_rows:
                self._t.insert(qualified(table), rows, self._layout.data_insert)

    def _write_meta(self) -> None:
        """Metadata after the data; the checkpoint in the last insert of all."""
        rows = [
            {"integration_id": self.integration_id, "kind": k, "key": key,
             "value": v or "", "_version": self._clock.next(), "_is_deleted": int(v is None)}
            for (k, key), v in self._meta.items()
        ]  # fmt: skip
        normal = [r for r in rows if r["kind"] != "checkpoint"]
        checkpoint = [r for r in rows if r["kind"] == "checkpoint"]
        history = [
            {"integration_id": self.integration_id, "kind": k, "doc": d} for k, d in self._history
        ]
        quorum = self._layout.meta_insert
        if normal:
            self._t.insert(f"{DB}.state", pa.Table.from_pylist(normal, meta.STATE_ARROW), quorum)
        if history:
            data = pa.Table.from_pylist(history, meta.HISTORY_ARROW)
            self._t.insert(f"{DB}.history", data, quorum)
        if checkpoint:  # last of all: it never runs ahead of what it covers
            data = pa.Table.from_pylist(checkpoint, meta.STATE_ARROW)
            self._t.insert(f"{DB}.state", data, quorum)

    def _auto(self) -> _Auto:
        return _Auto(self)

    def close(self) -> None:
        self.rollback()
        self._t.close()

    def checkpoint_if_idle(self) -> None:
        """Nothing to fold: ClickHouse merges parts in the background."""

    # --- metadata state rows ---------------------------------------------------------------

    def _set(self, kind: str, key: str, value: str | None) -> None:
        with self._auto():
            self._meta[(kind, key)] = value

    def _get_all(self, kind: str) -> dict[str, str]:
        data = self._t.query(
            f"SELECT key, value FROM {DB}.state FINAL WHERE integration_id = "
            f"{literal(self.integration_id)} AND kind = {literal(kind)}"
        )
        got = {
            k.decode(): v.decode()
            for k, v in zip(data["key"].to_pylist(), data["value"].to_pylist(), strict=True)
        }
        for (k, key), v in self._meta.items():
            if k == kind:
                if v is None:
                    got.pop(key, None)
                else:
                    got[key] = v
        return got

    def _get(self, kind: str, key: str) -> str | None:
        if (kind, key) in self._meta:
            return self._meta[(kind, key)]
        return self._get_all(kind).get(key)

    # --- schema -----------------------------------------------------------------------------

    def _ddl(self, table: TableId, *sqls: str) -> None:
        """DDL runs at once: what is pending for the table is written before it. Readers that
        keep column lists (the SQL endpoint's) learn of it after (dataversions)."""
        if table in self._pending:
            self._write_pending(only=table)
        try:
            for sql in sqls:
                self._t.command(sql)
        finally:  # a failure part way may have changed some of it
            dataversions.schema_changed(self.where)

    def _exists(self, table: TableId) -> bool:
        found = self._t.query(
            f"SELECT count() AS n FROM system.tables WHERE database = {literal(table.schema)} "
            f"AND name = {literal(table.table)}"
        )
        return bool(found["n"][0].as_py())

    def _recorded_neighbours(self, table: TableId) -> list[TableId]:
        """The replicated tables whose names could collide with `table`'s on a cluster
        (cluster.Cluster.neighbours), looked up by key: not every recorded schema."""
        wanted = {meta.table_key(t): t for t in self._layout.neighbours(table)}
        if not wanted:
            return []
        data = self._t.query(
            f"SELECT key FROM {DB}.state FINAL WHERE integration_id = "
            f"{literal(self.integration_id)} AND kind = 'schema' AND key IN "
            f"({', '.join(literal(k) for k in wanted)})"
        )
        found = {k.decode() for k in data["key"].to_pylist()}
        for (kind, key), v in self._meta.items():  # this transaction's, not yet written
            if kind == "schema" and key in wanted:
                if v is None:
                    found.discard(key)
                else:
                    found.add(key)
        return [wanted[k] for k in found if k in wanted]

    def create_table(self, schema: TableSchema) -> None:
        """Create the table empty, replacing one of the same name (a copy starts again)."""
        self._layout.check_names(schema.id, self._recorded_neighbours(schema.id))
        sqls = self._layout.create(schema, self._exists)  # TableFailed before anything runs
        self._guard_replacement(schema.id)
        self._pending.pop(schema.id, None)
        self._ddl(schema.id, *sqls)
        self.record_schema(schema)

    def _guard_replacement(self, table: TableId) -> None:
        """Replacing a table empties it at once, while the status that says it is being copied
        again commits later. In between, a crash would leave a Synced status over an empty
        table, and replay would not refill it: so a committed status of the table is first
        marked ResyncRequired, committed now. The engine's own status replaces it at commit;
        after a crash, the next process copies the table again."""
        committed = {
            k: v for k, v in self._get_all("status").items() if (("status", k) not in self._meta)
        }
        key = meta.table_key(table)
        if key not in committed:
            return
        st = meta.status_from_json(table, committed[key])
        if st.state is TableState.RESYNC_REQUIRED:
            return
        st.state, st.reason = (
            TableState.RESYNC_REQUIRED,
            "copy interrupted: the table is copied again",
        )
        st.snapshot_done, st.snapshot_cursor, st.snapshot_hw, st.rows_copied = False, None, None, 0
        row = {"integration_id": self.integration_id, "kind": "status", "key": key,
               "value": meta.status_to_json(st), "_version": self._clock.next(), "_is_deleted": 0}  # fmt: skip
        data = pa.Table.from_pylist([row], meta.STATE_ARROW)
        self._t.insert(f"{DB}.state", data, self._layout.meta_insert)

    def drop_table(self, table: TableId) -> None:
        self._pending.pop(table, None)
        self._ddl(table, *self._layout.drop(table))
        self._set("schema", meta.table_key(table), None)

    def rename_table(self, old: TableId, new: TableSchema) -> None:
        others = [t for t in self._recorded_neighbours(new.id) if t != old]
        self._layout.check_names(new.id, others)
        self._ddl(old, *self._layout.rename_table(old, new, self._exists))
        self._set("schema", meta.table_key(old), None)
        self.record_schema(new)

    def truncate_table(self, table: TableId) -> None:
        self._pending.pop(table, None)  # what the transaction wrote before is truncated too
        self._ddl(table, *self._layout.truncate(table))

    def add_column(self, table: TableId, column: ColumnSchema, position: int | None = None) -> None:
        current = self.recorded_schema(table)
        names = list(current.names) if current else []
        first = position == 0
        after = names[position - 1] if position and 0 < position <= len(names) else None
        self._ddl(table, *self._layout.add_column(table, column, after, first))
        if current is not None:
            cols = list(current.columns)
            cols.insert(len(cols) if position is None else position, column)
            self.record_schema(TableSchema(table, tuple(cols), current.primary_key))

    def drop_column(self, table: TableId, name: str) -> None:
        self._ddl(table, *self._layout.drop_column(table, name))
        current = self.recorded_schema(table)
        if current is not None:
            cols = tuple(c for c in current.columns if c.name != name)
            self.record_schema(TableSchema(table, cols, current.primary_key))

    def rename_column(self, table: TableId, old: str, new: str) -> None:
        self._ddl(table, *self._layout.rename_column(table, old, new))
        current = self.recorded_schema(table)
        if current is not None:
            cols = tuple(
                ColumnSchema(new, c.type, c.nullable, c.source_type, c.unsupported_reason)
                if c.name == old
                else c
                for c in current.columns
            )
            key = tuple(new if k == old else k for k in current.primary_key)
            self.record_schema(TableSchema(table, cols, key))

    def record_schema(self, schema: TableSchema) -> None:
        self._set("schema", meta.table_key(schema.id), meta.schema_to_json(schema))

    def recorded_schema(self, table: TableId) -> TableSchema | None:
        text = self._get("schema", meta.table_key(table))
        return None if text is None else meta.schema_from_json(text)

    def recorded_schemas(self) -> dict[TableId, TableSchema]:
        schemas = (meta.schema_from_json(v) for v in self._get_all("schema").values())
        return {s.id: s for s in schemas}

    # --- data -------------------------------------------------------------------------------

    def apply_changes(self, schema: TableSchema, changes: pa.Table) -> None:
        with self._auto():
            self._pending.setdefault(schema.id, Pending(schema)).add_changes(schema, changes)

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        """Replacing and plain inserts are the same here: a key is one versioned row."""
        with self._auto():
            self._pending.setdefault(schema.id, Pending(schema)).add_chunk(schema, rows)

    def query(self, sql: str) -> pa.Table:
        """Run one read statement (ClickHouse SQL) and return its result as Arrow (String
        columns as binary: conn.READ_SETTINGS). For readers such as the SQL endpoint; it takes
        no part in the transaction and sees what is committed to ClickHouse."""
        return self._t.query(sql)

    def read_table(self, table: TableId, order_by: tuple[str, ...] = ()) -> pa.Table:
        """The table's current rows (FINAL) as the source's logical values."""
        schema = self.recorded_schema(table)
        if schema is None:
            raise DestinationError(f"table {table} is not replicated here")
        return read.to_logical(schema, self._t.query(read.select_current_sql(schema, order_by)))

    # --- checkpoint and monitoring ----------------------------------------------------------

    def load_checkpoint(self) -> Position | None:
        text = self._get("checkpoint", "")
        return None if text is None else meta.position_from(json.loads(text))

    def save_checkpoint(self, pos: Position) -> None:
        with self._auto():
            self._tx_checkpoint = pos
            self._meta[("checkpoint", "")] = json.dumps(meta.position_doc(pos))

    def load_table_statuses(self) -> dict[TableId, TableStatus]:
        docs = self._get_all("status")
        return {
            meta.table_from_key(k): meta.status_from_json(meta.table_from_key(k), v)
            for k, v in docs.items()
        }

    def save_table_status(self, status: TableStatus) -> None:
        self._set("status", meta.table_key(status.id), meta.status_to_json(status))

    def _log(self, kind: str, doc: dict[str, Any]) -> None:
        with self._auto():
            self._history.append((kind, json.dumps(doc, ensure_ascii=False, default=str)))

    def record_state_change(
        self, table: TableId, new_state: TableState, reason: str, checkpoint: Position | None
    ) -> None:
        self._log("state_change", {"table": [table.schema, table.table], "state": new_state.value,
                                   "reason": reason, "checkpoint": meta.position_doc(checkpoint)})  # fmt: skip

    def record_activity(self, *, checkpoint: Position, checkpoint_type: str, checkpoint_bytes: int,
                        commit_ts: datetime | None, modified_tables: int, start: datetime, end: datetime) -> None:  # fmt: skip
        self._log("activity", {"checkpoint": meta.position_doc(checkpoint), "type": checkpoint_type,
                               "bytes": checkpoint_bytes, "commit_ts": commit_ts,
                               "modified_tables": modified_tables, "start": start, "end": end})  # fmt: skip

    def record_table_activity(self, *, checkpoint: Position, table: TableId, transaction_id: str, inserted: int,
                              updated: int, deleted: int, bytes_ingested: int) -> None:  # fmt: skip
        self._log("table_activity", {"checkpoint": str(checkpoint), "table": [table.schema, table.table],
                                     "transaction_id": transaction_id, "inserted": inserted,
                                     "updated": updated, "deleted": deleted, "bytes": bytes_ingested})  # fmt: skip

    def record_tables_activity(self, *, checkpoint: Position, transaction_id: str,
                               tables: Sequence[TableActivity]) -> None:  # fmt: skip
        for a in tables:
            self.record_table_activity(checkpoint=checkpoint, table=a.table, transaction_id=transaction_id,
                                       inserted=a.inserted, updated=a.updated, deleted=a.deleted,
                                       bytes_ingested=a.bytes_ingested)  # fmt: skip

    def table_stats(self) -> list[dict[str, Any]]:
        """Per replicated table: rows (exact: FINAL, committed) and bytes on disk (its parts)."""
        out = []
        for s in self.recorded_schemas().values():
            rows = self._t.query(f"SELECT count() AS n FROM {qualified(s.id)} FINAL")
            size = self._t.query(self._layout.parts_sql(s.id))
            out.append(
                {
                    "schema": s.id.schema,
                    "table": s.id.table,
                    "rows": int(rows["n"][0].as_py()),
                    "bytes": int(size["b"][0].as_py() or 0),
                }
            )
        return out

    def kv_get(self, key: str) -> str | None:
        return self._get("kv", key)

    def kv_set(self, key: str, value: str) -> None:
        self._set("kv", key, value)

    def __repr__(self) -> str:
        return f"ClickHouseDestination({self.where!r}, {json.dumps(self.integration_id)})"


class _Auto:
    """Join the open transaction, or make the call a transaction of its own."""

    def __init__(self, dest: ClickHouseDestination) -> None:
        self.dest, self.own = dest, False

    def __enter__(self) -> None:
        if not self.dest.in_transaction:
            self.dest.begin()
            self.own = True

    def __exit__(self, et: Any, e: Any, tb: Any) -> None:
        if self.own:
            if e is None:
                self.dest.commit()
            else:
                self.dest.rollback()
