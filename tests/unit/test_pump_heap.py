"""A stream start moves the process's heap out of the cyclic collector's way (pump.py)."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from zeroetl.native import binframe
from zeroetl.sources.mysql import framing, pump
from zeroetl.sources.mysql.pump import Pump


class _Quiet:
    reader = None

    def items(self) -> Iterator[object]:
        return iter(())

    def close(self) -> None:
        pass


@pytest.fixture
def gc_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(pump, "_last_settle", -1e9)  # long ago: the next stream start settles
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("gc_state")
def test_a_stream_start_freezes_the_heap_and_collects_young_objects_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    kept = [[n] for n in range(100)]  # tracked, alive: frozen with the rest
    p = Pump(_Quiet())  # type: ignore[arg-type]
    try:
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == (pump.GEN0, 10, 10)
    finally:
        p.close()


@pytest.mark.usefixtures("gc_state")
def test_stream_starts_close_together_share_one_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = pump.settle_heap
    monkeypatch.setattr(pump, "settle_heap", lambda: (calls.append(1), real())[1])
    for _ in range(3):
        Pump(_Quiet()).close()  # type: ignore[arg-type]
    assert len(calls) == 1
    monkeypatch.setattr(pump, "_last_settle", time.monotonic() - pump.START_RESETTLE_S)
    Pump(_Quiet()).close()  # type: ignore[arg-type]
    assert len(calls) == 2


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.mark.usefixtures("gc_state")
def test_frozen_objects_that_become_garbage_are_freed_by_the_next_settle() -> None:
    node = _Node()
    gone = weakref.ref(node)
    pump.settle_heap()  # node is alive: frozen
    del node
    gc.collect()
    assert gone() is not None  # frozen: the collector skips it
    pump.settle_heap()  # hands the frozen objects back first
    assert gone() is None


@pytest.mark.usefixtures("gc_state")
def test_a_streaming_reader_settles_again_every_resettle_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pump.settle_heap()
    node = _Node()
    gone = weakref.ref(node)
    gc.freeze()
    del node
    pump.maybe_resettle()  # too soon: nothing happens
    assert gone() is not None
    monkeypatch.setattr(pump, "RESETTLE_S", 0.0)
    pump.maybe_resettle()
    assert gone() is None


@pytest.mark.usefixtures("gc_state")
def test_a_higher_threshold_or_a_disabled_collector_is_left_alone() -> None:
    for threshold in ((50_000, 5, 5), (0, 10, 10)):
        gc.set_threshold(*threshold)
        pump.settle_heap()
        assert gc.get_threshold() == threshold


@pytest.mark.skipif(binframe is None, reason="the C framer is not built")
def test_c_made_events_are_not_tracked_by_the_collector() -> None:
    from tests.unit.test_framing import FILE, _txn

    from zeroetl.sources.mysql.binlog import _KINDS

    data = memoryview(bytearray(_txn(True)))
    assert binframe is not None
    evs = binframe.frame(data, 0, len(data), True, FILE, _KINDS, framing.DESCRIPTORS)[0]
    assert evs and not any(gc.is_tracked(e) for e in evs)
    del evs  # and freeing them is fine
    gc.collect()
