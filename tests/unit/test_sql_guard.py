"""The SQL sandbox in-process: the guard over sqlglot's tree and DuckDB's own parse, the policy's
rulings, session parameters and the limits' arithmetic. The end-to-end corpus against a real
service is tests/e2e/test_sql_sandbox.py; these are the fast checks beside it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.sql_backend import HubBackend, add_table, sales_schema
from tests.unit.test_sql_session import backend, one, rows  # noqa: F401 (fixture)

from zeroetl.server.sql.limits import (
    Admission,
    StatementRun,
    effective_timeout_ms,
    format_timeout,
    parse_timeout,
)
from zeroetl.server.sql.policy import Kind, Policy, Principal, Touch
from zeroetl.server.sql.session import SqlError, SqlSession

WHO = Principal("analyst")


@pytest.mark.parametrize(
    ("touch", "state"),
    [
        (Touch(Kind.READ, "SELECT", ("aurora", "demodb", "sales")), None),
        (Touch(Kind.READ, "SELECT", ("aurora", "_zeroetl", "tables")), "42501"),
        (Touch(Kind.READ, "SELECT", ("_ZEROETL", "kv")), "42501"),
        (Touch(Kind.READ, "SELECT", ("duckdb_logs",)), "42501"),
        (Touch(Kind.READ, "SELECT", ("aurora", "demodb", "duckdb_logs")), None),
        (Touch(Kind.READ, "SELECT", ("/etc/passwd",)), "42501"),
        (Touch(Kind.READ, "SELECT", ("data.csv",)), "42501"),
        (Touch(Kind.WRITE, "UPDATE", ("aurora", "demodb", "sales"), "aurora"), "25006"),
        (Touch(Kind.WRITE, "INSERT", ("svv_integration",)), "42501"),
        (Touch(Kind.DDL, "CREATE VIEW", ("pg_class",)), "42501"),
        (Touch(Kind.DDL, "SELECT INTO", ("aurora", "demodb", "t"), "aurora"), "25006"),
        (Touch(Kind.TABLE_FUNCTION, "range"), None),
        (Touch(Kind.TABLE_FUNCTION, "generate_series"), None),
        (Touch(Kind.TABLE_FUNCTION, "read_csv"), "42501"),
        (Touch(Kind.TABLE_FUNCTION, "query"), "42501"),
        (Touch(Kind.TABLE_FUNCTION, "some_future_reader"), "42501"),  # an allow-list
        (Touch(Kind.FUNCTION, "upper"), None),
        (Touch(Kind.FUNCTION, "random", side_effects=True), None),
        (Touch(Kind.FUNCTION, "write_log", side_effects=True), "42501"),
        (Touch(Kind.FUNCTION, "current_setting", ("system", "main")), "42501"),
        (Touch(Kind.FUNCTION, "format_type", ("pg_catalog",)), None),
        (Touch(Kind.STATEMENT, "ATTACH"), "42501"),
        (Touch(Kind.STATEMENT, "SOMETHING_NEW"), "42501"),
        (Touch(Kind.SETTING, "memory_limit"), "42501"),
    ],
    ids=lambda v: v.name if isinstance(v, Touch) else str(v),
)
def test_policy_rulings(touch: Touch, state: str | None) -> None:
    refused = Policy().decide(touch, WHO)
    assert (refused.sqlstate if refused else None) == state
    if refused is not None:
        assert touch.name.lower() in refused.message.lower() or touch.path[-1] in refused.message


REFUSED = [
    ("with x as (update demodb.sales set qtysold = 0 returning 1) select * from x", "25006"),
    ("with x as (delete from demodb.sales returning 1) select count(*) from x", "25006"),
    ("select * from demodb.sales where salesid in (with y as (insert into demodb.sales"
     " (salesid) values (99) returning salesid) select salesid from y)", "25006"),
    ("select * into t from demodb.sales", "25006"),
    ("select * from read_csv('/etc/passwd')", "42501"),
    ("select * from glob('/*')", "42501"),
    ("select system.main.current_setting('memory_limit')", "42501"),
    ("select write_log('x')", "42501"),
    ("explain analyze with x as (update demodb.sales set qtysold = 0 returning 1) select 1",
     "25006"),
    ("select * from aurora._zeroetl.checkpoint", "42501"),
    ("attach '/tmp/x.duckdb' as x", "42501"),
    ("pragma version", "42501"),
    ("select * from duckdb_settings()", "42501"),
    ("set memory_limit = '1GB'", "42501"),
    ("set global threads = 1", "42501"),
    ("reset threads", "42501"),
    ("set search_path to _zeroetl", "42501"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "state"), REFUSED, ids=[s[:40] for s, _ in REFUSED])
def test_refused_in_process(backend: HubBackend, sql: str, state: str) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    with pytest.raises(SqlError) as e:
        s.execute(sql)
    assert e.value.sqlstate == state, e.value.message
    assert one(s, "select count(*) from demodb.sales") == 10


def test_describe_runs_the_guard_too(backend: HubBackend) -> None:  # noqa: F811
    """Parse/Describe of a prepared statement never reaches DuckDB when refused."""
    s = SqlSession(backend, database="aurora", user="a")
    with pytest.raises(SqlError) as e:
        s.describe("with x as (delete from demodb.sales returning 1) select * from x")
    assert e.value.sqlstate == "25006"
    assert one(s, "select count(*) from demodb.sales") == 10


def test_system_views_are_pinned(backend: HubBackend, tmp_path: Path) -> None:  # noqa: F811
    d = backend.dests["aurora"]
    impostor = sales_schema("demodb")
    impostor = type(impostor)(
        type(impostor.id)("demodb", "svv_integration"), impostor.columns, impostor.primary_key
    )
    add_table(d, impostor, [])
    s = SqlSession(backend, database="aurora", user="a")
    rows(s, "set search_path to demodb")
    cols = s.execute("select * from svv_integration").columns
    assert cols is not None and cols[0].name == "integration_id"
    # the replicated table stays reachable by its qualified name; a CTE of that name wins
    assert rows(s, "select count(*) from demodb.svv_integration") == [(0,)]
    assert rows(s, "with svv_integration as (select 1 as x) select x from svv_integration") == [
        (1,)
    ]


def test_statement_timeout_in_process(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    rows(s, "set statement_timeout = 200")
    with pytest.raises(SqlError) as e:
        rows(s, "select sum(i) from range(100000000000) t(i)")
    assert (e.value.sqlstate, e.value.message) == (
        "57014",
        "canceling statement due to statement timeout",
    )
    assert one(s, "show statement_timeout") == "200ms"
    assert one(s, "select count(*) from demodb.sales") == 10


def test_timeout_values() -> None:
    assert [parse_timeout(v) for v in ("0", "1000", "'1s'", "1.5s", "2 min", "1h", "500us")] == [
        0, 1000, 1000, 1500, 120_000, 3_600_000, 0,
    ]  # fmt: skip
    for bad in ("abc", "-1", "10 parsecs", "99999999999"):
        with pytest.raises(SqlError) as e:
            parse_timeout(bad)
        assert e.value.sqlstate == "22023"
    assert [format_timeout(v) for v in (0, 1500, 2000, 120_000, 3_600_000, 86_400_000)] == [
        "0", "1500ms", "2s", "2min", "1h", "1d",
    ]  # fmt: skip
    assert effective_timeout_ms(0, 0) == 0
    assert effective_timeout_ms(0, 5000) == 5000
    assert effective_timeout_ms(9000, 5000) == 5000
    assert effective_timeout_ms(1000, 5000) == 1000


def test_admission_slots_and_runs() -> None:
    slots = Admission(1)
    assert slots.acquire(lambda: False)
    stopped = threading.Event()
    threading.Timer(0.1, stopped.set).start()
    assert not slots.acquire(stopped.is_set)  # waited, then stopped: no slot taken
    run = StatementRun(0, lambda _run: None)
    run.admitted(slots)
    run.finish()
    run.finish()  # once only
    assert slots.acquire(lambda: False)
    slots.release()
    fired = threading.Event()
    late = StatementRun(50, lambda _run: fired.set()).arm()
    assert fired.wait(5)
    late.finish()


class FakeSession:
    def __init__(self, since: float | None) -> None:
        self.running_since = since
        self.reasons: list[str] = []

    def cancel(self, reason: str = "user") -> None:
        self.reasons.append(reason)


def test_memory_guard_cancels_the_oldest_then_waits_for_it() -> None:
    from zeroetl.server.sql.memguard import MemoryGuard

    old, young, idle = FakeSession(10.0), FakeSession(19.0), FakeSession(None)
    sessions = [old, young, idle]
    guard = MemoryGuard(lambda: None, 1000, lambda: sessions)  # type: ignore[arg-type,return-value]
    assert guard.check(700, 20.0) == []  # under 80%: nothing
    assert guard.check(850, 20.0) == [old]  # the longest-running one
    assert guard.check(850, 20.1) == []  # it is unwinding: the young one is spared
    old.running_since = None  # it ended and freed its memory
    assert guard.check(700, 20.2) == []
    assert guard.check(960, 20.3) == [young]  # above 95%: everything still running
    assert guard.check(850, 20.8) == []  # a grace for the one just cancelled ...
    assert guard.check(850, 21.5) == [young]  # ... then, still running, it is chosen again
