"""Commit pacing (engine/pacing.py): the `min_commit_interval_s` capability, both ways, against
the in-memory source and destination (tests/memory_support.py), and the pacer on a clock of
its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.memory_support import MemoryDestination, MemorySource

from zeroetl.destinations.base import Capabilities
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.pacing import Pacer
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema

T = TableId("shop", "orders")
SCHEMA = TableSchema(
    T,
    (ColumnSchema("id", LogicalType(Kind.INT32)), ColumnSchema("v", LogicalType(Kind.STRING))),
    ("id",),
)


def seeded() -> MemorySource:
    src = MemorySource()
    src.create(SCHEMA, [{"id": i, "v": f"r{i}"} for i in range(3)])
    return src


def dest_with(interval_s: float) -> MemoryDestination:
    return MemoryDestination(
        Capabilities(positional_add_column=True, min_commit_interval_s=interval_s)
    )


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@contextmanager
def streaming(src: MemorySource, dest: MemoryDestination, **settings: Any) -> Iterator[Replicator]:
    rep = Replicator(
        src,
        dest,
        integration_id="mem",
        data_filter=DataFilter.parse("include: shop.*"),
        settings=EngineSettings(**{"prereq_check_s": 0, "batch_ms": 0, **settings}),
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            rep.run()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: rep.phase == "streaming" and rep.committed == src.position())
        yield rep
    finally:
        rep.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not errors, errors


def trickle(src: MemorySource, n: int, every_s: float, start: int = 100) -> None:
    """`n` one-row source transactions, `every_s` apart."""
    for i in range(start, start + n):
        src.insert(T, {"id": i, "v": f"t{i}"})
        src.commit()
        time.sleep(every_s)


def assert_same(src: MemorySource, dest: MemoryDestination) -> None:
    assert dest.table(T) == src.rows[T]
    assert dest.state.checkpoint == src.position()


@pytest.mark.parametrize("interval_s", [0.0, 0.25])
def test_min_commit_interval_capability(interval_s: float) -> None:
    """A trickle of small transactions: without an interval every one commits on its own;
    with one, commits are at least the interval apart and the batches grow."""
    src, dest = seeded(), dest_with(interval_s)
    with streaming(src, dest) as rep:
        before, started = rep.pacer.commits, time.monotonic()
        trickle(src, 40, 0.02)
        wait_for(lambda: dest.state.checkpoint == src.position())
        took = time.monotonic() - started
        commits = rep.pacer.commits - before
    assert_same(src, dest)
    if interval_s:
        assert commits <= took / interval_s + 1, (commits, took)
    else:
        assert commits >= 20, commits  # one per transaction, give or take a scheduling hiccup


def test_changes_waiting_for_the_interval_count_in_the_lag_and_a_stop_commits_them() -> None:
    src, dest = seeded(), dest_with(30.0)
    with streaming(src, dest) as rep:
        trickle(src, 1, 0.0)  # the first data commit is at once; it starts the interval
        wait_for(lambda: dest.state.checkpoint == src.position())
        trickle(src, 1, 0.0, start=200)
        wait_for(lambda: rep.pending_changes > 0)
        time.sleep(0.4)
        assert dest.state.checkpoint != src.position()  # held back by the interval ...
        lag = rep.current_lag_ms()
        assert lag is not None and lag >= 400  # ... and the lag says so
        assert rep.status()["lag_ms"] >= 400
    assert_same(src, dest)  # the stop committed what waited


def test_batch_rows_commits_before_the_interval() -> None:
    """The memory bound wins over the interval."""
    src, dest = seeded(), dest_with(30.0)
    with streaming(src, dest, batch_rows=2) as rep:
        trickle(src, 1, 0.0)
        # the engine counts a commit just after the destination has it: wait for the count
        wait_for(lambda: dest.state.checkpoint == src.position() and rep.pacer.commits == 1)
        trickle(src, 2, 0.0, start=300)
        wait_for(lambda: dest.state.checkpoint == src.position(), timeout=5.0)
        wait_for(lambda: rep.pacer.commits >= 2)
        time.sleep(0.1)  # a third commit, if one were coming, would be counted by now
        assert rep.pacer.commits == 2


def test_until_caught_up_commits_at_once_whatever_the_interval() -> None:
    src, dest = seeded(), dest_with(30.0)
    for i in range(5):
        src.insert(T, {"id": 100 + i, "v": "x"})
        src.commit()
    started = time.monotonic()
    Replicator(
        src,
        dest,
        integration_id="mem",
        data_filter=DataFilter.parse("include: shop.*"),
        settings=EngineSettings(until_caught_up=True, prereq_check_s=0, batch_ms=0),
    ).run()
    assert time.monotonic() - started < 10
    assert_same(src, dest)


def test_the_pacer_on_its_own_clock() -> None:
    now = [100.0]
    pacer = Pacer(1.0, clock=lambda: now[0])
    assert pacer.active and pacer.due()  # nothing committed yet: at once
    pacer.committed(0)  # a commit without changes (a checkpoint) starts no interval
    assert pacer.due()
    pacer.committed(5)
    assert not pacer.due() and pacer.remaining() == 1.0
    now[0] += 0.4
    assert pacer.remaining() == pytest.approx(0.6)
    assert pacer.waiting_ms(3, 100.1) == pytest.approx(300.0)
    assert pacer.waiting_ms(0, 100.1) == 0.0
    now[0] += 0.6
    assert pacer.due() and pacer.commits == 1
    off = Pacer(0.0, clock=lambda: now[0])
    off.committed(5)
    assert not off.active and off.due() and off.remaining() == 0.0
    with pytest.raises(ValueError):
        Pacer(-1.0)
