"""Runs a ChangeStream on its own thread and hands its items over through a bounded queue.

Reading and decoding the binlog overlaps with applying to the warehouse (DuckDB releases the
GIL while it works). The queue bounds memory: when the writer falls behind, the reader blocks,
and the server-side socket buffers absorb the rest.
"""

from __future__ import annotations

import contextlib
import queue
import threading

from zeroetl.errors import SourceUnavailable
from zeroetl.sources.mysql.stream import ChangeStream, Item

_END = object()


class Pump:
    def __init__(self, stream: ChangeStream, maxsize: int = 256) -> None:
        self.stream = stream
        self._q: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="binlog-reader", daemon=True)
        self._thread.start()

    def _put(self, obj: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(obj, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self.stream.items():
                if not self._put(item):
                    return
            self._put(SourceUnavailable("binlog stream ended"))
        except BaseException as exc:  # handed to the writer thread, which decides
            self._put(exc)
        finally:
            self._put(_END)

    def get(self, timeout: float) -> Item | None:
        """The next item, None on timeout. Re-raises the reader's exception."""
        try:
            obj = self._q.get(timeout=timeout) if timeout > 0 else self._q.get_nowait()
        except queue.Empty:
            return None
        if obj is _END:
            raise SourceUnavailable("binlog reader stopped")
        if isinstance(obj, BaseException):
            raise obj
        return obj  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self.stream.close()
        # Drain so a reader blocked on a full queue can notice the stop flag.
        with contextlib.suppress(queue.Empty):
            while True:
                self._q.get_nowait()
        self._thread.join(timeout=5)
