"""A session's worker thread (pgwire/worker.py): work runs in order on its one thread, answers
and errors reach whoever waits, an abandoned wait does not stop the thread, shutdown ends it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from zeroetl.server.pgwire.worker import SessionWorker


def test_runs_in_order_on_its_own_thread_and_hands_back_errors() -> None:
    w = SessionWorker("test-worker")
    seen: list[int] = []

    def note(i: int) -> str:
        seen.append(i)
        return threading.current_thread().name

    def boom() -> None:
        raise ValueError("bad statement")

    async def main() -> None:
        background = w.submit(note, 0)  # fire and forget, then awaited work after it
        assert await w.run(note, 1) == "test-worker"
        assert background.result(5) == "test-worker"
        with pytest.raises(ValueError, match="bad statement"):
            await w.run(boom)
        failed = w.submit(boom)
        assert isinstance(failed.exception(5), ValueError)
        # a waiter that goes away (its connection ended): the thread goes on
        waiter = asyncio.ensure_future(w.run(note, 2))
        await asyncio.sleep(0)
        waiter.cancel()
        assert await w.run(note, 3) == "test-worker"

    try:
        asyncio.run(main())
        assert seen == [0, 1, 2, 3]
    finally:
        w.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        w.submit(note, 4)


def test_shutdown_lets_work_handed_over_finish() -> None:
    w = SessionWorker("test-worker")
    done = w.submit(lambda: "closed")
    w.shutdown(wait=True)
    assert done.result(0) == "closed"
