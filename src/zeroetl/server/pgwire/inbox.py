"""Messages read ahead of the session, so that a client going away is noticed at once.

While a statement runs, the session waits for its worker thread, not for the socket; without a
reader a vanished client would be noticed only when the statement ends (a runaway query would
run to the end for nobody). The inbox reads messages as they arrive, up to a byte budget (the
reading pauses while that much waits, so a client pipelining big messages cannot fill memory),
and calls `on_gone` as soon as the connection ends: the session cancels its statement.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

from zeroetl.server.pgwire import messages as m

BUDGET = 1 << 20  # bytes of unread messages before reading pauses


class Inbox:
    def __init__(
        self, reader: asyncio.StreamReader, on_gone: Callable[[], None], budget: int = BUDGET
    ) -> None:
        self._reader = reader
        self._on_gone = on_gone
        self._budget = budget
        self._items: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._bytes = 0
        self._error: BaseException | None = None
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task = asyncio.create_task(self._pump(), name="pgwire-inbox")

    async def _pump(self) -> None:
        try:
            while True:
                await self._room.wait()
                kind, payload = await m.read_message(self._reader)
                self._items.append((kind, payload))
                self._bytes += len(payload) + 5
                if self._bytes >= self._budget:
                    self._room.clear()
                self._arrived.set()
                if kind == b"X":  # Terminate: nothing follows
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # EOF, reset, TLS error or a protocol violation
            self._error = exc
            self._arrived.set()
            self._on_gone()

    @property
    def empty(self) -> bool:
        """No message is waiting (the client may be waiting for replies)."""
        return not self._items

    async def get(self) -> tuple[bytes, bytes]:
        """The next message; raises what ended the connection once every message is read."""
        while not self._items:
            if self._error is not None:
                raise self._error
            self._arrived.clear()
            await self._arrived.wait()
        kind, payload = self._items.popleft()
        self._bytes -= len(payload) + 5
        if self._bytes < self._budget:
            self._room.set()
        return kind, payload

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
