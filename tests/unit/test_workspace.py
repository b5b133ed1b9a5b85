"""The workspace `dev` on a real DuckDB hub (the service's end-to-end tests are in
tests/e2e/test_workspace_service.py): DDL and DML in dev, the policy seam for users other than
the superuser, names that would shadow system objects, the sandbox inside change statements,
materialized views and their bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.sql_backend import HubBackend, add_table, sales_schema

from zeroetl.model import Position, TableId
from zeroetl.server.sql import mviews
from zeroetl.server.sql.policy import Kind, Policy, Principal, Touch
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.service.hub import attach_workspace


@pytest.fixture
def backend(tmp_path: Path) -> HubBackend:
    return make_backend(tmp_path)


def make_backend(tmp_path: Path) -> HubBackend:
    """A hub with target database `aurora` (demodb.sales, 10 rows) and the workspace dev."""
    b = HubBackend(tmp_path)
    d = b.attach("aurora")
    rows = [
        dict(salesid=i, qtysold=i % 4 + 1, pricepaid=Decimal("10.50") * i,
             saletime=datetime(2008, 1, i % 28 + 1, 10), note=f"n{i}")
        for i in range(1, 11)
    ]  # fmt: skip
    add_table(d, sales_schema(), rows)
    d.save_checkpoint(Position("bin.000001", 1234))
    d.record_table_activity(checkpoint=Position("bin.000001", 1234), table=TableId("demodb", "sales"),
                            transaction_id="0-1-7", inserted=10, updated=0, deleted=0,
                            bytes_ingested=512)  # fmt: skip
    (tmp_path / "databases").mkdir(exist_ok=True)
    attach_workspace(b.hub, tmp_path)
    return b


def rows(s: SqlSession, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    r = s.execute(sql, params)
    out = []
    for batch in r.batches:
        out.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    return out


def tag(s: SqlSession, sql: str) -> str:
    r = s.execute(sql)
    list(r.batches)
    return r.command_tag


def refused(s: SqlSession, sql: str, state: str, *says: str) -> SqlError:
    with pytest.raises(SqlError) as e:
        rows(s, sql)
    assert e.value.sqlstate == state, (e.value.sqlstate, str(e.value))
    for frag in says:
        assert frag.lower() in str(e.value).lower(), str(e.value)
    return e.value


@pytest.fixture
def admin(backend: HubBackend) -> SqlSession:
    return SqlSession(backend, database="dev", user="admin")


def test_ddl_and_dml_in_dev(admin: SqlSession) -> None:
    s = admin
    assert tag(s, "create schema if not exists analytics") == "CREATE SCHEMA"
    assert tag(s, "create table t (id int, name varchar(20))") == "CREATE TABLE"
    assert tag(s, "insert into t values (1, 'a'), (2, 'b'), (3, 'c')") == "INSERT 0 3"
    assert tag(s, "update t set name = 'B' where id = 2") == "UPDATE 1"
    assert tag(s, "delete from t where id = 3") == "DELETE 1"
    assert rows(s, "select * from public.t order by id") == [(1, "a"), (2, "B")]
    assert rows(s, "select * from dev.public.t order by id") == [(1, "a"), (2, "B")]
    assert tag(s, "create table analytics.big as select * from aurora.demodb.sales") == "SELECT 10"
    assert tag(s, "select salesid into analytics.ids from aurora.demodb.sales") == "SELECT 10"
    assert rows(s, "select count(*) from analytics.ids") == [(10,)]
    assert tag(s, "create view analytics.v as select sum(qtysold) q from aurora.demodb.sales") == (
        "CREATE VIEW"
    )
    assert rows(s, "select q from analytics.v") == [(25,)]
    assert tag(s, "alter table t rename to t2") == "ALTER TABLE"
    assert tag(s, "alter table t2 add column extra int") == "ALTER TABLE"
    assert tag(s, "truncate t2") == "TRUNCATE TABLE"
    assert rows(s, "select count(*) from t2") == [(0,)]
    assert tag(s, "drop table t2") == "DROP TABLE"
    assert tag(s, "drop schema analytics cascade") == "DROP SCHEMA"
    # owners were recorded and forgotten with their objects
    c = s._cur
    assert c.execute(
        "select kind, schema_name, name, owner from dev._zeroetl.objects"
    ).fetchall() == [("schema", "analytics", "", "admin")] or c.execute(
        "select count(*) from dev._zeroetl.objects"
    ).fetchall() == [(0,)]


def test_transactions_around_dev_writes(admin: SqlSession) -> None:
    s = admin
    tag(s, "create table t (id int)")
    tag(s, "begin")
    tag(s, "insert into t values (1)")
    tag(s, "create table u as select * from t")
    tag(s, "rollback")
    assert rows(s, "select count(*) from t") == [(0,)]
    assert rows(s, "select count(*) from information_schema.tables where table_name = 'u'") == [
        (0,)
    ]
    tag(s, "begin")
    tag(s, "insert into t values (2)")
    tag(s, "commit")
    assert rows(s, "select * from t") == [(2,)]


def test_replicated_data_stays_read_only(admin: SqlSession, backend: HubBackend) -> None:
    s = admin
    refused(s, "insert into aurora.demodb.sales (salesid) values (99)", "25006", "read-only")
    refused(s, "create table aurora.demodb.x as select 1", "25006", "read-only")
    refused(s, "drop table aurora.demodb.sales", "25006", "read-only")
    t = SqlSession(backend, database="aurora", user="admin")
    refused(t, "delete from demodb.sales", "25006", "read-only")
    refused(t, "create table demodb.y (a int)", "25006", "read-only")
    # the bookkeeping schema stays untouchable, in dev too
    refused(s, "select * from dev._zeroetl.objects", "42501", "_zeroetl")
    refused(s, "delete from dev._zeroetl.objects", "42501", "_zeroetl")
    refused(s, "create table _zeroetl.evil (a int)", "42501")


@pytest.mark.parametrize(
    "sql",
    [
        "create table svv_integration (a int)",
        "create view pg_class as select 1",
        "create table public.pg_tables (a int)",
        "create table svv_mv_info (a int)",
        "create schema pg_temp1",
        "create schema information_schema",
        "create table zeroetl_meta_dbs (a int)",
        "create view information_schema.v as select 1",
        "create table _zeroetl_pg.t (a int)",
    ],
)
def test_no_shadowing_system_names(admin: SqlSession, sql: str) -> None:
    refused(admin, sql, "42501", "reserved")


def test_rename_onto_a_system_name_is_refused(admin: SqlSession) -> None:
    tag(admin, "create table t (a int)")
    refused(admin, "alter table t rename to pg_namespace", "42501", "reserved")
    refused(admin, "drop view svv_integration", "42501", "DROP VIEW")


@pytest.mark.parametrize(
    "sql, state",
    [
        ("create table x as select * from read_csv('/etc/passwd')", "42501"),
        ("insert into t select * from read_text('/etc/passwd')", "42501"),
        ("create view v as select * from glob('/*')", "42501"),
        ("update t set a = 1 from read_csv('/etc/passwd') f", "42501"),
        ("create table x (a int default nextval('s'))", "42501"),
        ("create temp table x as select 1", "42501"),
        ("create macro m() as 1", "42501"),
        ("create sequence s", "42501"),
        ("create index i on t (a)", "42501"),
        ("select * into temp x from t", "42501"),
        ("create table memory.main.x (a int)", "42501"),
        ("create table system.main.x (a int)", "42501"),
    ],
)
def test_the_sandbox_holds_inside_change_statements(
    admin: SqlSession, sql: str, state: str
) -> None:
    tag(admin, "create table t (a int)")
    refused(admin, sql, state)
    assert rows(admin, "select count(*) from t") == [(0,)]


def test_a_user_without_privileges_is_refused(backend: HubBackend, admin: SqlSession) -> None:
    tag(admin, "create table t (a int)")
    bob = SqlSession(backend, database="dev", user="bob")
    refused(bob, "create table x (a int)", "42501", "permission denied for schema public")
    refused(bob, "insert into t values (1)", "42501", "permission denied for table dev.public.t")
    refused(bob, "drop table t", "42501", "permission denied")
    refused(bob, "create schema mine", "42501", "permission denied for database dev")
    refused(bob, "create materialized view m as select 1 a", "42501", "permission denied")
    assert rows(bob, "select count(*) from t") == [(0,)]  # reading stays allowed


def test_owners_have_every_right_on_what_they_created(backend: HubBackend) -> None:
    """Owners come from dev's bookkeeping; the policy rules (Policy.workspace)."""
    policy = Policy()
    bob, carol = Principal("bob"), Principal("carol")
    mine = Touch(Kind.WRITE, "INSERT", ("dev", "public", "t"), "dev", owner="bob")
    assert policy.decide(mine, bob) is None
    refusal = policy.decide(mine, carol)
    assert refusal is not None and refusal.sqlstate == "42501"
    drop = Touch(Kind.DDL, "DROP TABLE", ("dev", "public", "t"), "dev", owner="bob")
    assert policy.decide(drop, bob) is None
    assert policy.decide(drop, Principal("admin")) is None
    create = Touch(Kind.DDL, "CREATE TABLE", ("dev", "bobs", "t"), "dev", owner="bob")
    assert policy.decide(create, bob) is None  # bob owns schema bobs
    replica = Touch(Kind.WRITE, "INSERT", ("aurora", "demodb", "sales"), "aurora")
    refusal = policy.decide(replica, Principal("admin"))
    assert refusal is not None and refusal.sqlstate == "25006"


def test_materialized_views(admin: SqlSession, backend: HubBackend) -> None:
    s = admin
    assert (
        tag(
            s,
            "create materialized view mv_sales auto refresh yes as select qtysold, count(*) n"
            " from aurora.demodb.sales group by qtysold",
        )
        == "CREATE MATERIALIZED VIEW"
    )
    assert rows(s, "select sum(n) from mv_sales") == [(10,)]
    info = rows(
        s,
        "select database_name, schema_name, user_name, name, is_stale, autorefresh,"
        " refresh_state, source_position, inputs from svv_mv_info",
    )
    assert info == [
        ("dev", "public", "admin", "mv_sales", "f", "t", "refreshed", "aurora:bin.000001:1234",
         "aurora.demodb.sales")
    ]  # fmt: skip
    refused(s, "insert into mv_sales values (1, 1)", "42809", "materialized view")
    refused(s, "drop table mv_sales", "42809", "materialized view")
    # the source changes: the view keeps its contents until refreshed
    d = backend.dests["aurora"]
    d.write_chunk(
        sales_schema(),
        __import__("pyarrow").Table.from_pylist(
            [dict(salesid=11, qtysold=1, pricepaid=None, saletime=None, note=None)],
            schema=sales_schema().arrow_schema(),
        ),
    )
    mv = mviews.get(s._cur, "public", "mv_sales")
    assert mv is not None and mv.inputs == (mviews.input_key("aurora", "demodb", "sales"),)
    assert rows(s, "select sum(n) from mv_sales") == [(10,)]
    assert tag(s, "refresh materialized view mv_sales") == "REFRESH MATERIALIZED VIEW"
    assert rows(s, "select sum(n) from mv_sales") == [(11,)]
    assert rows(s, "select refreshes from svv_mv_info") == [(2,)]
    assert tag(s, "alter materialized view mv_sales rename to mv2") == "ALTER MATERIALIZED VIEW"
    assert rows(s, "select matviewname from pg_matviews") == [("mv2",)]
    assert tag(s, "drop materialized view mv2") == "DROP MATERIALIZED VIEW"
    assert rows(s, "select count(*) from svv_mv_info") == [(0,)]
    assert tag(s, "drop materialized view if exists mv2") == "DROP MATERIALIZED VIEW"


def test_a_failed_refresh_keeps_the_contents_and_records_why(admin: SqlSession) -> None:
    s = admin
    tag(s, "create table src (a int)")
    tag(s, "insert into src values (1), (2)")
    tag(s, "create materialized view m as select a from src")
    tag(s, "drop table src")
    refused(s, "refresh materialized view m", "42P01", "src")
    assert rows(s, "select a from m order by a") == [(1,), (2,)]
    got = rows(s, "select refresh_state, is_stale, last_error from svv_mv_info")
    assert got[0][:2] == ("failed", "t") and "src" in got[0][2]


def test_catalog_views_for_tools(admin: SqlSession) -> None:
    s = admin
    tag(s, "create table t (a int)")
    tag(s, "create view v as select * from t")
    tag(s, "create materialized view m as select * from t")
    assert rows(s, "select tablename, tableowner from pg_tables where schemaname = 'public'") == [
        ("t", "admin")
    ]
    assert rows(s, "select viewname from pg_views where schemaname = 'public'") == [("v",)]
    assert rows(s, "select matviewname from pg_matviews") == [("m",)]
    assert rows(s, "select count(*) from pg_depend") == [(0,)]
    assert ("public",) in rows(s, "select nspname from pg_namespace")


def test_workspace_survives_reopening(tmp_path: Path) -> None:
    from zeroetl.service.hub import HubSettings, open_hub

    wh = tmp_path / "wh"
    hub = open_hub(wh, HubSettings(memory_limit="300MB", temp_limit="100MB"))
    cur = hub.con.cursor()
    cur.execute("create table dev.public.keep as select 42 as answer")
    hub.con.close()
    hub = open_hub(wh, HubSettings(memory_limit="300MB", temp_limit="100MB"))
    assert hub.con.cursor().execute("select answer from dev.public.keep").fetchall() == [(42,)]
    assert (wh / "databases" / "dev.duckdb").exists()
    hub.con.close()


def test_sessions_start_in_public(admin: SqlSession) -> None:
    tag(admin, "create table t0 (a int)")
    assert rows(
        admin,
        "select table_catalog, table_schema from information_schema.tables where table_name = 't0'",
    ) == [("dev", "public")]
    assert rows(admin, "select current_database()") == [("dev",)]


def test_now_is_utc(admin: SqlSession) -> None:
    assert isinstance(rows(admin, "select getdate()")[0][0], datetime)
    assert datetime.now(UTC).year >= 2026


def test_dev_writes_honour_statement_timeout(admin: SqlSession) -> None:
    tag(admin, "set statement_timeout = '300ms'")
    refused(admin, "create table slow as select sum(i) s from range(100000000000) t(i)", "57014")
    tag(admin, "set statement_timeout = 0")
    assert rows(admin, "select count(*) from pg_tables where tablename = 'slow'") == [(0,)]


@pytest.mark.parametrize(
    "sql",
    [
        "copy t from '/etc/passwd'",
        "copy t to '/tmp/zeroetl-workspace-out.csv'",
        "insert into t select count(*) from read_blob('/etc/*')",
        "create table x as from read_csv('/etc/passwd')",
    ],
)
def test_no_files_through_dev(admin: SqlSession, sql: str) -> None:
    tag(admin, "create table t (a int)")
    refused(admin, sql, "42501")
    assert not Path("/tmp/zeroetl-workspace-out.csv").exists()


def test_comment_and_other_sessions_see_committed_objects(
    backend: HubBackend, admin: SqlSession
) -> None:
    tag(admin, "create table t (a int)")
    assert tag(admin, "comment on table t is 'notes'") == "COMMENT"
    other = SqlSession(backend, database="dev", user="admin")
    tag(admin, "begin")
    tag(admin, "insert into t values (1)")
    assert rows(other, "select count(*) from t") == [(0,)]  # not committed yet
    tag(admin, "commit")
    assert rows(other, "select count(*) from t") == [(1,)]
    target = SqlSession(backend, database="aurora", user="admin")
    assert rows(target, "select count(*) from dev.public.t") == [(1,)]
    assert tag(target, "create table dev.public.from_target as select 1 as a") == "SELECT 1"


def test_alter_column_and_merge(admin: SqlSession) -> None:
    tag(admin, "create table t (a int, b varchar)")
    tag(admin, "insert into t values (1, '2')")
    assert tag(admin, "alter table t alter column b type int") == "ALTER TABLE"
    assert tag(admin, "alter table t rename column b to c") == "ALTER TABLE"
    assert rows(admin, "select a + c from t") == [(3,)]
    merge = "merge into t using (select 1 as a) s on t.a = s.a when matched then delete"
    assert tag(admin, merge) == "MERGE 1"
    assert rows(admin, "select count(*) from t") == [(0,)]


def test_two_part_names_never_reach_a_replica(backend: HubBackend, admin: SqlSession) -> None:
    """`db.t` means schema db in PostgreSQL, but DuckDB may read it as catalog db: a replicated
    database's name in that place is refused, never written through."""
    refused(admin, "create table aurora.t (a int)", "25006", "read-only")
    refused(admin, "insert into aurora.t values (1)", "25006", "read-only")
    target = SqlSession(backend, database="aurora", user="admin")
    refused(target, "create table dev.t (a int)", "25006", "read-only")
    assert tag(target, "create schema dev.from_target") == "CREATE SCHEMA"
    assert rows(admin, "select count(*) from pg_namespace where nspname = 'from_target'") == [(1,)]
