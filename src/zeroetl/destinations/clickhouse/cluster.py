"""Where a replicated table lives and which statements change it: one node, or a cluster.

`SingleNode`: one ReplacingMergeTree table under the source's name (ddl.py's statements).

`Cluster` (`clickhouse://...?cluster=NAME`), as ClickHouse clusters are laid out in the field:
- `db.<t>_local`: ReplicatedReplacingMergeTree(_version, _is_deleted) on every host, its Keeper
  path `/clickhouse/tables/{uuid}/{shard}` (one replica set per shard), ORDER BY the key;
- `db.<t>`: `Distributed(cluster, db, <t>_local, cityHash64(<key columns>))`, the name readers
  and inserts use. Sharding by a hash of the source's primary key sends every version of a key
  (its rows, its tombstone) to one shard, so FINAL, which each shard applies to its own rows,
  keeps the highest version per key exactly as on one node. A key change at the source is a
  tombstone of the old key and a row of the new: two keys, each on its own shard, both right.
- Inserts go through the Distributed table with `distributed_foreground_insert=1`: the INSERT
  returns only when every shard has the rows (not queued on the initiator's disk for later),
  and `insert_quorum='auto'`: on a majority of each shard's replicas. The checkpoint is
  inserted after the data (destination.py), so it never covers rows a lost host held alone.
- Every statement runs ON CLUSTER, the local table's and the Distributed table's together, in
  the order that keeps readers working (a column is added below first, dropped above first);
  every sequence is idempotent as a whole: a crash or timeout in the middle, then the same
  call again, ends in the same state.

Names: `<t>_local` and, while a table is copied again, `<t>_local_new` sit beside the source's
tables in the same database, so a source table named like another's local table would collide:
`check_names` fails the later one (before anything is sent) instead of overwriting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from zeroetl.errors import TableFailed
from zeroetl.model import ColumnSchema, TableId, TableSchema

from . import ddl
from .types import ident, literal, qualified

LOCAL, STAGING = "_local", "_local_new"

# Per data insert on a cluster (see the module doc). `distributed_foreground_insert` was
# `insert_distributed_sync` before ClickHouse 23.3 (both names are accepted since).
DATA_INSERT = {"distributed_foreground_insert": "1", "insert_quorum": "auto"}
META_INSERT = {"insert_quorum": "auto"}


class SingleNode:
    """One ReplacingMergeTree table per replicated table (ddl.py)."""

    def __init__(self) -> None:
        self.cluster = ""
        self.data_insert: dict[str, str] = {}  # the transport's defaults only
        self.meta_insert: dict[str, str] = {}

    def neighbours(self, table: TableId) -> list[TableId]:
        """Nothing to collide with: one table per source table."""
        return []

    def check_names(self, table: TableId, others: Iterable[TableId]) -> None:
        """Nothing to collide with: one table per source table."""

    def create(self, schema: TableSchema, exists: Callable[[TableId], bool]) -> list[str]:
        return [ddl.create_database_sql(schema.id.schema), ddl.create_table_sql(schema)]

    def add_column(
        self, t: TableId, column: ColumnSchema, after: str | None, first: bool
    ) -> list[str]:
        return [ddl.add_column_sql(t, column, after, first)]

    def drop_column(self, t: TableId, name: str) -> list[str]:
        return [ddl.drop_column_sql(t, name)]

    def rename_column(self, t: TableId, old: str, new: str) -> list[str]:
        return [ddl.rename_column_sql(t, old, new)]

    def rename_table(
        self, old: TableId, new: TableSchema, exists: Callable[[TableId], bool]
    ) -> list[str]:
        out = [ddl.create_database_sql(new.id.schema)]
        if not _renamed_already(old, new.id, exists):
            out.append(ddl.rename_table_sql(old, new.id))
        return out

    def truncate(self, table: TableId) -> list[str]:
        return [ddl.truncate_sql(table)]

    def drop(self, table: TableId) -> list[str]:
        return [ddl.drop_table_sql(table)]

    def parts_sql(self, table: TableId) -> str:
        """Bytes on disk of the table's active parts."""
        return (
            "SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE active AND database = "
            f"{literal(table.schema)} AND table = {literal(table.table)}"
        )


def _renamed_already(old: TableId, new: TableId, exists: Callable[[TableId], bool]) -> bool:
    """RENAME has no IF EXISTS: a rename applied again after a crash finds the table under
    its new name only, and is then skipped."""
    return not exists(old) and exists(new)


def local_id(table: TableId) -> TableId:
    return TableId(table.schema, table.table + LOCAL)


def staging_id(table: TableId) -> TableId:
    return TableId(table.schema, table.table + STAGING)


def sharding_key(schema: TableSchema) -> str:
    """A hash of the source's primary key: every version of a key lands on one shard."""
    return f"cityHash64({', '.join(ident(k) for k in schema.primary_key)})"


class Cluster:
    """A Replicated local table and a Distributed table over it (the module doc)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.data_insert = dict(DATA_INSERT)
        self.meta_insert = dict(META_INSERT)

    def neighbours(self, table: TableId) -> list[TableId]:
        """The only source tables whose names can meet `table`'s (see check_names): so the
        destination looks up these few, not every recorded table."""
        t = table.table
        out = [TableId(table.schema, t + LOCAL), TableId(table.schema, t + STAGING)]
        for suffix in (LOCAL, STAGING):
            if t.endswith(suffix) and len(t) > len(suffix):
                out.append(TableId(table.schema, t[: -len(suffix)]))
        return out

    def check_names(self, table: TableId, others: Iterable[TableId]) -> None:
        """Fail `table` when its names (itself, its local and staging tables) meet those of
        another replicated table of its database."""
        mine = {table.table, local_id(table).table, staging_id(table).table}
        for other in others:
            if other == table or other.schema != table.schema:
                continue
            theirs = {other.table, local_id(other).table, staging_id(other).table}
            if mine & theirs:
                raise TableFailed(
                    str(table),
                    f"on a ClickHouse cluster its tables ({table.table!r}, "
                    f"{local_id(table).table!r}) would collide with those of table "
                    f"{other.table!r}",
                )

    def distributed_sql(self, schema: TableSchema) -> str:
        """The Distributed table under the source's name; OR REPLACE: it holds no data of its
        own (inserts are in the foreground), so it is rebuilt whenever its target changes."""
        t = schema.id
        target = (
            f"Distributed({literal(self.cluster)}, {literal(t.schema)}, "
            f"{literal(local_id(t).table)}, {sharding_key(schema)})"
        )
        return (
            f"CREATE OR REPLACE TABLE {qualified(t)}{ddl.on_cluster(self.cluster)} "
            f"{ddl.columns_sql(schema)} ENGINE = {target}"
        )

    def create(self, schema: TableSchema, exists: Callable[[TableId], bool]) -> list[str]:
        """A new table: its local table and the Distributed one. A table copied again: a new
        empty local table swapped in with EXCHANGE TABLES (atomic on each host: readers see
        the old rows until then, as CREATE OR REPLACE gives one node), the old one dropped,
        and the Distributed table rebuilt for the new shape."""
        c, t = self.cluster, schema.id
        local, staging = local_id(t), staging_id(t)
        distributed = self.distributed_sql(schema)  # TableFailed before anything is sent
        out = [ddl.create_database_sql(t.schema, c)]
        if not exists(local):
            out.append(ddl.create_table_sql(schema, c, name=local))
        else:
            out += [
                ddl.drop_table_sql(staging, c),  # a leftover of an interrupted copy
                ddl.create_table_sql(schema, c, name=staging),
                f"EXCHANGE TABLES {qualified(staging)} AND {qualified(local)}{ddl.on_cluster(c)}",
                ddl.drop_table_sql(staging, c),
            ]
        return [*out, distributed]

    def add_column(
        self, t: TableId, column: ColumnSchema, after: str | None, first: bool
    ) -> list[str]:
        c = self.cluster
        return [  # below first: the Distributed table never names a column its shards lack
            ddl.add_column_sql(local_id(t), column, after, first, c),
            ddl.add_column_sql(t, column, after, first, c),
        ]

    def drop_column(self, t: TableId, name: str) -> list[str]:
        c = self.cluster
        return [ddl.drop_column_sql(t, name, c), ddl.drop_column_sql(local_id(t), name, c)]

    def rename_column(self, t: TableId, old: str, new: str) -> list[str]:
        c = self.cluster
        return [
            ddl.rename_column_sql(local_id(t), old, new, c),
            ddl.rename_column_sql(t, old, new, c),
        ]

    def rename_table(
        self, old: TableId, new: TableSchema, exists: Callable[[TableId], bool]
    ) -> list[str]:
        """The local table is renamed (its data and Keeper path go with it); a Distributed
        table names its target by database and table, so the old one is dropped and one for
        the new name created."""
        c = self.cluster
        out = [ddl.create_database_sql(new.id.schema, c)]
        if not _renamed_already(local_id(old), local_id(new.id), exists):
            out.append(ddl.rename_table_sql(local_id(old), local_id(new.id), c))
        return [*out, ddl.drop_table_sql(old, c), self.distributed_sql(new)]

    def truncate(self, table: TableId) -> list[str]:
        # the rows are in the local tables (TRUNCATE of a Distributed table clears only its
        # queue of inserts not yet sent)
        return [ddl.truncate_sql(local_id(table), self.cluster)]

    def drop(self, table: TableId) -> list[str]:
        c = self.cluster
        return [
            ddl.drop_table_sql(table, c),
            ddl.drop_table_sql(local_id(table), c),
            ddl.drop_table_sql(staging_id(table), c),
        ]

    def parts_sql(self, table: TableId) -> str:
        """Bytes on disk of the local tables' active parts, one replica per shard."""
        local = local_id(table)
        return (
            f"SELECT sum(bytes_on_disk) AS b FROM cluster({literal(self.cluster)}, system.parts)"
            f" WHERE active AND database = {literal(local.schema)} AND table = "
            f"{literal(local.table)}"
        )


Layout = SingleNode | Cluster


def not_ready(query: Callable[[str], Any], cluster: str) -> str:
    """Why the server cannot hold this layout, or "": the cluster must be in its
    `remote_servers`, and the host must set the `{shard}` and `{replica}` macros the Keeper
    paths use (ON CLUSTER runs the same statements on every host, each with its own macros)."""
    found = query(f"SELECT count() AS n FROM system.clusters WHERE cluster = {literal(cluster)}")
    if not found["n"][0].as_py():
        return f"cluster {cluster!r} is not defined in the server's remote_servers"
    macros = query("SELECT macro FROM system.macros")
    have = {m.decode() if isinstance(m, bytes) else str(m) for m in macros["macro"].to_pylist()}
    missing = sorted({"shard", "replica"} - have)
    if missing:
        return "the server sets no " + " and no ".join("{" + m + "}" for m in missing) + " macro"
    return ""


def layout(cluster: str) -> Layout:
    return Cluster(cluster) if cluster else SingleNode()
