"""Kept results answered on the wire's event loop (server/sql/inline.py): the same checks as on
the worker (the sandbox and grants ruled on again, table states and versions, the session's
settings, the user), no DuckDB, and anything else goes to the worker. Real DuckDB hub, real
destinations, real user store; the wire part runs a real SqlSession behind a Session."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.sql_backend import HubBackend, sales_schema
from tests.unit.test_sql_resultcache import SQL, hits, sale
from tests.unit.test_sql_session import backend  # noqa: F401  (fixture)
from tests.unit.test_users_grants import PW, Hub
from tests.unit.test_workspace import rows, tag

from zeroetl.model import TableState, TableStatus
from zeroetl.server.pgwire.session import Session
from zeroetl.server.pgwire.worker import SessionWorker
from zeroetl.server.sql import inline, relations
from zeroetl.server.sql.errors import SqlError
from zeroetl.server.sql.session import SqlSession
from zeroetl.server.sql.users_store import Grant


def inline_rows(s: SqlSession, sql: str, params: list[Any] | None = None) -> list[Any] | None:
    """The event loop's answer: rows, or None (the statement goes to the worker)."""
    r = s.execute_kept(sql, params)
    if r is None:
        return None
    return [t for b in r.batches for t in zip(*(c.to_pylist() for c in b.columns), strict=True)]


def warm(s: SqlSession, sql: str, params: list[Any] | None = None) -> list[Any]:
    """Runs `sql` on the worker's path until it is kept and nothing is left open."""
    first = rows(s, sql, params)
    assert rows(s, sql, params) == first
    return first


def test_a_repeat_is_answered_without_duckdb(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    assert inline_rows(s, SQL) is None  # never run: nothing kept
    first = warm(s, SQL)
    before = hits()
    assert inline_rows(s, SQL) == first == [(10, Decimal("577.50"))]
    assert hits() == before + 1
    assert rows(s, SQL) == first  # the worker's path after it: the session is consistent
    assert inline_rows(s, "select 1") is None  # not kept yet
    warm(s, "select 1")
    assert inline_rows(s, "select 1") == [(1,)]


def test_a_replicated_commit_is_never_answered_from_before(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    warm(s, SQL)
    assert inline_rows(s, SQL) == [(10, Decimal("577.50"))]
    d, schema = backend.dests["aurora"], sales_schema()
    d.begin()
    d.write_chunk(schema, pa.Table.from_pylist([sale(11)], schema=schema.arrow_schema()))
    d.commit()
    assert inline_rows(s, SQL) is None  # stale: DuckDB runs it again, on the worker
    assert warm(s, SQL) == [(11, Decimal("578.50"))]
    assert inline_rows(s, SQL) == [(11, Decimal("578.50"))]


def test_another_user_settings_and_the_off_switch(backend: HubBackend) -> None:  # noqa: F811
    a = SqlSession(backend, database="aurora", user="a")
    warm(a, SQL)
    b = SqlSession(backend, database="aurora", user="b")
    assert inline_rows(b, SQL) is None  # a's translation and result are a's
    ts = "select min(saletime)::timestamptz::varchar from demodb.sales"
    utc = warm(a, ts)
    assert inline_rows(a, ts) == utc
    tag(a, "SET timezone TO 'America/New_York'")
    assert inline_rows(a, ts) is None  # the session's settings are part of the key
    assert rows(a, ts) != utc
    tag(a, "SET enable_result_cache_for_session TO off")
    assert inline_rows(a, SQL) is None
    tag(a, "RESET enable_result_cache_for_session")
    tag(a, "BEGIN")
    assert inline_rows(a, SQL) is None  # an explicit transaction reads its own snapshot
    tag(a, "COMMIT")


def test_a_revoked_grant_refuses_and_a_table_out_of_sync_too(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}'")
    tag(admin, "grant usage on schema aurora.demodb to ann")
    tag(admin, "grant select on aurora.demodb.sales to ann")
    ann, admin = hub.session("ann", "aurora"), hub.session("admin", "aurora")
    sql = "select count(*) from demodb.sales"  # (a statement naming a database: the worker)
    warm(ann, sql)
    warm(admin, sql)
    assert inline_rows(admin, sql) == [(10,)]
    tag(admin, "revoke select on aurora.demodb.sales from ann")
    try:
        got = inline_rows(ann, sql)
    except SqlError as e:  # refused on the event loop, as the worker refuses it
        assert e.message == "permission denied for table sales"
    else:
        assert got is None, "a revoked user was served the kept result"
    with pytest.raises(SqlError, match="permission denied"):
        rows(ann, sql)
    # a table that leaves Synced is refused however its result was kept
    hub.backend.dests["aurora"].save_table_status(
        TableStatus(sales_schema().id, TableState.RESYNC_INITIATED, reason="loading")
    )
    try:
        got = inline_rows(admin, sql)  # its table states are read again: on the worker
    except SqlError:
        got = None
    assert got is None, "a table out of sync was answered from the kept result"
    with pytest.raises(SqlError, match="sales"):
        rows(admin, sql)
    assert inline_rows(admin, sql) is None  # its translation went with the change


def test_nothing_reaches_duckdb_and_a_miss_leaves_no_trace(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    with pytest.raises(inline.NeedsWorker):
        inline.NO_DUCKDB.execute("select 1")
    inline.NO_DUCKDB.interrupt()  # a cancel meanwhile is harmless
    warm(s, SQL)
    d, schema = backend.dests["aurora"], sales_schema()
    d.write_chunk(schema, pa.Table.from_pylist([sale(11)], schema=schema.arrow_schema()))
    assert inline_rows(s, SQL) is None
    assert s._cur is not inline.NO_DUCKDB and not s._inline
    assert s.running_since is None  # the attempt's run ended
    assert backend.read_gate.active == 0 if hasattr(backend, "read_gate") else True
    assert rows(s, SQL) == [(11, Decimal("578.50"))]


class CountingWorker(SessionWorker):
    def __init__(self) -> None:
        super().__init__("test-worker")
        self.trips = 0

    async def run(self, fn: Any, *args: Any) -> Any:
        self.trips += 1
        return await super().run(fn, *args)


def test_the_wire_answers_a_kept_result_without_a_worker_trip(backend: HubBackend) -> None:  # noqa: F811
    worker = CountingWorker()
    sql = SqlSession(backend, database="aurora", user="a")
    wire = Session(None, None, sql, worker)  # type: ignore[arg-type]

    async def run(text: str) -> list[Any]:
        outcome = await wire._execute(text, ())
        assert outcome.source is not None
        data, n, last = wire._encode_slice(outcome.source, [0, 0], 4096)
        assert last
        return [n, data]

    try:
        first = asyncio.run(run(SQL))  # runs in DuckDB, on the worker; read to its end
        trips = worker.trips
        assert asyncio.run(run(SQL)) == first
        assert asyncio.run(run(SQL)) == first
        assert worker.trips == trips, "a kept result went to the worker"
        cursor = "declare c cursor with hold for " + SQL  # the wire's own: always the worker
        asyncio.run(wire._execute(cursor, ()))
        assert worker.trips == trips + 1
    finally:
        worker.shutdown(wait=True)


def test_a_non_superusers_repeat_is_answered_inline_and_ruled_on_every_time(
    tmp_path: Path,
) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    for u in ("ann", "bob"):
        tag(admin, f"create user {u} password '{PW}'")
    tag(admin, "grant usage on schema aurora.demodb to ann")
    tag(admin, "grant select on aurora.demodb.sales to ann")
    ann, ann_dev, bob = hub.session("ann", "aurora"), hub.session("ann"), hub.session("bob")
    tag(ann_dev, "create view v as select salesid from aurora.demodb.sales")
    tag(ann_dev, "grant select on v to bob")
    sql, view = "select count(*) from demodb.sales", "select count(*) from dev.public.v"
    warm(ann, sql)
    warm(bob, view)
    # their names resolve from the kept catalog reads: no DuckDB, the event loop answers
    assert inline_rows(ann, sql) == [(10,)]
    assert inline_rows(bob, view) is None  # dev's results are not kept; its checks pass
    # grants taken away behind every cache's back (no statement bumps anything): the next
    # repeat is refused at once, on the event loop, for the user and through the view
    grant = Grant("SELECT", "table", "aurora", "demodb", "sales", "user", "ann")
    hub.store.revoke([grant])
    with pytest.raises(SqlError, match="permission denied for table sales"):
        inline_rows(ann, sql)
    with pytest.raises(SqlError, match="its owner ann may not read sales"):
        inline_rows(bob, view)
    with pytest.raises(SqlError, match="permission denied for table sales"):
        rows(ann, sql)
    hub.store.grant([grant])
    assert inline_rows(ann, sql) == [(10,)]


def test_kept_catalog_reads_move_with_every_commit(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    kept = relations.of(hub.backend)
    con = hub.backend.cursor()
    dbs = hub.backend.databases()
    first = relations.relation_index(kept, con, dbs)
    assert ("aurora", "demodb", "sales") in first
    assert relations.relation_index(kept, con, dbs) is first  # kept: no catalog read
    d = hub.backend.dests["aurora"]
    other = sales_schema("other")
    d.create_table(other)  # replication creates a table: its database's version moves
    again = relations.relation_index(kept, con, dbs)
    assert again is not first and ("aurora", "other", "sales") in again
    tag(hub.session(), "create table dev.public.t (a int)")  # DDL in dev: every version
    assert ("dev", "public", "t") in relations.relation_index(kept, con, dbs)
    assert relations.relation_index(None, con, dbs) is not first  # in a transaction: read
