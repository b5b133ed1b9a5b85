"""Runs a ChangeStream on its own thread and hands its items over through a bounded queue.

Reading and decoding the binlog overlaps with applying to the warehouse (DuckDB releases the
GIL while it works). The queue bounds memory: when the writer falls behind, the reader blocks,
and the server-side socket buffers absorb the rest.

Items cross in lists of up to `GROUP` (a queue hand-over costs two lock round trips and often
a thread switch, as much as decoding a small rows event): the reader hands its list over when
it is full, and always before it waits for the source, so an item never waits for others that
have not arrived. That moment also tells the writer the stream is drained (`drained()`):
everything the source sent is handed over, the moment to commit what is gathered.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import queue
import threading
import time

from zeroetl.errors import SourceUnavailable
from zeroetl.sources.mysql.stream import ChangeStream, RowsItem

END = object()  # the reader's last object: nothing follows
GROUP = 64  # items per hand-over at most
MAXSIZE = 8  # lists the queue always takes: with GROUP, 512 items (it was 256 single items)
# ... and more, up to MAX_LISTS, while the rows events they hold total under QUEUE_BYTES: a
# 500-column row fills a rows event of its own, and 512 of them are less than the writer
# gathers while DuckDB applies a batch (the reader then waited for room, and the writer for
# the reader: 0.65 of 5.5 s, bench/cdc_shapes_bench.py "wide"). Large rows keep the 8 lists.
# The writer's wait for the reader, 100k changes (cProfile): 0.66 s with 8 lists, 0.57 s with
# 8 MiB, 0.20 s with 16 MiB (peak RSS +10-16 MB), ~0.02 s with 64 lists (up to 28 MiB).
MAX_LISTS = 64
QUEUE_BYTES = 16 << 20


def settle_heap() -> None:
    """Move what the process holds now (modules, schemas, caches) out of the collector's way.

    Streaming allocates tens of container objects per source transaction; those alive across
    collections (items in flight, open batches) are promoted, and every few thousand
    transactions that brings on a full collection, which walks the whole heap: with DuckDB,
    pyarrow and pandas loaded, ~30% of the process's CPU on small transactions. Frozen objects
    are skipped by every collection (they are still freed by reference counting). A frozen
    object that later becomes part of an unreachable cycle is not freed until the next settle,
    which first hands every frozen object back and collects: a stream start (unless one
    settled in the last START_RESETTLE_S), and every RESETTLE_S seconds while one streams
    (`maybe_resettle`), so such garbage (a closed SQL
    session's cycles, say) is bounded by what RESETTLE_S seconds make, and one full collection
    every RESETTLE_S costs less than the ones it replaces.

    The youngest generation is also collected less often (every GEN0 net allocations, not
    700): most of a transaction's objects are then gone before a collection could promote
    them. At exit the frozen objects are handed back, so the last collection still sees them
    (extensions report what it does not free as leaks)."""
    global _settled, _last_settle
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _last_settle = time.monotonic()
    first, *older = gc.get_threshold()
    if 0 < first < GEN0:  # never re-enables a collector the embedding process turned off
        gc.set_threshold(GEN0, *older)
    if not _settled:
        _settled = True
        atexit.register(gc.unfreeze)


def maybe_resettle(age: float | None = None) -> None:
    """Settle again if the process last did `age` (RESETTLE_S) seconds ago or never: any
    stream's reader may call it. A settle is a full collection (0.1-0.3 s with DuckDB, pyarrow
    and pandas loaded, more in a bigger process), so stream starts close together (a service
    starting 10 integrations, a replay after a failed table, a test suite) share one."""
    if not _settled or time.monotonic() - _last_settle >= (RESETTLE_S if age is None else age):
        settle_heap()


GEN0 = 10_000
RESETTLE_S = 300.0
START_RESETTLE_S = 60.0  # a stream start settles unless the process did this recently
_settled = False
_last_settle = 0.0


class Pump:
    def __init__(self, stream: ChangeStream, maxsize: int = MAXSIZE) -> None:
        self.stream = stream
        maybe_resettle(START_RESETTLE_S)
        # Unbounded itself: `_room` bounds it (lists and their rows events' bytes).
        self._q: queue.Queue[tuple[list[object], int]] = queue.Queue()
        self._maxsize = maxsize
        self._room = threading.Condition()
        self._lists = 0  # handed over and not yet taken, and their rows events' bytes
        self._bytes = 0
        self._stop = threading.Event()
        self._out: list[object] = []  # reader side: items not yet handed over
        self._out_bytes = 0  # ... and their rows events' bytes
        reader = getattr(stream, "reader", None)
        self._reader = reader
        if reader is not None:
            reader.on_wait = self._flush
        self._thread = threading.Thread(target=self._run, name="binlog-reader", daemon=True)
        self._thread.start()

    def _full(self) -> bool:
        lists = self._lists
        return lists >= self._maxsize and (lists >= MAX_LISTS or self._bytes >= QUEUE_BYTES)

    def _put(self, objs: list[object], nbytes: int) -> bool:
        with self._room:
            while self._full():
                if self._stop.is_set():
                    return False
                self._room.wait(0.2)
            if self._stop.is_set():
                return False
            self._lists += 1
            self._bytes += nbytes
        self._q.put((objs, nbytes))
        return True

    def _flush(self) -> None:
        """Reader thread: hand over what is gathered (before waiting for the source)."""
        if self._out:
            out, nbytes = self._out, self._out_bytes
            self._out, self._out_bytes = [], 0
            self._put(out, nbytes)

    def _run(self) -> None:
        try:
            for item in self.stream.items():
                out = self._out  # _flush (called inside items()) may have replaced it
                out.append(item)
                if type(item) is RowsItem:
                    self._out_bytes += item.image.nbytes
                if len(out) >= GROUP:
                    nbytes = self._out_bytes
                    self._out, self._out_bytes = [], 0
                    if not self._put(out, nbytes):
                        return
                    maybe_resettle()
            self._out.append(SourceUnavailable("binlog stream ended"))
        except BaseException as exc:  # handed to the writer thread, which decides
            self._out.append(exc)
        finally:
            self._out.append(END)
            self._flush()

    def drained(self) -> bool:
        """Writer thread: every list the reader has handed over so far was taken by `take` and
        the reader is waiting for more (the source is quiet, or slower than we are)."""
        reader = self._reader
        return reader is not None and bool(reader.waiting) and self._q.empty()

    def take(self, timeout: float) -> list[object] | None:
        """The next list of items handed over, None on timeout. Its last objects may be the
        reader's exception and `END` (see `check`): the caller goes through the list in order."""
        try:
            objs, nbytes = self._q.get(timeout=timeout) if timeout > 0 else self._q.get_nowait()
        except queue.Empty:
            return None
        with self._room:
            self._lists -= 1
            self._bytes -= nbytes
            self._room.notify()
        return objs

    @staticmethod
    def check(obj: object) -> None:
        """Raise what a non-item object of a list stands for: the reader's exception, or
        `END` (the reader stopped: every later look at it says the same)."""
        if obj is END:
            raise SourceUnavailable("binlog reader stopped")
        if isinstance(obj, BaseException):
            raise obj

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self.stream.close()
        # Drain, and wake a reader waiting for room: it notices the stop flag.
        with contextlib.suppress(queue.Empty):
            while True:
                self._q.get_nowait()
        with self._room:
            self._lists = self._bytes = 0
            self._room.notify_all()
        self._thread.join(timeout=5)
