"""The state one integration's engine shares between its parts, and the few moves they share.

The runner (runner.py) owns the loop; the snapshot phase (snapshot_phase.py), schema changes
(ddl_apply.py) and binlog faults (fault_apply.py) act on this state through the methods here,
never through the runner: each of them imports this module, and none imports the runner.

Everything here runs on the engine's (writer's) thread, except where a method says otherwise.
"""

from __future__ import annotations

import logging
import threading
import time

from zeroetl.destinations.base import Destination
from zeroetl.engine.copier import Copier
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.engine.tables import TableBook
from zeroetl.model import Position, TableId
from zeroetl.sources.base import ChangeStream, Source

log = logging.getLogger("zeroetl.engine.runner")


class EngineContext:
    def __init__(
        self,
        source: Source,
        dest: Destination,
        *,
        integration_id: str,
        data_filter: DataFilter,
        settings: EngineSettings | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.dest = dest
        self.integration_id = integration_id
        self.filter = data_filter
        self.settings = settings or EngineSettings()
        self.progress = progress or Progress()
        self.book = TableBook(dest, self.progress)
        self.copier = Copier(source, dest, self.book, self.settings, self.progress)
        self.stop_event = threading.Event()
        self.position: Position | None = None  # last source commit seen (applied or pending)
        self.committed: Position | None = None  # last checkpoint committed to the warehouse
        self.stream: ChangeStream | None = None  # while streaming
        self.txn_open = False  # a warehouse transaction is open
        self.pending_since = 0.0  # monotonic time of the oldest uncommitted change
        self.pending_changes = 0
        self.in_txn = False  # inside a source transaction (rows seen, commit not yet)
        self.activity: dict[TableId, list[int]] = {}  # inserted, updated, deleted, bytes
        self.phase = "starting"  # snapshot | streaming | reconnecting | stopped
        self.last_error = ""  # the latest recoverable error, for operators ("" once recovered)

    def wanted(self, table: TableId) -> bool:
        return self.filter.includes(table)

    def ensure_txn(self) -> None:
        if not self.txn_open:
            self.dest.begin()
            self.txn_open = True

    def touch(self, n: int = 0) -> None:
        """`n` more changes (at least one) wait for the next commit."""
        if not self.pending_changes:
            self.pending_since = time.monotonic()
        self.pending_changes += max(n, 1)

    def discard(self, table: TableId) -> None:
        """What the open batch holds of `table` is moot (it is copied again, dropped, failed)."""
        if self.stream is not None:
            self.stream.discard(table)

    def reload_book(self) -> TableBook:
        """Statuses changed in memory since the last commit are gone: read them again."""
        self.book = self.copier.book = TableBook(self.dest, self.progress)
        return self.book

    def rollback_open(self) -> None:
        """Roll back the open warehouse transaction, if any."""
        if self.txn_open or self.dest.in_transaction:
            self.dest.rollback()
        self.txn_open = False

    def abandon_open_batch(self) -> None:
        """Forget everything since the last commit: the stream restarts from the checkpoint."""
        self.rollback_open()
        self.copier.close()  # its source connections may be dead
        self.source.close()
        if self.stream is not None:
            self.stream.seal()  # drop the gathered rows
        self.pending_changes = 0
        self.in_txn = False
        self.activity = {}
        self.reload_book()
        self.position = self.committed

    def wait_after(self, exc: Exception, backoff: float) -> float:
        """Roll back what is open, wait `backoff` (or until stopped); return the next one."""
        self.abandon_open_batch()
        self.phase, self.last_error = "reconnecting", str(exc)
        log.warning("source unavailable (%s); reconnecting in %.1fs", exc, backoff)
        self.progress.message(f"source unavailable, retrying in {backoff:.1f}s")
        self.stop_event.wait(backoff)
        return min(backoff * 2, self.settings.reconnect_max_s)
