"""Prepared plans (prepared.py) and the direct stream (duckstream.py): a repeated query runs from
its plan with the same answer, and no plan outlives what it was made from (DDL in dev, the
session's time zone and search path), crosses sessions, or takes parameters. Real DuckDB hub."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tests.sql_backend import HubBackend
from tests.unit.test_sql_session import backend  # noqa: F401  (fixture)
from tests.unit.test_workspace import make_backend, rows, tag

from zeroetl.server.sql import duckstream, prepared
from zeroetl.server.sql.session import SqlError, SqlSession

COLD = "set enable_result_cache_for_session to off"  # every run reaches DuckDB


def cold(hub: HubBackend, database: str = "aurora", user: str = "a") -> SqlSession:
    s = SqlSession(hub, database=database, user=user)
    tag(s, COLD)
    return s


def plans(s: SqlSession) -> prepared.PreparedPlans:
    return s._prepared


def test_a_repeated_query_runs_from_its_plan(backend: HubBackend) -> None:  # noqa: F811
    s = cold(backend)
    sql = "select salesid, qtysold from demodb.sales where salesid < 4 order by salesid"
    first = rows(s, sql)
    assert first == [(1, 2), (2, 3), (3, 4)]
    assert (plans(s).made, plans(s).used) == (0, 0)  # once: no plan (most never come again)
    assert rows(s, sql) == first
    assert (plans(s).made, plans(s).used) == (1, 1)
    assert rows(s, sql) == first
    assert (plans(s).made, plans(s).used) == (1, 2)
    # the plan reads the data as it is now, not as it was prepared
    backend.hub.execute("DELETE FROM aurora.demodb.sales WHERE salesid = 2")
    assert rows(s, sql) == [(1, 2), (3, 4)]


def test_queries_with_parameters_are_never_planned(backend: HubBackend) -> None:  # noqa: F811
    s = cold(backend)
    sql = "select count(*) from demodb.sales where salesid < $1"
    for limit, want in ((4, 3), (4, 3), (8, 7)):
        assert rows(s, sql, [limit]) == [(want,)]
    assert plans(s).made == 0


def test_ddl_in_dev_makes_a_new_plan_with_the_new_shape(tmp_path: Path) -> None:
    s = cold(make_backend(tmp_path), database="dev", user="admin")
    tag(s, "create table t (id int, name varchar(20))")
    tag(s, "insert into t values (1, 'a')")
    sql = "select * from t"
    assert rows(s, sql) == rows(s, sql) == [(1, "a")]
    assert plans(s).made == 1
    tag(s, "drop table t")
    tag(s, "create table t (name varchar(20), id int, extra int)")
    tag(s, "insert into t values ('b', 2, 3)")
    assert rows(s, sql) == rows(s, sql) == [("b", 2, 3)]
    tag(s, "drop table t")
    with pytest.raises(SqlError) as e:
        rows(s, sql)
    assert e.value.sqlstate == "42P01"


def test_a_plan_is_kept_per_time_zone_and_search_path(backend: HubBackend) -> None:  # noqa: F811
    s = cold(backend)
    sql = "select cast(timestamptz '2020-01-01 00:00:00+00' as varchar)"
    assert rows(s, sql) == rows(s, sql) == [("2020-01-01 00:00:00+00",)]
    tag(s, "set timezone to 'America/New_York'")
    assert rows(s, sql) == rows(s, sql) == [("2019-12-31 19:00:00-05",)]
    tag(s, "set search_path to demodb")
    assert rows(s, "select count(*) from sales") == rows(s, "select count(*) from sales") == [(10,)]
    assert plans(s).made == 3


def test_plans_never_cross_sessions(backend: HubBackend) -> None:  # noqa: F811
    s, other = cold(backend), cold(backend)
    sql = "select count(*) from demodb.sales"
    rows(s, sql)
    rows(s, sql)
    (name,) = plans(s)._plans.values()
    assert name.startswith(prepared.PREFIX)
    # a client cannot name a plan, its own or another session's
    for who in (s, other):
        with pytest.raises(SqlError) as e:
            rows(who, f"execute {name}")
        assert e.value.sqlstate == "42501"
    with pytest.raises(duckdb.Error):  # and another cursor does not have it at all
        other._cur.execute(f"EXECUTE {name}")


def test_a_plan_that_fails_runs_as_text_and_is_dropped(backend: HubBackend) -> None:  # noqa: F811
    s = cold(backend)
    sql = "select max(salesid) from demodb.sales"
    rows(s, sql)
    rows(s, sql)
    (name,) = plans(s)._plans.values()
    s._cur.execute(f"DEALLOCATE {name}")  # as if DuckDB had lost it
    assert rows(s, sql) == [(10,)]
    assert len(plans(s)) == 0


def test_plans_are_bounded_per_session(
    backend: HubBackend,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prepared, "MAX_PLANS", 2)
    s = cold(backend)
    for i in range(4):
        sql = f"select {i} + count(*) from demodb.sales"
        assert rows(s, sql) == rows(s, sql) == [(i + 10,)]
    assert len(plans(s)) == 2
    assert plans(s).made == 4


def test_direct_stream_answers_as_the_public_path() -> None:
    con = duckdb.connect()
    con.execute("create table t as select range as id, 'v' || range as s from range(10)")
    for sql, params in (
        ("select id, s from t where id < $1 order by id", [4]),
        ("select ? as a, ? as b", [1, "x"]),
        ("select 1 as one", None),
    ):
        direct = duckstream.reader(con, sql, params, 3).read_all()
        public = duckstream.reader(con, sql, params, 3, direct=False).read_all()
        assert direct.equals(public)
    for bad in ("select nope", "select 1; select 2"):
        with pytest.raises(duckdb.Error):
            duckstream.reader(con, bad, None, 3)
