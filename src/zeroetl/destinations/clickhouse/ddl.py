"""DDL text for replicated tables and for our metadata. Pure functions (unit-tested as text).

Every replicated table: the source's columns, then `_version UInt64`, `_is_deleted UInt8`,
`_synced_at DateTime64(6, 'UTC')`, as `ReplacingMergeTree(_version, _is_deleted)` ORDER BY the
source's primary key. With a cluster, DDL runs `ON CLUSTER` and the engine is the Replicated one
(its ZooKeeper path per table UUID, as ClickHouse's defaults have it); a Distributed table
over it is future work (docs/clickhouse.md).

Statements are idempotent (IF [NOT] EXISTS): with no transactional DDL, the engine may replay a
schema change after a crash, and a second ADD COLUMN must not fail.
"""

from __future__ import annotations

from zeroetl.model import ColumnSchema, TableId, TableSchema

from .types import DELETED, SYNCED_AT, VERSION, column_type, ident, qualified

META_DB = "_zeroetl"


def on_cluster(cluster: str) -> str:
    return f" ON CLUSTER {ident(cluster)}" if cluster else ""


def engine(cluster: str) -> str:
    prefix = "Replicated" if cluster else ""
    return f"{prefix}ReplacingMergeTree({VERSION}, {DELETED})"


def create_database_sql(database: str, cluster: str = "") -> str:
    return f"CREATE DATABASE IF NOT EXISTS {ident(database)}{on_cluster(cluster)}"


def create_table_sql(schema: TableSchema, cluster: str = "") -> str:
    """Raises TableFailed (before anything is sent) when a column has no ClickHouse type."""
    keys = set(schema.primary_key)
    cols = [f"{ident(c.name)} {column_type(schema.id, c, c.name in keys)}" for c in schema.columns]
    cols += [
        f"{VERSION} UInt64",
        f"{DELETED} UInt8",
        f"{SYNCED_AT} DateTime64(6, 'UTC') DEFAULT now64(6)",
    ]
    order = ", ".join(ident(k) for k in schema.primary_key)
    # OR REPLACE: a table copied again (resync, refresh) starts empty in its new shape, and the
    # swap is atomic in ClickHouse's Atomic databases (the old data stays readable until then).
    return (
        f"CREATE OR REPLACE TABLE {qualified(schema.id)}{on_cluster(cluster)} "
        f"({', '.join(cols)}) ENGINE = {engine(cluster)} ORDER BY ({order})"
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
    return f"DROP TABLE IF EXISTS {qualified(table)}{on_cluster(cluster)}"


def meta_sql(cluster: str = "") -> list[str]:
    """Our own tables: `state` (latest value per key: checkpoint, table schemas and statuses,
    key/value) and `history` (append-only: state changes, activity)."""
    db = ident(META_DB)
    rmt = "Replicated" if cluster else ""
    return [
        create_database_sql(META_DB, cluster),
        f"CREATE TABLE IF NOT EXISTS {db}.state{on_cluster(cluster)} (integration_id String, "
        "kind LowCardinality(String), key String, value String, _version UInt64, "
        f"_is_deleted UInt8) ENGINE = {rmt}ReplacingMergeTree(_version, _is_deleted) "
        "ORDER BY (integration_id, kind, key)",
        f"CREATE TABLE IF NOT EXISTS {db}.history{on_cluster(cluster)} (integration_id String, "
        "kind LowCardinality(String), at DateTime64(6, 'UTC') DEFAULT now64(6), doc String) "
        f"ENGINE = {rmt}MergeTree ORDER BY (integration_id, kind, at)",
    ]
