"""Source faults while streaming: what the engine does with a `SourceFault`.

The tables a fault touches can no longer be trusted: they go to ResyncRequired inside the open
warehouse transaction, their copy waits until the source writes rows again, and lag counts from
the first change they miss until they are Synced again. The policy itself (when a fault clears,
what holds a resync) lives in `health.py`; this module ties it to the runner's state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from zeroetl.engine.health import SourceHealth
from zeroetl.model import TableId, TableState
from zeroetl.sources.base import SourceFault

if TYPE_CHECKING:
    from zeroetl.engine.context import EngineContext

_GONE = (TableState.FAILED, TableState.DELETED)  # states a fault leaves alone
_WATCH_EVERY_S = 0.2


class FaultApplier:
    def __init__(self, runner: EngineContext) -> None:
        self.r = runner
        self.health = SourceHealth(
            runner.source.check,
            interval_s=runner.settings.prereq_check_s,
            quiet_s=runner.settings.fault_quiet_s,
        )
        self._reported = ""  # the attention text last told to the progress hooks
        self._watched_at = 0.0

    def start(self) -> None:
        self.health.start()  # the prerequisite re-check runs on a thread of its own

    def stop(self) -> None:
        self.health.stop()

    def apply(self, item: SourceFault) -> None:
        """Send the tables of `item` to ResyncRequired (inside the open transaction)."""
        r = self.r
        r.ensure_txn()
        if item.tables is None:
            targets = [s.id for s in r.book.tracked() if s.state is not TableState.FAILED]
        else:
            targets = []
            for table in item.tables:
                st = r.book.get(table)
                if (st.state not in _GONE) if st is not None else r.wanted(table):
                    targets.append(table)
        # Recorded first: a reader that sees a table ResyncRequired must also see the lag it
        # implies (the prerequisite re-check may already have raised attention on its own).
        self.health.record(item, targets)
        for table in targets:
            r.discard(table)  # what was gathered of it is moot: it is re-copied
            r.book.require_resync(table, item.reason, r.position)
        r.touch()

    def watch(self) -> None:
        """Between items: let faults clear once the source is fixed; report what changed."""
        now = time.monotonic()
        if now - self._watched_at < _WATCH_EVERY_S:
            return
        self._watched_at = now
        self.health.update()
        text = self.health.attention()
        if text != self._reported:
            self._reported = text
            self.r.progress.message(f"source needs attention: {text}" if text else "source is fine")

    def held(self, table: TableId) -> bool:
        return self.health.held(table)

    def lag_ms(self, applied_lag_ms: float | None) -> float | None:
        """The lag of the last applied change, or, while tables miss changes because of a
        fault, the age of the oldest change they miss if that is more."""
        since = self.health.stale_since(self._current)
        if since is None:
            return applied_lag_ms
        return max(applied_lag_ms or 0.0, (time.time() - since) * 1000.0)

    def _current(self, table: TableId) -> bool:
        st = self.r.book.status.get(table)
        return st is None or st.state in (TableState.SYNCED, *_GONE)  # Failed says so itself
