"""The reader runs ahead of the writer by MAXSIZE lists, and by more (up to MAX_LISTS) while
the rows events they hold total under QUEUE_BYTES (pump.py): 500-column rows fill a rows event
each, small ones take at most MAX_LISTS lists, large ones the MAXSIZE of before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from zeroetl.sources.mysql import pump
from zeroetl.sources.mysql.pump import GROUP, MAX_LISTS, MAXSIZE, QUEUE_BYTES, Pump
from zeroetl.sources.mysql.stream import RowsItem


class _Rows:
    """A stream of rows items of `nbytes` each, as fast as the reader takes them."""

    reader = None

    def __init__(self, nbytes: int, count: int) -> None:
        self.nbytes = nbytes
        self.count = count
        self.made = 0

    def items(self) -> Iterator[object]:
        for _ in range(self.count):
            item = RowsItem.__new__(RowsItem)
            item.image = SimpleNamespace(nbytes=self.nbytes)  # type: ignore[assignment]
            self.made += 1
            yield item

    def close(self) -> None:
        pass


def _settled(stream: _Rows) -> int:
    """How many items the reader made once it stopped making more."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 0.3:
        if stream.made != last:
            last, since = stream.made, time.monotonic()
        time.sleep(0.01)
    return last


@pytest.fixture(autouse=True)
def _no_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pump, "maybe_resettle", lambda age=None: None)


@pytest.mark.parametrize(
    ("nbytes", "lists"),
    [
        (100, MAX_LISTS),  # small rows: MAX_LISTS lists
        (8 << 10, -(-QUEUE_BYTES // (GROUP * (8 << 10)))),  # wide rows: up to QUEUE_BYTES
        (1 << 20, MAXSIZE),  # large rows: MAXSIZE lists, as before
    ],
)
def test_the_reader_runs_ahead_by_lists_and_bytes(nbytes: int, lists: int) -> None:
    stream = _Rows(nbytes, 200 * GROUP)
    p = Pump(stream)  # type: ignore[arg-type]
    try:
        # the lists handed over, plus the one the reader waits to hand over
        assert _settled(stream) == (lists + 1) * GROUP
        got = p.take(1.0)
        assert got is not None and len(got) == GROUP
        assert _settled(stream) == (lists + 2) * GROUP  # one taken: room for one more
        taken = 1
        while (got := p.take(1.0)) is not None and type(got[0]) is RowsItem:
            taken += 1
        assert taken == 200 and stream.made == 200 * GROUP  # every item came through
    finally:
        p.close()


def test_close_wakes_a_reader_waiting_for_room() -> None:
    stream = _Rows(1 << 20, 10**9)
    p = Pump(stream)  # type: ignore[arg-type]
    _settled(stream)
    t0 = time.monotonic()
    p.close()
    assert time.monotonic() - t0 < 2.0
    assert not p._thread.is_alive()
