"""A session's worker thread, handed work with the cheapest primitives there are.

Every statement of a session that needs DuckDB runs on that session's own thread (a DuckDB
cursor is only ever used from one thread, and a slow query never blocks the event loop). A
`ThreadPoolExecutor` with `run_in_executor` made each trip cost a concurrent Future, an asyncio
Future chained to it (two callbacks, a lock and `call_soon_threadsafe`), the pool's idle
semaphore and thread-count check: ~25-30 us of Python per trip on this kind of machine, for a
`select 1` whose DuckDB part is ~140 us. Here a trip is one `SimpleQueue.put` (C) to wake the
thread and one `call_soon_threadsafe` to wake the loop with the answer.

The interface is the part of ThreadPoolExecutor the wire uses: `submit` (fire and forget, a
concurrent Future), `shutdown`, plus `run` (awaitable). Work runs in order, one item at a time.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Done = Callable[[Any, BaseException | None], object]


def _settle(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if fut.cancelled():  # the awaiting task went away (its connection ended)
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class SessionWorker:
    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], _Done] | None]
        self._queue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name)
        self._thread.start()

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args, done = item
            try:
                value = fn(*args)
            except BaseException as exc:  # handed to whoever waits, as an executor would
                done(None, exc)
            else:
                done(value, None)
            del item, fn, args, done  # nothing of a finished statement kept alive meanwhile

    def _put(self, fn: Callable[..., Any], args: tuple[Any, ...], done: _Done) -> None:
        if self._closed:
            raise RuntimeError("the session's worker has been shut down")
        self._queue.put((fn, args, done))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._put(fn, args, lambda v, e: loop.call_soon_threadsafe(_settle, fut, v, e))
        return await fut

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        out: Future[T] = Future()

        def done(value: Any, error: BaseException | None) -> None:
            if error is not None:
                out.set_exception(error)
            else:
                out.set_result(value)

        self._put(fn, args, done)
        return out

    def shutdown(self, wait: bool = True) -> None:
        """Work already handed over still runs, then the thread ends."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        if wait:
            self._thread.join()
