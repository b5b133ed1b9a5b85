"""ClickHouse SQL we would send a cluster (checked as text: no cluster here), the server URL,
and the row version (docs/clickhouse.md)."""

from __future__ import annotations

import pytest

from zeroetl.destinations.clickhouse import ddl
from zeroetl.destinations.clickhouse.conn import ServerParams
from zeroetl.destinations.clickhouse.types import version_of
from zeroetl.errors import ConfigError, TableFailed
from zeroetl.model import ColumnSchema, Kind, LogicalType, Position, TableId, TableSchema

T = TableId("shop", "or`ders")
S = TableSchema(
    T,
    (
        ColumnSchema("id", LogicalType(Kind.INT64), nullable=False),
        ColumnSchema("price", LogicalType(Kind.DECIMAL_TEXT, 65, 30)),
        ColumnSchema("at", LogicalType(Kind.TIMESTAMP), nullable=False),
    ),
    ("id",),
)


def test_single_node_table() -> None:
    assert ddl.create_table_sql(S) == (
        "CREATE OR REPLACE TABLE `shop`.`or\\`ders` (`id` Int64, "
        "`price` Nullable(Decimal(65, 30)), `at` DateTime64(6, 'UTC'), _version UInt64, "
        "_is_deleted UInt8, _synced_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
        "ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (`id`)"
    )


def test_cluster_ddl_runs_on_cluster_with_replicated_engines() -> None:
    sql = ddl.create_table_sql(S, "prod")
    assert sql.startswith("CREATE TABLE IF NOT EXISTS ")  # swapped in by EXCHANGE, not replaced
    assert " ON CLUSTER `prod` (" in sql
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', "
        "_version, _is_deleted)"
    ) in sql
    assert ddl.drop_column_sql(T, "price", "prod") == (
        "ALTER TABLE `shop`.`or\\`ders` ON CLUSTER `prod` DROP COLUMN IF EXISTS `price`"
    )
    assert ddl.rename_table_sql(T, TableId("a", "b"), "prod").endswith(" ON CLUSTER `prod`")
    assert all("ON CLUSTER `prod`" in s for s in ddl.meta_sql("prod"))
    assert ddl.create_database_sql("shop", "prod") == (
        "CREATE DATABASE IF NOT EXISTS `shop` ON CLUSTER `prod`"
    )


def test_reserved_and_unmappable_columns_fail_the_table() -> None:
    bad = TableSchema(T, (ColumnSchema("_version", LogicalType(Kind.INT32)),), ("_version",))
    with pytest.raises(TableFailed, match="reserved"):
        ddl.create_table_sql(bad)
    wide = TableSchema(T, (ColumnSchema("d", LogicalType(Kind.DECIMAL, 77, 2)),), ("d",))
    with pytest.raises(TableFailed, match="Decimal"):
        ddl.create_table_sql(wide)


def test_server_url() -> None:
    p = ServerParams.from_url("clickhouse://zeroetl@ch1:8123/?cluster=prod&secure=1")
    assert (p.host, p.port, p.user, p.cluster, p.secure) == ("ch1", 8123, "zeroetl", "prod", True)
    assert ServerParams.from_url("clickhouse://ch1/?secure=1").port == 8443
    with pytest.raises(ConfigError, match="password"):
        ServerParams.from_url("clickhouse://u:secret@ch1:8123/")
    with pytest.raises(ConfigError, match="unknown"):
        ServerParams.from_url("clickhouse://u@ch1:8123/?password=x")


def test_versions_follow_the_binlog_and_depend_only_on_the_position() -> None:
    a, b = Position("bin.000001", 4_000_000_000), Position("bin.000002", 4)
    assert version_of(a) < version_of(b) < 2**64
    assert version_of(Position("bin.000002", 4, "0-1-9")) == version_of(b)


def test_urls_pick_the_clickhouse_destination_and_refuse_a_password() -> None:
    from zeroetl.destinations import base

    assert base.get("chdb") is base.get("clickhouse")
    with pytest.raises(ConfigError, match="password"):
        base.open_url("clickhouse://u:secret@ch1:8123/", "i")
    with pytest.raises(ConfigError, match="chDB"):
        base.open_url("chdb://", "i")


def test_environment_faults_are_retried_statement_faults_are_not() -> None:
    from zeroetl.destinations.clickhouse import faults
    from zeroetl.errors import DestinationUnavailable, TransientError

    full = faults.error(
        "insert",
        "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)",
    )
    parts = faults.error(
        "insert", "Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)"
    )
    assert isinstance(full, DestinationUnavailable) and isinstance(parts, TransientError)
    bad = faults.error(
        "insert", "Code: 6. DB::Exception: Cannot parse string 'x' as Int32. (CANNOT_PARSE_TEXT)"
    )
    assert not isinstance(bad, TransientError) and "CANNOT_PARSE_TEXT" in str(bad)


def test_a_refusal_of_the_embedded_engine_names_its_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from zeroetl.destinations import base
    from zeroetl.errors import DestinationError, TransientError

    d = base.open_url(f"chdb://{tmp_path}/ch", "i")
    try:
        with pytest.raises(DestinationError, match="UNKNOWN_DATABASE") as e:
            d._t.query("SELECT * FROM nowhere.nothing")
        assert not isinstance(e.value, TransientError)
    finally:
        d.close()
