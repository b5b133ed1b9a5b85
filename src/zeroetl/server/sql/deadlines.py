"""Statement deadlines on one shared thread.

A `threading.Timer` per statement starts (and stops) a thread for every statement a session
runs under a `statement_timeout`: about 0.1 ms each, more than a small query's own cost. One
thread here keeps every pending deadline in a heap instead; a cancelled one is dropped when it
comes up, or all at once when they outnumber the live ones (a long timeout must not keep every
finished statement's entry for its whole length).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Deadlines:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None

    def add(self, delay_s: float, fn: Callable[[], None]) -> int:
        """Call `fn` (on the deadline thread) in `delay_s` seconds unless cancelled first."""
        with self._cond:
            handle = next(self._ids)
            heapq.heappush(self._heap, (time.monotonic() + delay_s, handle, fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sql-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][1] == handle:
                self._cond.notify()  # the earliest now: the thread waits less
            return handle

    def cancel(self, handle: int) -> None:
        with self._cond:
            self._cancelled.add(handle)
            if len(self._cancelled) > 1024 and len(self._cancelled) * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e[1] not in self._cancelled]
                heapq.heapify(self._heap)
                self._cancelled.clear()

    def __len__(self) -> int:
        return len(self._heap) - len(self._cancelled)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][1] in self._cancelled:
                        self._cancelled.discard(heapq.heappop(self._heap)[1])
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        fn = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(delay)
            try:
                fn()
            except Exception:
                log.exception("statement deadline")


DEADLINES = Deadlines()
