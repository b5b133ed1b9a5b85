"""Kept query results (resultcache.py): served only while the replicated tables they read are
unchanged, never across users the policy rules differently on, never for non-deterministic
functions nor for what replication does not write (dev), off per session. Real DuckDB hub,
real destinations, real user store."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from tests.sql_backend import HubBackend, sales_schema
from tests.unit.test_sql_session import backend  # noqa: F401  (fixture)
from tests.unit.test_users_grants import PW, Hub, refused
from tests.unit.test_workspace import rows, tag

from zeroetl import dataversions
from zeroetl.server.sql import resultcache
from zeroetl.server.sql.results import Column
from zeroetl.server.sql.session import SqlSession

SQL = "select count(*), sum(pricepaid) from demodb.sales"


def hits() -> int:
    return resultcache.CACHE.hits


def kept_twice(s: SqlSession, sql: str, params: list[object] | None = None) -> object:
    """Runs `sql` twice; the second answer must have come from the result cache."""
    first = rows(s, sql, params)
    before = hits()
    assert rows(s, sql, params) == first
    assert hits() == before + 1, "the second run was not served from the result cache"
    return first


def not_kept(s: SqlSession, sql: str) -> object:
    first = rows(s, sql)
    before = hits()
    rows(s, sql)
    assert hits() == before, "served from the result cache"
    return first


def sale(i: int) -> dict[str, object]:
    return dict(salesid=i, qtysold=1, pricepaid=Decimal("1.00"),
                saletime=datetime(2008, 2, 1), note=f"n{i}")  # fmt: skip


def test_a_replicated_commit_makes_the_result_stale(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    assert kept_twice(s, SQL) == [(10, Decimal("577.50"))]
    d = backend.dests["aurora"]
    schema = sales_schema()
    d.begin()  # as the replication writer commits a batch
    d.write_chunk(schema, pa.Table.from_pylist([sale(11)], schema=schema.arrow_schema()))
    assert rows(s, SQL) == [(10, Decimal("577.50"))]  # not committed yet: nothing new to see
    d.commit()
    assert kept_twice(s, SQL) == [(11, Decimal("578.50"))]
    # a write outside a transaction of its own (snapshot chunks) counts too
    d.write_chunk(schema, pa.Table.from_pylist([sale(12)], schema=schema.arrow_schema()))
    assert rows(s, SQL) == [(12, Decimal("579.50"))]


def test_a_commit_to_another_table_keeps_the_result(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    kept_twice(s, SQL)
    other = sales_schema("otherdb")
    backend.dests["aurora"].create_table(other)
    before = hits()
    rows(s, SQL)
    assert hits() == before + 1


def test_grant_changes_rule_on_a_kept_result_and_users_do_not_share_it(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}'")
    tag(admin, f"create user bob password '{PW}'")
    tag(admin, "grant usage on schema aurora.demodb to ann")
    tag(admin, "grant select on aurora.demodb.sales to ann")
    ann = hub.session("ann")
    sql = "select count(*) from aurora.demodb.sales"
    assert kept_twice(ann, sql) == [(10,)]
    # bob may not read it: the kept result is never his (the policy rules before the cache)
    assert refused(hub.session("bob"), sql) == "permission denied for schema demodb"
    tag(admin, "revoke select on aurora.demodb.sales from ann")
    assert refused(ann, sql) == "permission denied for table sales"
    tag(admin, "grant select on aurora.demodb.sales to ann")
    assert kept_twice(ann, sql) == [(10,)]
    tag(admin, "grant usage on schema aurora.demodb to bob")
    tag(admin, "grant select on aurora.demodb.sales to bob")
    bob = hub.session("bob")
    before = hits()
    assert rows(bob, sql) == [(10,)]
    assert hits() == before, "bob was served ann's result"


def test_dev_workspace_writes_are_seen_and_dev_reads_never_kept(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    tag(admin, "create table t (a int)")
    tag(admin, "insert into t values (1)")
    assert not_kept(admin, "select count(*) from t") == [(1,)]
    other = hub.session()
    tag(other, "insert into t values (2)")
    assert rows(admin, "select count(*) from t") == [(2,)]
    # a join of a replicated table with a dev table is not kept either
    join = "select count(*) from aurora.demodb.sales s join t on s.salesid = t.a"
    assert not_kept(admin, join) == [(2,)]
    tag(other, "insert into t values (3)")
    assert rows(admin, join) == [(3,)]


@pytest.mark.parametrize(
    "sql",
    [
        "select count(*), random() from demodb.sales",
        "select count(*), getdate() from demodb.sales",
        "select count(*), current_date from demodb.sales",
        "select max(saletime), now() from demodb.sales",
        "select count(*) from demodb.sales where saletime < sysdate",
        "select * from pg_catalog.pg_namespace",
        "select count(*) from svv_integration",
        "select count(*) from pg_class",
    ],
)
def test_non_deterministic_and_system_queries_are_never_kept(
    backend: HubBackend,  # noqa: F811
    sql: str,
) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    not_kept(s, sql)


def test_off_for_one_session_only(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    tag(s, "SET enable_result_cache_for_session TO off")
    assert rows(s, "show enable_result_cache_for_session") == [("off",)]
    not_kept(s, SQL)
    kept_twice(SqlSession(backend, database="aurora", user="a"), SQL)
    tag(s, "RESET enable_result_cache_for_session")
    before = hits()
    rows(s, SQL)
    assert hits() == before + 1


def test_parameters_settings_and_transactions(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    sql = "select count(*) from demodb.sales where salesid <= $1"
    assert kept_twice(s, sql, [3]) == [(3,)]
    assert rows(s, sql, [5]) == [(5,)]
    ts = "select min(saletime)::timestamptz::varchar from demodb.sales"
    utc = kept_twice(s, ts)
    tag(s, "SET timezone TO 'America/New_York'")
    assert rows(s, ts) != utc  # the session's settings are part of the key
    tag(s, "BEGIN")
    not_kept(s, SQL)  # an explicit transaction reads its own snapshot
    tag(s, "COMMIT")


def test_bounded_by_bytes_and_stale_when_a_commit_lands_while_it_runs() -> None:
    cache = resultcache.ResultCache(max_bytes=3000, max_entry=2000)
    cols = [Column("a", pa.int64())]
    batch = pa.record_batch([pa.array(range(100), pa.int64())], names=["a"])  # 800 bytes
    refs = (("aurora", "demodb", "t"),)
    for i in range(5):
        cache.put(resultcache.ticket((i,), refs), cols, [batch], "SELECT")
    assert len(cache) == 3 and cache.nbytes <= 3000  # the oldest went first
    assert cache.get(resultcache.ticket((0,), refs)) is None
    assert cache.get(resultcache.ticket((4,), refs)) is not None
    big = [batch, batch, batch]  # over max_entry: streamed on, never kept
    assert list(cache.capture(resultcache.ticket(("big",), refs), cols, iter(big), "S")) == big
    assert cache.get(resultcache.ticket(("big",), refs)) is None
    t = resultcache.ticket(("late",), refs)
    dataversions.committed("aurora", [("demodb", "t")])  # while the statement ran
    cache.put(t, cols, [batch], "SELECT")
    assert cache.get(resultcache.ticket(("late",), refs)) is None


def test_a_cte_named_like_a_replicated_table_is_never_kept(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    tag(s, "set search_path to demodb")
    sql = (
        "select (select count(*) from sales), (with sales as (select 1 as x)"
        " select count(*) from sales)"
    )
    assert not_kept(s, sql) == [(10, 1)]  # which `sales` each reads is not ours to guess
    kept_twice(s, "with c as (select 1 as x) select count(*) from sales, c")
    schema = sales_schema()
    backend.dests["aurora"].write_chunk(
        schema, pa.Table.from_pylist([sale(11)], schema=schema.arrow_schema())
    )
    assert rows(s, sql) == [(11, 1)]


def test_unit_reads_rules() -> None:
    from zeroetl.server.sql.policy import Kind, Touch

    targets = [("aurora", "demodb", "sales"), ("aurora", "other", "sales")]
    fn = Touch(Kind.FUNCTION, "count_star")
    consistent = frozenset({"count_star"})
    read = Touch(Kind.READ, "SELECT", ("sales",))
    no = frozenset[str]()

    def is_table(name: str) -> bool:
        return name == "sales"

    assert resultcache.reads([read, fn], targets, no, consistent, is_table) is None  # ambiguous
    full = Touch(Kind.READ, "SELECT", ("aurora", "demodb", "sales"))
    assert resultcache.reads([full, fn], targets, no, consistent, is_table) == (targets[0],)
    assert resultcache.reads([full, fn], targets, no, no, is_table) is None
    tf = Touch(Kind.TABLE_FUNCTION, "range")
    assert resultcache.reads([tf], targets, no, consistent, is_table) is None
    cte = Touch(Kind.READ, "SELECT", ("c",))
    assert resultcache.reads([cte], targets, frozenset({"c"}), consistent, is_table) == ()
    assert resultcache.reads([read], targets, frozenset({"sales"}), consistent, is_table) is None


def test_macros_count_by_what_they_call(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    kept_twice(s, "select nullif(count(*), 0), strtol('ff', 16) from demodb.sales")
    consistent = resultcache.consistent_functions(backend.cursor())
    assert "nullif" in consistent and "now" not in consistent and "random" not in consistent


def test_explain_is_never_answered_from_its_query_nor_the_reverse(
    backend: HubBackend,  # noqa: F811
) -> None:
    s = SqlSession(backend, database="aurora", user="a")
    kept_twice(s, SQL)
    plan = rows(s, "explain " + SQL)
    assert plan and plan != rows(s, SQL)
    assert rows(s, SQL) == [(10, Decimal("577.50"))]
