"""Kept translations (plancache.py) never outlive what they were made from: a REVOKE refuses a
cached SELECT, a table replication puts in error refuses it, a table replication creates on the
search path is the one read (with its own states and types), DDL in dev and user statements
make every entry stale. Real DuckDB hub, real user store."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.sql_backend import HubBackend, add_table, int_col
from tests.unit.test_sql_session import backend  # noqa: F401  (fixture)
from tests.unit.test_users_grants import PW, Hub, refused
from tests.unit.test_workspace import rows, tag

from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.server.sql import plancache
from zeroetl.server.sql.session import SqlError, SqlSession


def hits() -> int:
    return plancache.CACHE.hits


def run_twice(s: SqlSession, sql: str) -> list[tuple[object, ...]]:
    """Runs `sql` twice; the second run must have come from the cache."""
    first = rows(s, sql)
    before = hits()
    assert rows(s, sql) == first
    assert hits() == before + 1, "the second run was translated again"
    return first


def test_cached_select_is_refused_after_revoke(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}'")
    tag(admin, "grant usage on schema aurora.demodb to ann")
    tag(admin, "grant select on aurora.demodb.sales to ann")
    ann = hub.session("ann")
    sql = "select count(*) from aurora.demodb.sales"
    assert run_twice(ann, sql) == [(10,)]
    tag(admin, "revoke select on aurora.demodb.sales from ann")
    assert refused(ann, sql) == "permission denied for table sales"
    tag(admin, "grant select on aurora.demodb.sales to ann")
    assert rows(ann, sql) == [(10,)]
    # a user's cached statement is not another's: bob holds nothing
    tag(admin, f"create user bob password '{PW}'")
    assert refused(hub.session("bob"), sql) == "permission denied for schema demodb"


def test_cached_query_is_refused_once_its_table_is_in_error(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    sql = "select count(*) from demodb.sales"
    assert run_twice(s, sql) == [(10,)]
    status = TableStatus(TableId("demodb", "sales"), TableState.FAILED, reason="disk full")
    backend.dests["aurora"].save_table_status(status)
    with pytest.raises(SqlError) as e:
        rows(s, sql)
    assert "Failed" in e.value.message and "disk full" in e.value.message
    backend.options["aurora"]["query_all_states"] = True  # ALTER DATABASE ... through the API
    assert rows(s, sql) == [(10,)]


def test_table_created_by_replication_on_the_search_path_is_the_one_read(
    backend: HubBackend,  # noqa: F811
) -> None:
    d = backend.dests["aurora"]
    other = TableSchema(TableId("newdb", "other"), (int_col("id", False),), ("id",))
    add_table(d, other, [{"id": 1}])  # schema newdb exists before the session's search_path
    s = SqlSession(backend, database="aurora", user="a")
    tag(s, "set search_path to newdb, demodb")
    sql = "select note from sales order by 1 limit 1"
    assert run_twice(s, sql) == [("n1",)]
    assert [c.pg_type for c in s.execute(sql).columns or []] == ["varchar(20)"]
    # replication creates newdb.sales (a wider note), still loading: the cached translation
    # read demodb.sales, Synced; the new table comes first on the path and is not queryable
    newer = TableSchema(
        TableId("newdb", "sales"),
        (
            int_col("salesid", False),
            ColumnSchema("note", LogicalType(Kind.STRING), True, "varchar(40)"),
        ),
        ("salesid",),
    )
    add_table(d, newer, [{"salesid": 1, "note": "fresh"}], TableState.RESYNC_INITIATED, "loading")
    with pytest.raises(SqlError) as e:
        rows(s, sql)
    assert "ResyncInitiated" in e.value.message
    d.save_table_status(TableStatus(newer.id, TableState.SYNCED))
    assert rows(s, sql) == [("fresh",)]
    assert [c.pg_type for c in s.execute(sql).columns or []] == ["varchar(40)"]


def test_ddl_in_dev_and_user_statements_make_entries_stale(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    tag(admin, "create table t (a int)")
    sql = "select * from t"
    run_twice(admin, sql)
    other = hub.session()  # the DDL of any session counts
    tag(other, "alter table t add column b varchar(7)")
    before = hits()
    result = admin.execute(sql)
    assert [c.name for c in result.columns or []] == ["a", "b"]
    assert hits() == before
    run_twice(admin, sql)
    tag(admin, f"create user cy password '{PW}'")
    before = hits()
    rows(admin, sql)
    assert hits() == before


def test_long_statements_and_password_texts_are_not_kept(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    long = "select length('" + "x" * 70_000 + "') as n"
    for sql in (long, "select 'my password is hunter2' as p"):
        rows(s, sql)
        before = hits()
        rows(s, sql)
        assert hits() == before, sql[:40]
