"""The materialized-view refresher on a real DuckDB hub with a target database written through
DuckDBDestination (the e2e test drives it through real replication): it refreshes AUTO REFRESH
YES views whose inputs changed, marks the others stale, keeps the old contents of a view whose
refresh fails and backs off, and waits for a running slot like any statement."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.sql_backend import HubBackend, sales_schema
from tests.unit.test_workspace import make_backend, rows, tag

from zeroetl.model import Position, TableId
from zeroetl.server.sql.limits import Admission
from zeroetl.server.sql.session import SqlSession
from zeroetl.service.mv_refresher import MvRefresher, RefresherSettings
from zeroetl.service.readgate import ReadGate


@pytest.fixture
def backend(tmp_path: Path) -> HubBackend:
    return make_backend(tmp_path)


@pytest.fixture
def admin(backend: HubBackend) -> SqlSession:
    return SqlSession(backend, database="dev", user="admin")


def refresher(b: HubBackend, admission: Admission | None = None) -> MvRefresher:
    return MvRefresher(
        b.cursor,
        b.databases,
        ReadGate(),
        lambda: admission,
        RefresherSettings(min_gap_s=0.0, max_backoff_s=0.0),
    )


def apply_sale(b: HubBackend, salesid: int, position: int) -> None:
    """What a replicated batch leaves behind: new rows, activity, a new checkpoint."""
    d = b.dests["aurora"]
    schema = sales_schema()
    row = dict(salesid=salesid, qtysold=1, pricepaid=None, saletime=None, note=None)
    d.write_chunk(schema, pa.Table.from_pylist([row], schema=schema.arrow_schema()))
    d.record_table_activity(checkpoint=Position("bin.000001", position), table=TableId("demodb", "sales"),
                            transaction_id=f"0-1-{position}", inserted=1, updated=0, deleted=0,
                            bytes_ingested=10)  # fmt: skip
    d.save_checkpoint(Position("bin.000001", position))


def test_refreshes_auto_views_and_marks_the_others_stale(
    backend: HubBackend,
    admin: SqlSession,
) -> None:
    s = admin
    tag(s, "create materialized view auto_mv auto refresh yes as select count(*) n from"
        " aurora.demodb.sales")  # fmt: skip
    tag(s, "create materialized view manual_mv as select count(*) n from aurora.demodb.sales")
    r = refresher(backend)
    assert r.tick() == 0  # nothing changed since they were built
    apply_sale(backend, 11, 2000)
    assert r.tick() == 1
    assert rows(s, "select n from auto_mv") == [(11,)]
    assert rows(s, "select n from manual_mv") == [(10,)]
    assert rows(s, "select name, is_stale from svv_mv_info order by 1") == [
        ("auto_mv", "f"),
        ("manual_mv", "t"),
    ]
    got = rows(s, "select source_position from svv_mv_info where name = 'auto_mv'")
    assert got == [("aurora:bin.000001:2000",)]
    assert r.tick() == 0


def test_a_failing_view_keeps_its_contents_and_is_retried(
    backend: HubBackend,
    admin: SqlSession,
) -> None:
    s = admin
    tag(s, "create table dims (k int)")
    tag(s, "insert into dims values (1)")
    tag(s, "create materialized view m auto refresh yes as select count(*) n, (select count(*)"
        " from dims) d from aurora.demodb.sales")  # fmt: skip
    tag(s, "drop table dims")
    r = refresher(backend)
    apply_sale(backend, 11, 2000)
    assert r.tick() == 0
    assert rows(s, "select n from m") == [(10,)]
    state = rows(s, "select refresh_state, is_stale, last_error is not null from svv_mv_info")
    assert state == [("failed", "t", True)]
    tag(s, "create table dims (k int)")
    assert r.tick() == 1  # retried although no new change arrived
    assert rows(s, "select n, d from m") == [(11, 0)]
    assert rows(s, "select refresh_state, is_stale from svv_mv_info") == [("refreshed", "f")]


def test_a_refresh_waits_for_a_running_slot(
    backend: HubBackend,
    admin: SqlSession,
) -> None:
    s = admin
    tag(s, "create materialized view m auto refresh yes as select count(*) n from"
        " aurora.demodb.sales")  # fmt: skip
    slots = Admission(1)
    assert slots.acquire(lambda: False)  # a statement holds the only slot
    r = refresher(backend, slots)
    apply_sale(backend, 11, 2000)
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(r.tick()))
    t.start()
    t.join(0.5)
    assert t.is_alive() and rows(s, "select n from m") == [(10,)]
    slots.release()
    t.join(30)
    assert done == [1] and rows(s, "select n from m") == [(11,)]


class CountingCursors:
    """The hub's cursors, recording every statement the refresher sends through them."""

    def __init__(self, b: HubBackend) -> None:
        self.b = b
        self.sql: list[str] = []

    def __call__(self) -> Any:
        cur = self.b.cursor()
        sent = self.sql

        class Recording:
            def execute(self, sql: str, *args: Any) -> Any:
                sent.append(sql)
                return cur.execute(sql, *args)

            def __getattr__(self, name: str) -> Any:
                return getattr(cur, name)

        return Recording()

    def reads_of(self, what: str) -> int:
        return sum(what in s for s in self.sql)


def test_a_quiet_warehouse_is_not_read(backend: HubBackend) -> None:
    """Nothing committed since the last look: no target database read; no view in dev: the
    view list is not read either, however often replication commits."""
    cursors = CountingCursors(backend)
    r = MvRefresher(cursors, backend.databases, ReadGate(), lambda: None)
    assert r.tick() == 0
    first = cursors.reads_of("_zeroetl.checkpoint"), cursors.reads_of("mviews")
    assert first[0] == 1  # the first look reads the checkpoint
    assert r.tick() == 0
    assert (cursors.reads_of("_zeroetl.checkpoint"), cursors.reads_of("mviews")) == first
    apply_sale(backend, 11, 2000)  # a commit: the database is read again, dev's list is not
    assert r.tick() == 0
    assert cursors.reads_of("_zeroetl.checkpoint") == 2
    assert cursors.reads_of("mviews") == first[1]


def test_a_view_created_after_quiet_looks_is_refreshed(
    backend: HubBackend, admin: SqlSession
) -> None:
    r = refresher(backend)
    apply_sale(backend, 11, 2000)
    assert r.tick() == 0  # no view yet: remembered as none
    tag(admin, "create materialized view auto_mv auto refresh yes as select count(*) n from"
        " aurora.demodb.sales")  # fmt: skip
    apply_sale(backend, 12, 3000)
    assert r.tick() == 1
    assert rows(admin, "select n from auto_mv") == [(12,)]
