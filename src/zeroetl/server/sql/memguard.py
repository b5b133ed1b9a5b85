"""The memory guard: replication keeps its share of the hub's memory, whatever SQL runs.

Every session's sorts, joins and aggregates are bounded (DuckDB's per-connection
`operator_memory_limit`) and spill to disk, but some memory cannot spill: `list()` or
`string_agg()` states, big values being built. DuckDB's memory limit is one for the whole hub,
replication included, so a query that takes it all would make the writers fail to allocate.

The guard polls the hub's memory in use (every 0.1 s). Above 80% of the limit it cancels the SQL
statement that has been running longest (53200; memory hogs run long, a query that just started
is rarely the culprit), then gives it a moment to unwind and free its memory before choosing
another. Above 95% it cancels every running statement at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import duckdb

log = logging.getLogger("zeroetl.sql")


class Cancellable(Protocol):
    @property
    def running_since(self) -> float | None:
        """time.monotonic() when the running statement started; None when idle."""
        ...

    def cancel(self, reason: str = "user") -> None: ...


class MemoryGuard:
    def __init__(
        self,
        cursor: Callable[[], duckdb.DuckDBPyConnection],
        limit_bytes: int,
        sessions: Callable[[], Iterable[Cancellable]],
        *,
        share: float = 0.8,
        panic_share: float = 0.95,
        every_s: float = 0.1,
        grace_s: float = 1.0,
    ) -> None:
        self._cursor = cursor
        self.threshold = int(limit_bytes * share)
        self.panic = int(limit_bytes * panic_share)
        self._sessions = sessions
        self._every_s = every_s
        self._grace_s = grace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sql-memory-guard", daemon=True)
        self._unwinding: dict[int, tuple[Cancellable, float]] = {}  # cancelled, still running
        self.cancelled = 0  # statements cancelled so far

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    @staticmethod
    def used(con: duckdb.DuckDBPyConnection) -> int:
        rows = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        return int(rows[0][0] or 0) if rows else 0

    def check(self, used: int, now: float) -> list[Cancellable]:
        """The statements to cancel at `used` bytes in use (and remember them)."""
        running = [(s.running_since, s) for s in list(self._sessions())]
        running_now = {id(s): (since, s) for since, s in running if since is not None}
        self._unwinding = {
            k: v
            for k, v in self._unwinding.items()
            if k in running_now and now - v[1] < self._grace_s
        }
        if used <= self.threshold or not running_now:
            return []
        candidates = [
            (since, s) for k, (since, s) in running_now.items() if k not in self._unwinding
        ]
        if used > self.panic:
            chosen = [s for _, s in candidates]
        elif self._unwinding or not candidates:
            return []  # the last one cancelled is still freeing its memory
        else:
            chosen = [min(candidates, key=lambda c: c[0])[1]]
        for s in chosen:
            self._unwinding[id(s)] = (s, now)
        return chosen

    def _watch(self) -> None:
        try:
            con = self._cursor()
        except duckdb.Error:
            return
        try:
            while not self._stop.wait(self._every_s):
                try:
                    used = self.used(con)
                except duckdb.Error:
                    return  # the hub is closing
                chosen = self.check(used, time.monotonic())
                for s in chosen:
                    s.cancel("memory")
                if chosen:
                    self.cancelled += len(chosen)
                    log.warning(
                        "hub memory %d MiB above %d MiB: cancelled %d SQL statement(s)",
                        used >> 20,
                        self.threshold >> 20,
                        len(chosen),
                    )
        finally:
            con.close()
