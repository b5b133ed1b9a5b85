"""DDL text for replicated tables and for our metadata. Pure functions (unit-tested as text).

Every replicated table: the source's columns, then `_version UInt64`, `_is_deleted UInt8`,
`_synced_at DateTime64(6, 'UTC')`, as `ReplacingMergeTree(_version, _is_deleted)` ORDER BY the
source's primary key. With a cluster, each replicated table is a Replicated local table plus a
Distributed table over it, and every statement runs `ON CLUSTER`: cluster.py builds those
sequences from the statements here (docs/clickhouse.md, "On a cluster").

Statements are idempotent (IF [NOT] EXISTS): with no transactional DDL, the engine may replay a
schema change after a crash, and a second ADD COLUMN must not fail.
"""

from __future__ import annotations

from zeroetl.model import ColumnSchema, TableId, TableSchema

from .types import DELETED, SYNCED_AT, VERSION, column_type, ident, qualified

META_DB = "_zeroetl"


def on_cluster(cluster: str) -> str:
    return f" ON CLUSTER {ident(cluster)}" if cluster else ""


# The Keeper path of a cluster's replicated tables: `{uuid}` (the initiator of an ON CLUSTER
# CREATE gives every host the same UUID) rather than `{database}/{table}`, so RENAME and
# EXCHANGE keep the path valid (ClickHouse refuses to rename a table whose path holds the
# implicit {database}/{table} macros); `{shard}` makes each shard its own replica set.
SHARD_PATH = "'/clickhouse/tables/{uuid}/{shard}', '{replica}'"
# Our metadata is one replica set spanning every host (no `{shard}` in the path): a replica's
# name must then be unique cluster-wide, hence shard and replica together.
EVERY_HOST_PATH = "'/clickhouse/tables/{uuid}/all', '{shard}-{replica}'"


def engine(cluster: str) -> str:
    if cluster:
        return f"ReplicatedReplacingMergeTree({SHARD_PATH}, {VERSION}, {DELETED})"
    return f"ReplacingMergeTree({VERSION}, {DELETED})"


def create_database_sql(database: str, cluster: str = "") -> str:
    return f"CREATE DATABASE IF NOT EXISTS {ident(database)}{on_cluster(cluster)}"


def columns_sql(schema: TableSchema) -> str:
    """The table's column list. Raises TableFailed when a column has no ClickHouse type."""
    keys = set(schema.primary_key)
    cols = [f"{ident(c.name)} {column_type(schema.id, c, c.name in keys)}" for c in schema.columns]
    cols += [
        f"{VERSION} UInt64",
        f"{DELETED} UInt8",
        f"{SYNCED_AT} DateTime64(6, 'UTC') DEFAULT now64(6)",
    ]
    return f"({', '.join(cols)})"


def create_table_sql(schema: TableSchema, cluster: str = "", *, name: TableId | None = None) -> str:
    """The replicated table (under `name`, else the source's). Raises TableFailed (before
    anything is sent) when a column has no ClickHouse type.

    On one node, OR REPLACE: a table copied again (resync, refresh) starts empty in its new
    shape, and the swap is atomic in ClickHouse's Atomic databases (the old data stays
    readable until then). A cluster's local tables are created IF NOT EXISTS and swapped with
    EXCHANGE TABLES instead (cluster.py)."""
    order = ", ".join(ident(k) for k in schema.primary_key)
    head = "CREATE TABLE IF NOT EXISTS" if cluster else "CREATE OR REPLACE TABLE"
    return (
        f"{head} {qualified(name or schema.id)}{on_cluster(cluster)} "
        f"{columns_sql(schema)} ENGINE = {engine(cluster)} ORDER BY ({order})"
    )


def add_column_sql(
    table: TableId, column: ColumnSchema, after: str | None, first: bool, cluster: str = ""
) -> str:
    where = " FIRST" if first else (f" AFTER {ident(after)}" if after else "")
    ctype = column_type(table, column, key=False)
    return (
        f"ALTER TABLE {qualified(table)}{on_cluster(cluster)} "
        f"ADD COLUMN IF NOT EXISTS {ident(column.name)} {ctype}{where}"
    )


def drop_column_sql(table: TableId, name: str, cluster: str = "") -> str:
    return (
        f"ALTER TABLE {qualified(table)}{on_cluster(cluster)} DROP COLUMN IF EXISTS {ident(name)}"
    )


def rename_column_sql(table: TableId, old: str, new: str, cluster: str = "") -> str:
    return (
        f"ALTER TABLE {qualified(table)}{on_cluster(cluster)} "
        f"RENAME COLUMN IF EXISTS {ident(old)} TO {ident(new)}"
    )


def rename_table_sql(old: TableId, new: TableId, cluster: str = "") -> str:
    return f"RENAME TABLE {qualified(old)} TO {qualified(new)}{on_cluster(cluster)}"


def truncate_sql(table: TableId, cluster: str = "") -> str:
    return f"TRUNCATE TABLE IF EXISTS {qualified(table)}{on_cluster(cluster)}"


def drop_table_sql(table: TableId, cluster: str = "") -> str:
    # SYNC on a cluster: a Replicated table's Keeper metadata goes with it, not minutes later
    sync = " SYNC" if cluster else ""
    return f"DROP TABLE IF EXISTS {qualified(table)}{on_cluster(cluster)}{sync}"


def meta_sql(cluster: str = "") -> list[str]:
    """Our own tables: `state` (latest value per key: checkpoint, table schemas and statuses,
    key/value) and `history` (append-only: state changes, activity)."""
    db = ident(META_DB)
    # On a cluster: replicated to every host, not sharded (a few rows per table; any host
    # reads all of it locally, no Distributed fan-out): docs/clickhouse.md, "On a cluster".
    state = "ReplacingMergeTree(_version, _is_deleted)"
    history = "MergeTree"
    if cluster:
        state = f"ReplicatedReplacingMergeTree({EVERY_HOST_PATH}, _version, _is_deleted)"
        history = f"ReplicatedMergeTree({EVERY_HOST_PATH})"
    return [
        create_database_sql(META_DB, cluster),
        f"CREATE TABLE IF NOT EXISTS {db}.state{on_cluster(cluster)} (integration_id String, "
        "kind LowCardinality(String), key String, value String, _version UInt64, "
        f"_is_deleted UInt8) ENGINE = {state} ORDER BY (integration_id, kind, key)",
        f"CREATE TABLE IF NOT EXISTS {db}.history{on_cluster(cluster)} (integration_id String, "
        "kind LowCardinality(String), at DateTime64(6, 'UTC') DEFAULT now64(6), doc String) "
        f"ENGINE = {history} ORDER BY (integration_id, kind, at)",
    ]
