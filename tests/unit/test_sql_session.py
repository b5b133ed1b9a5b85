"""The SQL layer on a real DuckDB hub: catalog emulation (captured psql/SQLAlchemy statements),
Redshift statements, read-only errors, table states, system views, dialect translation."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.sql_backend import INTEGRATION, HubBackend, add_table, int_col, sales_schema

from zeroetl.model import Position, TableId, TableSchema, TableState
from zeroetl.server.sql.session import SqlError, SqlSession

CAPTURE = json.loads((Path(__file__).parent.parent / "data" / "pg_capture.json").read_text())
PG_OID = 16389  # demodb.sales in the PostgreSQL the statements were captured from


@pytest.fixture
def backend(tmp_path: Path) -> HubBackend:
    b = HubBackend(tmp_path)
    d = b.attach("aurora")
    rows = [
        dict(salesid=i, qtysold=i % 4 + 1, pricepaid=Decimal("10.50") * i,
             saletime=datetime(2008, 1, i % 28 + 1, 10), note=f"n{i}")
        for i in range(1, 11)
    ]  # fmt: skip
    add_table(d, sales_schema(), rows)
    users = TableSchema(TableId("demodb", "users"), (int_col("userid", False),), ("userid",))
    add_table(d, users, [], TableState.RESYNC_INITIATED, "initial snapshot in progress")
    d.save_checkpoint(Position("bin.000001", 1234))
    d.record_activity(checkpoint=Position("bin.000001", 1234), checkpoint_type="cdc",
                      checkpoint_bytes=99, commit_ts=datetime(2026, 11, 2, tzinfo=UTC),
                      modified_tables=1, start=datetime(2026, 11, 2, tzinfo=UTC),
                      end=datetime(2026, 11, 2, 0, 0, 1, tzinfo=UTC))  # fmt: skip
    d.record_table_activity(checkpoint=Position("bin.000001", 1234), table=TableId("demodb", "sales"),
                            transaction_id="0-1-7", inserted=10, updated=0, deleted=0,
                            bytes_ingested=512)  # fmt: skip
    b.integration_rows[0]["target_database"] = "aurora"
    return b


def rows(s: SqlSession, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    r = s.execute(sql, params)
    out = []
    for batch in r.batches:
        out.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    return out


def one(s: SqlSession, sql: str) -> Any:
    return rows(s, sql)[0][0]


def oid_of(s: SqlSession, name: str) -> int:
    return int(one(s, f"select oid from pg_catalog.pg_class where relname = '{name}'"))


# --- connection databases ---------------------------------------------------------------


def test_connection_database_semantics(backend: HubBackend) -> None:
    with pytest.raises(SqlError) as e:
        SqlSession(backend, database="nope", user="a")
    assert e.value.sqlstate == "3D000"
    s = SqlSession(backend, database="aurora", user="analyst")
    assert one(s, "select count(*) from demodb.sales") == 10
    assert one(s, "select current_database()") == "aurora"
    assert one(s, "select current_user") == "analyst"
    dev = SqlSession(backend, database="dev", user="analyst")
    assert one(dev, "select count(*) from aurora.demodb.sales") == 10
    assert one(dev, "select current_database()") == "dev"
    with pytest.raises(SqlError):
        dev.execute("select count(*) from demodb.sales")
    rows(s, "set search_path to demodb")
    assert one(s, "select count(*) from sales") == 10
    assert one(s, "show search_path") == "demodb"


def test_version_and_show(backend: HubBackend) -> None:
    s = SqlSession(backend, database="dev", user="a")
    v = one(s, "select pg_catalog.version()")
    assert v.startswith("PostgreSQL 15.0 ") and "on x86_64" in v
    assert one(s, "show standard_conforming_strings") == "on"
    assert one(s, "show transaction isolation level") == "repeatable read"
    assert one(s, "select set_config('application_name', 'x', false)") == "x"
    with pytest.raises(SqlError) as e:
        s.execute("show no_such_setting")
    assert e.value.sqlstate == "42704"


# --- catalog: the captured statements ----------------------------------------------------


def _run_captured(s: SqlSession, sql: str, params: list[Any], oid: int) -> list[tuple[Any, ...]]:
    sql = sql.replace(f"'{PG_OID}'", f"'{oid}'")
    params = [oid if p == PG_OID else p for p in params]
    return rows(s, sql, params or None)


def test_every_captured_statement_runs(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    oid = oid_of(s, "sales")
    failures = []
    statements = [(q, []) for q in CAPTURE["psql"]]
    statements += [(q["sql"], q["params"]) for q in CAPTURE["sqlalchemy"] + CAPTURE["connect"]]
    for sql, params in statements:
        try:
            _run_captured(s, sql, params, oid)
        except SqlError as e:
            failures.append((sql[:80], e.message[:200]))
    assert not failures, failures
    assert len(statements) == 45


def test_psql_describe_table_answers(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    oid = oid_of(s, "sales")
    psql = CAPTURE["psql"]
    dt = _run_captured(s, psql[0], [], oid)  # \dt demodb.*
    assert dt == [("demodb", "sales", "table", "admin"), ("demodb", "users", "table", "admin")]
    found = _run_captured(s, psql[3], [], oid)  # \d demodb.sales: the lookup
    assert [(r[1], r[2]) for r in found] == [("demodb", "sales")]
    cols = _run_captured(s, psql[5], [], oid)  # columns
    assert [(r[0], r[1], r[3]) for r in cols] == [
        ("salesid", "integer", True), ("qtysold", "smallint", True),
        ("pricepaid", "numeric(8,2)", False), ("saletime", "timestamp without time zone", False),
        ("note", "character varying(20)", False),  # the source's varchar(20)
    ]  # fmt: skip
    idx = _run_captured(s, psql[6], [], oid)  # indexes: PostgreSQL prints the same line
    assert [(r[0], r[1], r[5], r[6], r[7]) for r in idx] == [
        ("sales_pkey", True, "CREATE UNIQUE INDEX sales_pkey ON demodb.sales USING btree"
         " (salesid)", "PRIMARY KEY (salesid)", "p")
    ]  # fmt: skip
    dbs = [r[0] for r in _run_captured(s, psql[2], [], oid)]  # \l
    assert dbs == ["aurora", "dev"]
    schemas = [r[0] for r in _run_captured(s, psql[1], [], oid)]  # \dn
    assert "demodb" in schemas and "_zeroetl" not in schemas


def test_sqlalchemy_introspection_answers(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    oid = oid_of(s, "sales")
    sa = {q["sql"].split("FROM")[0][:60]: q for q in CAPTURE["sqlalchemy"]}
    qs = CAPTURE["sqlalchemy"]
    assert _run_captured(s, qs[0]["sql"], qs[0]["params"], oid) == [("sales",)]  # has_table
    names = _run_captured(s, qs[1]["sql"], qs[1]["params"], oid)  # get_table_names
    assert sorted(r[0] for r in names) == ["sales", "users"]
    cols = _run_captured(s, qs[3]["sql"], qs[3]["params"], oid)  # get_columns
    assert [(r[0], r[1], r[3]) for r in cols][:2] == [("salesid", "integer", True),
                                                      ("qtysold", "smallint", True)]  # fmt: skip
    pk = _run_captured(s, qs[5]["sql"], qs[5]["params"], oid)  # get_pk_constraint
    assert [(r[0], list(r[1]), r[2]) for r in pk] == [(oid, ["salesid"], "sales_pkey")]
    assert sa


# --- Redshift statements, read-only, table states ----------------------------------------


def test_create_alter_drop_database(backend: HubBackend) -> None:
    s = SqlSession(backend, database="dev", user="admin")
    r = s.execute(f"CREATE DATABASE zdb FROM INTEGRATION '{INTEGRATION}' DATABASE 'demodb'"
                  " SET QUERY_ALL_STATES = TRUE")  # fmt: skip
    assert r.command_tag == "CREATE DATABASE" and r.columns is None
    assert backend.calls[-1] == ("create", "zdb", INTEGRATION, "demodb", True)
    assert "zdb" in [x[0] for x in rows(s, "select datname from pg_database")]
    with pytest.raises(SqlError) as e:
        s.execute("CREATE DATABASE other")
    assert e.value.sqlstate == "42601" and "FROM INTEGRATION" in e.value.message
    with pytest.raises(SqlError) as e:
        s.execute("CREATE DATABASE x FROM INTEGRATION 'no-such-id'")
    assert e.value.sqlstate == "55000" and "does not exist" in e.value.message
    assert s.execute("ALTER DATABASE aurora INTEGRATION REFRESH ALL TABLES").command_tag == (
        "ALTER DATABASE"
    )
    s.execute("ALTER DATABASE aurora INTEGRATION REFRESH INERROR TABLES")
    s.execute('ALTER DATABASE aurora INTEGRATION REFRESH TABLE demodb.sales, "demodb"."Users"')
    assert backend.calls[-3:] == [
        ("refresh", "aurora", None, False), ("refresh", "aurora", None, True),
        ("refresh", "aurora", ["demodb.sales", "demodb.Users"], False),
    ]  # fmt: skip
    assert s.execute("DROP DATABASE zdb").command_tag == "DROP DATABASE"
    assert backend.calls[-1] == ("drop", "zdb")
    assert "zdb" not in [x[0] for x in rows(s, "select datname from pg_database")]
    with pytest.raises(SqlError) as e:
        s.execute("DROP DATABASE zdb")
    assert e.value.sqlstate == "3D000"


@pytest.mark.parametrize(
    "sql",
    [
        "insert into demodb.sales (salesid) values (99)",
        "update demodb.sales set qtysold = 0",
        "delete from demodb.sales",
        "create table demodb.t (a int)",
        "alter table demodb.sales add column x int",
        "drop table demodb.sales",
        "truncate demodb.sales",
        "copy demodb.sales from '/tmp/x.csv'",
    ],
)
def test_writes_are_refused(backend: HubBackend, sql: str) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    with pytest.raises(SqlError) as e:
        s.execute(sql)
    assert e.value.sqlstate == "25006" and "read-only" in e.value.message
    assert one(s, "select count(*) from demodb.sales") == 10


def test_tables_not_synced_are_refused_unless_query_all_states(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    with pytest.raises(SqlError) as e:
        s.execute("select * from demodb.users")
    assert "ResyncInitiated" in e.value.message and "snapshot in progress" in e.value.message
    with pytest.raises(SqlError):
        s.execute("select s.* from demodb.sales s join demodb.users u on u.userid = s.salesid")
    assert rows(s, "with users as (select 1 as userid) select * from users") == [(1,)]
    backend.options["aurora"]["query_all_states"] = True
    assert rows(s, "select * from demodb.users") == []


# --- system views ------------------------------------------------------------------------

SYSVIEW_COLUMNS = {
    "svv_integration": "integration_id, target_database, source, state, current_lag,"
    " last_replicated_checkpoint, total_tables_replicated, total_tables_failed, creation_time,"
    " source_database, is_history_mode, latest_detected_change_time, latest_applied_change_time",
    "svv_integration_table_state": "integration_id, target_database, schema_name, table_name,"
    " table_state, table_last_replicated_checkpoint, reason, last_updated_timestamp, table_rows,"
    " table_size, is_history_mode",
    "sys_integration_activity": "integration_id, target_database, source, checkpoint_name,"
    " checkpoint_type, checkpoint_bytes, last_commit_timestamp, modified_tables,"
    " integration_start_time, integration_end_time",
    "sys_integration_table_activity": "integration_id, checkpoint_name, target_database,"
    " schema_name, table_name, record_time, transaction_id, inserted_rows, deleted_rows,"
    " updated_rows, bytes_ingested",
    "sys_integration_table_state_change": "integration_id, database_name, schema_name,"
    " table_name, new_state, table_last_replicated_checkpoint, state_change_reason, record_time",
}


@pytest.mark.parametrize("database", ["dev", "aurora"])
def test_system_views_columns_and_values(backend: HubBackend, database: str) -> None:
    s = SqlSession(backend, database=database, user="a")
    for view, cols in SYSVIEW_COLUMNS.items():
        r = s.execute(f"select * from {view}")
        assert [c.name for c in r.columns or []] == cols.split(", "), view
    svv = rows(s, "select integration_id, target_database, source, state, current_lag,"
                  " last_replicated_checkpoint, total_tables_replicated, total_tables_failed"
                  " from svv_integration")  # fmt: skip
    assert svv == [(INTEGRATION, "aurora", "MySQL", "CdcRefreshState", 420, "bin.000001:1234",
                    1, 0)]  # fmt: skip
    backend.integration_rows[0]["current_lag_ms"] = 17  # live: read on every query
    assert one(s, "select current_lag from svv_integration") == 17
    ts = rows(s, "select schema_name, table_name, table_state, reason, table_rows"
                 " from svv_integration_table_state order by table_name")  # fmt: skip
    assert ts == [("demodb", "sales", "Synced", "", 10),
                  ("demodb", "users", "ResyncInitiated", "initial snapshot in progress", 0)]  # fmt: skip
    act = rows(
        s, "select checkpoint_type, checkpoint_bytes, modified_tables from sys_integration_activity"
    )
    assert act == [("cdc", 99, 1)]
    ta = rows(
        s, "select table_name, inserted_rows, bytes_ingested from sys_integration_table_activity"
    )
    assert ta == [("sales", 10, 512)]
    sc = rows(s, "select table_name, new_state from sys_integration_table_state_change order by 1")
    assert sc == [("sales", "Synced"), ("users", "ResyncInitiated")]


# --- transactions, describe, split, cancel -----------------------------------------------


def test_transactions_and_savepoints(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    assert s.execute("BEGIN").command_tag == "BEGIN" and s.in_transaction
    s.execute("SAVEPOINT a")
    assert one(s, "select count(*) from demodb.sales") == 10
    s.execute("RELEASE SAVEPOINT a")
    with pytest.raises(SqlError):
        s.execute("select nope from demodb.sales")
    with pytest.raises(SqlError) as e:
        s.execute("select 1")
    assert e.value.sqlstate == "25P02"
    assert s.execute("COMMIT").command_tag == "ROLLBACK" and not s.in_transaction
    assert one(s, "select 1") == 1


def test_snapshot_inside_transaction(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    s.execute("BEGIN")
    assert one(s, "select count(*) from demodb.sales") == 10
    backend.dests["aurora"].truncate_table(TableId("demodb", "sales"))
    assert one(s, "select count(*) from demodb.sales") == 10  # still the snapshot
    s.execute("COMMIT")
    assert one(s, "select count(*) from demodb.sales") == 0


def test_describe_and_params(backend: HubBackend) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    types, cols = s.describe("select salesid, note from demodb.sales where salesid = $1::INTEGER"
                             " and note = $2")  # fmt: skip
    assert types == [23, 0]
    assert [c.name for c in cols or []] == ["salesid", "note"]
    assert rows(s, "select note from demodb.sales where salesid = $1", [3]) == [("n3",)]
    assert s.describe("SET search_path TO demodb") == ([], None)


def test_split() -> None:
    s_sql = "select 'a;b'; select $$x;y$$ ; -- c;\n select \"q;\" from t; /* ; */"
    assert SqlSession.split(None, s_sql) == [  # type: ignore[arg-type]
        "select 'a;b'", "select $$x;y$$", "-- c;\n select \"q;\" from t",
    ]  # fmt: skip


def test_cancel_interrupts_a_running_query(backend: HubBackend) -> None:
    s = SqlSession(backend, database="dev", user="a")
    threading.Timer(0.3, s.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(SqlError) as e:
        rows(s, "select count(*) from range(10000000000) a, range(1000) b")
    assert e.value.sqlstate == "57014" and time.monotonic() - t0 < 10


def test_large_result_is_streamed(backend: HubBackend) -> None:
    s = SqlSession(backend, database="dev", user="a")
    r = s.execute("select range as n from range(1000000)")
    first = next(r.batches)
    assert first.num_rows < 1000000
    assert first.num_rows + sum(b.num_rows for b in r.batches) == 1000000
