"""Commit pacing: the least time between two data commits a destination asks for.

DuckDB wants a commit as soon as the stream is quiet (lowest lag). ClickHouse writes each
insert as a new part per table, and a server answers many small inserts per second with
"Too many parts": its guidance is about one insert per second per table. A destination says so
with `Capabilities.min_commit_interval_s`; the runner (runner.py) keeps gathering changes,
at source transaction boundaries, until that much time has passed since its last data commit,
so under load the batches grow instead of the commit rate.

What still commits at once, whatever the interval:
- `batch_rows` pending changes: the memory bound wins (a batch that large is one big insert per
  table, what ClickHouse wants anyway; the insert rate stays below rows/s divided by it);
- a schema change on a destination without transactional DDL (its commit must follow it);
- `until_caught_up` once the target position is read (a one-off run ends at once);
- a stop at a transaction boundary (what is gathered is committed, not read again).

Lag stays honest: changes waiting for the interval count in the lag from the moment they were
read (`waiting_ms`), not only once committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """When the next data commit may happen. `clock`: monotonic seconds (a test injects one)."""

    def __init__(self, min_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if min_interval_s < 0:
            raise ValueError("min_interval_s must not be negative")
        self.interval = min_interval_s
        self.clock = clock
        self.last_commit: float | None = None  # clock time of the last data commit
        self.commits = 0  # data commits so far (tests and benchmarks count them)

    @property
    def active(self) -> bool:
        return self.interval > 0

    def remaining(self) -> float:
        """Seconds until a data commit is allowed (0: now)."""
        if not self.interval or self.last_commit is None:
            return 0.0
        return max(0.0, self.last_commit + self.interval - self.clock())

    def due(self) -> bool:
        return self.remaining() <= 0.0

    def committed(self, changes: int) -> None:
        """A commit happened; one that carried changes starts the next interval."""
        if changes:
            self.last_commit = self.clock()
            self.commits += 1

    def waiting_ms(self, pending_changes: int, pending_since: float) -> float:
        """How long the oldest pending change has waited since it was read (0: none pending).
        `pending_since` is on this pacer's clock."""
        if not pending_changes:
            return 0.0
        return max(0.0, (self.clock() - pending_since) * 1000.0)
