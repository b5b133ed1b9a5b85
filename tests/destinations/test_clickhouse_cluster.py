"""`clickhouse://...?cluster=prod`: every statement the destination would send a cluster, captured
and inspected, through snapshot, CDC, each schema change, a copy started again and a drop; and
the same statements run on ClickHouse's engine (chDB with a one-shard cluster of this process,
chdb_cluster.py), so the Distributed tables, inserts and FINAL reads are checked by running.
What needs Keeper (ON CLUSTER, Replicated engines' paths) is only inspected."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.destinations.chdb_cluster import CLUSTER, RecordingTransport, open_cluster, runnable
from tests.sql_backend import HubBackend

from zeroetl import dataversions
from zeroetl.destinations import base
from zeroetl.destinations.clickhouse import cluster as layouts
from zeroetl.destinations.clickhouse import ddl
from zeroetl.errors import TableFailed
from zeroetl.model import (
    DEL,
    SEQ,
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.server.sql import clickhouse_run
from zeroetl.server.sql.session import SqlSession

T = TableId("shop", "orders")
S = TableSchema(
    T,
    (
        ColumnSchema("id", LogicalType(Kind.INT32), False),
        ColumnSchema("region", LogicalType(Kind.STRING), False),
        ColumnSchema("v", LogicalType(Kind.STRING)),
    ),
    ("id", "region"),
)
ON = f" ON CLUSTER `{CLUSTER}`"
COLS = (
    "(`id` Int32, `region` String, `v` Nullable(String), _version UInt64, _is_deleted UInt8, "
    "_synced_at DateTime64(6, 'UTC') DEFAULT now64(6))"
)
LOCAL_ENGINE = (
    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', "
    "_version, _is_deleted) ORDER BY (`id`, `region`)"
)
DIST_ENGINE = "ENGINE = Distributed('prod', 'shop', 'orders_local', cityHash64(`id`, `region`))"


@pytest.fixture
def dest(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = open_cluster(tmp_path / "ch")
    yield d
    d.close()


def sent(dest: Any, since: int = 0) -> list[tuple[str, str, dict[str, str]]]:
    t: RecordingTransport = dest._t
    return t.sent[since:]


def mark(dest: Any) -> int:
    return len(dest._t.sent)


def commands(dest: Any, since: int) -> list[str]:
    return [sql for kind, sql, _ in sent(dest, since) if kind == "command"]


def rows(data: list[tuple[int, str, str | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"id": i, "region": r, "v": v} for i, r, v in data], schema=S.arrow_schema()
    )


def changes(schema: TableSchema, data: list[dict[str, Any]]) -> pa.Table:
    fields = [*schema.arrow_schema(), pa.field(SEQ, pa.int64()), pa.field(DEL, pa.bool_())]
    return pa.Table.from_pylist(data, schema=pa.schema(fields))


def columns(dest: Any, table: TableId) -> list[tuple[str, str]]:
    got = dest._t.inner.query(
        "SELECT name, type FROM system.columns WHERE database = "
        f"'{table.schema}' AND table = '{table.table}' ORDER BY position"
    ).to_pylist()
    return [(r["name"].decode(), r["type"].decode()) for r in got]


def current(dest: Any, table: TableId = T) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in dest.read_table(table).to_pylist()]


def test_metadata_is_replicated_to_every_host_not_sharded(dest) -> None:  # type: ignore[no-untyped-def]
    first = commands(dest, 0)
    assert first[0] == f"CREATE DATABASE IF NOT EXISTS `_zeroetl`{ON}"
    every_host = "('/clickhouse/tables/{uuid}/all', '{shard}-{replica}'"
    assert f"ReplicatedReplacingMergeTree{every_host}, _version, _is_deleted)" in first[1]
    assert f"ReplicatedMergeTree{every_host})" in first[2]
    assert all(ON in s for s in first)


def test_snapshot_cdc_schema_changes_resync_and_drop_as_sent(dest) -> None:  # type: ignore[no-untyped-def]
    # --- a new table: the local table, then the Distributed one over it -------------------
    m = mark(dest)
    dest.create_table(S)
    assert commands(dest, m) == [
        f"CREATE DATABASE IF NOT EXISTS `shop`{ON}",
        f"CREATE TABLE IF NOT EXISTS `shop`.`orders_local`{ON} {COLS} {LOCAL_ENGINE}",
        f"CREATE OR REPLACE TABLE `shop`.`orders`{ON} {COLS} {DIST_ENGINE}",
    ]
    assert columns(dest, T) == columns(dest, layouts.local_id(T))

    # --- snapshot: through the Distributed table, in the foreground, before the checkpoint ---
    m = mark(dest)
    dest.begin()
    dest.write_chunk(S, rows([(1, "eu", "a"), (2, "us", "b"), (3, "eu", None)]))
    dest.save_table_status(TableStatus(T, TableState.SYNCED, snapshot_done=True))
    dest.save_checkpoint(Position("bin.000001", 100))
    dest.commit()
    inserts = [(sql, st) for kind, sql, st in sent(dest, m) if kind == "insert"]
    assert inserts[0] == ("`shop`.`orders`", layouts.DATA_INSERT)
    assert inserts[0][1] == {"distributed_foreground_insert": "1", "insert_quorum": "auto"}
    assert [sql for sql, _ in inserts[1:]] == [
        "_zeroetl.state",
        "_zeroetl.state",
    ]  # checkpoint last
    assert all(st == {"insert_quorum": "auto"} for _, st in inserts[1:])
    assert current(dest) == [(1, "eu", "a"), (2, "us", "b"), (3, "eu", None)]

    # --- CDC: an update, a delete, an insert; FINAL through the Distributed table -------------
    dest.begin()
    dest.apply_changes(S, changes(S, [
        {"id": 1, "region": "eu", "v": "a2", SEQ: 1, DEL: False},
        {"id": 2, "region": "us", "v": None, SEQ: 2, DEL: True},
        {"id": 4, "region": "us", "v": "d", SEQ: 3, DEL: False},
    ]))  # fmt: skip
    dest.save_checkpoint(Position("bin.000001", 200))
    dest.commit()
    assert current(dest) == [(1, "eu", "a2"), (3, "eu", None), (4, "us", "d")]
    reads = [sql for kind, sql, _ in sent(dest, m) if kind == "query" and "orders" in sql]
    assert reads and all("`shop`.`orders` FINAL" in sql for sql in reads)

    # --- each column change: the local tables and the Distributed one, in a safe order --------
    m = mark(dest)
    dest.add_column(T, ColumnSchema("note", LogicalType(Kind.STRING)), position=1)
    add = "ADD COLUMN IF NOT EXISTS `note` Nullable(String) AFTER `id`"
    assert commands(dest, m) == [
        f"ALTER TABLE `shop`.`orders_local`{ON} {add}",
        f"ALTER TABLE `shop`.`orders`{ON} {add}",
    ]
    m = mark(dest)
    dest.rename_column(T, "note", "memo")
    ren = "RENAME COLUMN IF EXISTS `note` TO `memo`"
    assert commands(dest, m) == [
        f"ALTER TABLE `shop`.`orders_local`{ON} {ren}",
        f"ALTER TABLE `shop`.`orders`{ON} {ren}",
    ]
    m = mark(dest)
    dest.drop_column(T, "memo")
    assert commands(dest, m) == [
        f"ALTER TABLE `shop`.`orders`{ON} DROP COLUMN IF EXISTS `memo`",
        f"ALTER TABLE `shop`.`orders_local`{ON} DROP COLUMN IF EXISTS `memo`",
    ]
    assert columns(dest, T) == columns(dest, layouts.local_id(T))
    assert current(dest) == [(1, "eu", "a2"), (3, "eu", None), (4, "us", "d")]

    # --- truncate: the rows are in the local tables -----------------------------------------
    m = mark(dest)
    dest.truncate_table(T)
    assert commands(dest, m) == [f"TRUNCATE TABLE IF EXISTS `shop`.`orders_local`{ON}"]
    assert current(dest) == []
    dest.write_chunk(S, rows([(5, "eu", "e")]))

    # --- copied again in a new shape: a new local table swapped in with EXCHANGE --------------
    wider = TableSchema(T, (*S.columns, ColumnSchema("w", LogicalType(Kind.INT64))), S.primary_key)
    m = mark(dest)
    dest.create_table(wider)
    staging, local = "`shop`.`orders_local_new`", "`shop`.`orders_local`"
    wide_cols = COLS.replace("_version UInt64", "`w` Nullable(Int64), _version UInt64")
    assert commands(dest, m) == [
        f"CREATE DATABASE IF NOT EXISTS `shop`{ON}",
        f"DROP TABLE IF EXISTS {staging}{ON} SYNC",
        f"CREATE TABLE IF NOT EXISTS {staging}{ON} {wide_cols} {LOCAL_ENGINE}",
        f"EXCHANGE TABLES {staging} AND {local}{ON}",
        f"DROP TABLE IF EXISTS {staging}{ON} SYNC",
        f"CREATE OR REPLACE TABLE `shop`.`orders`{ON} {wide_cols} {DIST_ENGINE}",
    ]
    assert current(dest) == []  # the new copy starts empty
    assert columns(dest, T) == columns(dest, layouts.local_id(T))
    assert ("w", "Nullable(Int64)") in columns(dest, T)

    # --- renamed across databases: the local table moves, the Distributed one is rebuilt -----
    dest.write_chunk(wider, pa.Table.from_pylist([{"id": 7, "region": "eu", "v": "g", "w": 1}],
                                                 schema=wider.arrow_schema()))  # fmt: skip
    moved = TableSchema(TableId("archive", "old_orders"), wider.columns, wider.primary_key)
    m = mark(dest)
    dest.rename_table(T, moved)
    assert commands(dest, m) == [
        f"CREATE DATABASE IF NOT EXISTS `archive`{ON}",
        f"RENAME TABLE `shop`.`orders_local` TO `archive`.`old_orders_local`{ON}",
        f"DROP TABLE IF EXISTS `shop`.`orders`{ON} SYNC",
        f"CREATE OR REPLACE TABLE `archive`.`old_orders`{ON} {wide_cols} ENGINE = "
        "Distributed('prod', 'archive', 'old_orders_local', cityHash64(`id`, `region`))",
    ]
    assert current(dest, moved.id) == [(7, "eu", "g", 1)]
    m = mark(dest)
    dest.rename_table(T, moved)  # applied again after a crash: the local table moved already
    assert not any(c.startswith("RENAME") for c in commands(dest, m))
    assert current(dest, moved.id) == [(7, "eu", "g", 1)]
    stats = dest.table_stats()  # rows through the Distributed table, bytes of the local parts
    assert [(s["table"], s["rows"]) for s in stats] == [("old_orders", 1)]
    assert stats[0]["bytes"] > 0

    # --- dropped: both tables and any leftover of an interrupted copy -------------------------
    m = mark(dest)
    dest.drop_table(moved.id)
    assert commands(dest, m) == [
        f"DROP TABLE IF EXISTS `archive`.`old_orders`{ON} SYNC",
        f"DROP TABLE IF EXISTS `archive`.`old_orders_local`{ON} SYNC",
        f"DROP TABLE IF EXISTS `archive`.`old_orders_local_new`{ON} SYNC",
    ]
    assert columns(dest, moved.id) == [] and columns(dest, layouts.local_id(moved.id)) == []

    # --- over the whole run: what a cluster is sent ------------------------------------------
    every = sent(dest)
    for kind, sql, settings in every:
        if kind == "command":
            assert ON in sql, sql  # every DDL statement runs on every host
            assert not re.search(r"ENGINE = (Replacing)?MergeTree", sql), sql  # Replicated
        elif kind == "insert" and not sql.startswith("_zeroetl."):
            assert not sql.endswith("_local`") and settings == layouts.DATA_INSERT, sql
        elif kind == "query":  # reads name the Distributed tables, never the local ones
            assert not re.search(r"_local(_new)?` FINAL", sql), sql


def test_a_source_table_named_like_another_tables_local_table_fails_alone(dest) -> None:  # type: ignore[no-untyped-def]
    dest.create_table(S)
    clash = TableSchema(TableId("shop", "orders_local"), S.columns, S.primary_key)
    m = mark(dest)
    with pytest.raises(TableFailed, match="collide"):
        dest.create_table(clash)
    assert commands(dest, m) == []  # nothing sent: the other table's rows are safe
    other = TableSchema(TableId("shop", "orders_local_new"), S.columns, S.primary_key)
    with pytest.raises(TableFailed, match="collide"):
        dest.create_table(other)
    dest.create_table(TableSchema(TableId("shop", "x"), S.columns, S.primary_key))
    m = mark(dest)
    with pytest.raises(TableFailed, match="collide"):  # renamed onto x's local table
        dest.rename_table(T, TableSchema(TableId("shop", "x_local"), S.columns, S.primary_key))
    assert commands(dest, m) == []
    elsewhere = TableSchema(TableId("other", "orders_local"), S.columns, S.primary_key)
    dest.create_table(elsewhere)  # another database: no collision


class _Hub(HubBackend):
    """The tests' stand-in hub, with target database `chdb_t` on a ClickHouse destination."""

    def __init__(self, root: Path, ch: Any) -> None:
        super().__init__(root)
        self.ch = ch

    def databases(self) -> list[str]:
        return ["chdb_t"]

    def query_destination(self, database: str) -> object | None:
        return self.ch if database == "chdb_t" else None


def test_the_sql_endpoint_reads_the_distributed_tables(dest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest.create_table(S)
    dest.write_chunk(S, rows([(1, "eu", "a")]))
    catalog = clickhouse_run.read_catalog(dest)
    assert catalog.tables == {("shop", "orders"): {"id": "Int32", "region": "String",
                                                    "v": "Nullable(String)"}}  # fmt: skip
    dest.save_table_status(TableStatus(T, TableState.SYNCED))
    session = SqlSession(_Hub(tmp_path / "hub", dest), database="chdb_t", user="admin")
    m = mark(dest)
    got = session.execute("select region, v from shop.orders where id = 1")
    assert [tuple(r.values()) for b in got.batches for r in b.to_pylist()] == [("eu", "a")]
    (sql,) = [q for kind, q, _ in sent(dest, m) if kind == "query" and '"shop"' in q]
    assert 'FROM "shop"."orders" FINAL' in sql and "_local" not in sql
    session.close()


def test_the_endpoints_column_lists_are_kept_until_the_schema_changes(tmp_path: Path) -> None:
    """On one node, for real: system.columns is read once, then again after DDL only."""
    d = base.open_url(f"chdb://{tmp_path / 'ch'}", "i1")
    try:
        single = TableSchema(T, S.columns, S.primary_key)
        d.create_table(single)
        reads: list[str] = []
        query = d._t.query

        def counting(sql: str, settings: dict[str, str] | None = None) -> pa.Table:
            reads.append(sql)
            return query(sql, settings)

        d._t.query = counting
        first = clickhouse_run.read_catalog(d)
        assert clickhouse_run.read_catalog(d) is first
        assert sum("system.columns" in s for s in reads) == 1
        before = dataversions.schemas(d.where)
        d.add_column(T, ColumnSchema("extra", LogicalType(Kind.INT64)))
        assert dataversions.schemas(d.where) != before
        again = clickhouse_run.read_catalog(d)
        assert "extra" in again.tables[("shop", "orders")]
        assert sum("system.columns" in s for s in reads) == 2
    finally:
        d.close()


def test_a_table_changed_outside_this_process_is_read_afresh(tmp_path: Path) -> None:
    """Kept column lists that miss a column or a table: the query is tried once more with
    lists read afresh (DDL this process did not announce: another client's, say)."""
    d = base.open_url(f"chdb://{tmp_path / 'ch'}", "i1")
    try:
        d.create_table(S)
        d.write_chunk(S, rows([(1, "eu", "a")]))
        s = SqlSession(_Hub(tmp_path / "hub", d), database="chdb_t", user="admin")
        assert next(iter(s.execute("select count(*) from shop.orders").batches))[0][0].as_py() == 1
        d._t.command("ALTER TABLE `shop`.`orders` ADD COLUMN extra Nullable(Int64)")  # unannounced
        got = s.execute("select extra from shop.orders")
        assert next(iter(got.batches)).to_pylist() == [{"extra": None}]
        other = TableSchema(TableId("shop", "later"), S.columns, S.primary_key)
        d._t.command(ddl.create_table_sql(other))
        got = s.execute("select count(*) from shop.later")
        assert next(iter(got.batches))[0][0].as_py() == 0
        with pytest.raises(Exception, match="42703"):  # still an error when it is one
            s.execute("select nothing from shop.orders")
        s.close()
    finally:
        d.close()


def test_runnable_copy_only_drops_what_needs_keeper() -> None:
    sql = (
        f"CREATE TABLE IF NOT EXISTS `a`.`b_local`{ON} (x Int32) ENGINE = "
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', _version,"
        " _is_deleted) ORDER BY (x)"
    )
    assert runnable(sql) == (
        "CREATE TABLE IF NOT EXISTS `a`.`b_local` (x Int32) ENGINE = "
        "ReplacingMergeTree(_version, _is_deleted) ORDER BY (x)"
    )
    assert runnable("ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY x") == (
        "ENGINE = MergeTree ORDER BY x"
    )


def test_a_quorum_insert_that_cannot_complete_is_retried() -> None:
    from zeroetl.destinations.clickhouse import faults
    from zeroetl.errors import TransientError

    for code, name in ((285, "TOO_FEW_LIVE_REPLICAS"), (319, "UNKNOWN_STATUS_OF_INSERT")):
        err = faults.error("insert", f"Code: {code}. DB::Exception: quorum. ({name})")
        assert isinstance(err, TransientError), name


def test_the_few_neighbours_looked_up_are_exactly_the_tables_that_can_collide() -> None:
    c = layouts.Cluster("prod")
    names = ["a", "a_local", "a_local_new", "a_local_local", "b_new", "b_local_new_local", "_lo"]

    def derived(n: str) -> set[str]:
        return {n, n + layouts.LOCAL, n + layouts.STAGING}

    for t in names:
        near = {x.table for x in c.neighbours(TableId("s", t))}
        for o in names:
            if o != t:
                assert (o in near) == bool(derived(t) & derived(o)), (t, o)


def test_a_server_without_the_cluster_or_its_macros_is_refused_up_front(dest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.destinations.conftest import start_chdb_http

    from zeroetl.catalog.errors import InvalidParameter
    from zeroetl.service import destination_urls

    assert layouts.not_ready(dest._t.query, "prod") == ""  # known, macros set
    assert "remote_servers" in layouts.not_ready(dest._t.query, "elsewhere")
    no_macros = dest._t.inner.query("SELECT 1 AS n")  # the cluster is known ...

    def answers(sql: str) -> pa.Table:  # ... but the host sets only {shard}
        return no_macros if "clusters" in sql else pa.table({"macro": [b"shard"]})

    assert layouts.not_ready(answers, "prod") == "the server sets no {replica} macro"
    server, url = start_chdb_http(tmp_path / "srv")  # a server with no cluster at all
    try:
        with pytest.raises(InvalidParameter, match="'prod' is not defined") as err:
            destination_urls.check_reachable(url + "?cluster=prod")
        assert "system.clusters" in err.value.hint
        destination_urls.check_reachable(url)  # without a cluster it is fine
    finally:
        server.kill()
        server.wait()
