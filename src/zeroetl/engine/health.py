"""Is the source still logging what replication needs? Binlog faults and prerequisite re-checks.

Two signals, one verdict for operators:
- faults the stream reports (a wanted table's changes logged as statements, partial row images,
  TABLE_MAPs without names, partial JSON, compressed transactions, incidents): seen within the
  event that carries them;
- a re-check of every prerequisite of `zeroetl source check` on a thread of its own, every
  `interval_s` (a minute by default) and at once after a fault: one short connection and a few
  SHOW statements, never on the apply path.

Policy (docs/architecture.md, "Faults"): the tables a fault touches go to ResyncRequired at once
(the runner does that). Their resync is *held* until the source writes rows again, i.e. until
(a) no fault of that kind was seen for `quiet_s`, and (b) a check taken after the last one
passes the setting that fixes it. While any row-logging prerequisite fails, no resync starts at
all: a copy taken then would be stale again at the next statement. A fault that comes back
during a copy sends the table back to ResyncRequired, so a forgotten session costs a retry,
never data. Until the re-copied tables are Synced, lag counts from the first change the
warehouse lacks instead of claiming to be current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from zeroetl.model import TableId
from zeroetl.sources.base import Check, CheckReport, FaultKind, SourceFault

log = logging.getLogger(__name__)

# Prerequisites without which changes stop reaching the binlog as full row events.
ROW_LOGGING = frozenset(
    {
        "log_bin",
        "binlog_format",
        "binlog_row_image",
        "binlog_row_metadata",
        "binlog_row_value_options",
        "binlog_transaction_compression",
    }
)


@dataclass
class _Fault:
    kind: FaultKind
    what: str  # the first occurrence: what was seen, and where
    first_seen: float  # monotonic
    last_seen: float
    tables: set[TableId] = field(default_factory=set)


class SourceHealth:
    """Thread-safe: the runner records faults and asks about holds; the watcher thread stores
    check results; any thread reads `attention()` and `stale_since()`."""

    def __init__(
        self,
        check: Callable[[], CheckReport] | None,
        *,
        interval_s: float = 60.0,
        quiet_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self.interval_s = interval_s
        self.quiet_s = quiet_s
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, _Fault] = {}
        self._stale: dict[TableId, float] = {}  # epoch time of the first change not applied
        self._failing: list[Check] = []  # failing checks of the latest complete check
        self._checked_at: float | None = None  # monotonic time the latest check started
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def watching(self) -> bool:
        return self._check is not None and self.interval_s > 0

    # -- the watcher thread ----------------------------------------------------------------
    def start(self) -> None:
        if self.watching and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="source-check", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a check blocked on a dead source is left behind

    def poke(self) -> None:
        """Re-check now rather than at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.check_now()
            self._wake.wait(self.interval_s)

    def check_now(self) -> None:
        """Run the prerequisite checks once and keep the result (an unreachable source keeps the
        previous one: connection trouble is the stream's business)."""
        if self._check is None:
            return
        started = self._clock()
        try:
            report = self._check()
        except Exception as exc:  # never let a check kill the watcher
            log.warning("source prerequisite check failed to run: %s", exc)
            return
        if not report.checks or not report.checks[0].ok:  # did not connect
            return
        failing = [c for c in report.checks if not c.ok]
        with self._lock:
            if [(c.name, c.actual) for c in failing] != [(c.name, c.actual) for c in self._failing]:
                for c in failing:
                    log.warning(
                        "source prerequisite %s fails: %s; fix: %s", c.name, c.actual, c.fix
                    )
                if not failing and self._failing:
                    log.info("source prerequisites pass again")
            self._failing = failing
            self._checked_at = started

    # -- faults ----------------------------------------------------------------------------
    def record(self, item: SourceFault, tables: Iterable[TableId]) -> None:
        """A fault seen in the stream; `tables` are the tracked tables it makes stale."""
        now = self._clock()
        with self._lock:
            f = self._faults.get(item.kind.name)
            new = f is None
            if f is None:
                f = self._faults[item.kind.name] = _Fault(item.kind, item.what, now, now)
                log.warning("%s", item.reason)
            f.last_seen = now  # `what` stays the first one: a stable reason, where it began
            for t in tables:
                f.tables.add(t)
                since = self._stale.get(t)
                if since is None or item.timestamp < since:
                    self._stale[t] = float(item.timestamp)
        if new:
            self.poke()  # show the setting as it is now (once: faults may come by thousands)

    def update(self) -> list[str]:
        """Clear the faults whose source now writes rows again; returns their kinds."""
        now = self._clock()
        cleared: list[str] = []
        recheck = False
        with self._lock:
            for name, f in list(self._faults.items()):
                if now - f.last_seen < self.quiet_s:
                    continue
                if self.watching:
                    if self._checked_at is None or self._checked_at < f.last_seen:
                        recheck = True  # is it fixed? ask the source before letting go
                        continue
                    if f.kind.setting and any(c.name == f.kind.setting for c in self._failing):
                        continue
                del self._faults[name]
                cleared.append(name)
                log.info("source writes rows again (%s): resyncs may start", name)
        if recheck:
            self.poke()
        return cleared

    def held(self, table: TableId) -> bool:
        """Whether a resync of `table` must wait (see the policy above)."""
        with self._lock:
            if any(c.name in ROW_LOGGING for c in self._failing):
                return True
            return any(table in f.tables for f in self._faults.values())

    def stale_since(self, current: Callable[[TableId], bool]) -> float | None:
        """Epoch time of the oldest change some table still lacks because of a fault, or None.
        Tables for which `current` says yes (Synced again, or gone) are forgotten."""
        with self._lock:
            for t in [t for t in self._stale if current(t) and not self._held_by_fault(t)]:
                del self._stale[t]
            return min(self._stale.values(), default=None)

    def _held_by_fault(self, table: TableId) -> bool:
        return any(table in f.tables for f in self._faults.values())

    def attention(self) -> str:
        """Why the integration needs attention, with the fix; "" when all is well."""
        with self._lock:
            failing = {c.name: c for c in self._failing}
            parts: list[str] = []
            shown: set[str] = set()
            for f in self._faults.values():
                parts.append(self._describe(f, failing))
                shown.add(f.kind.setting)
            held = set().union(*(f.tables for f in self._faults.values()))
            if held:
                parts.append(
                    f"{len(held)} table(s) wait for a resync until the source writes rows again"
                )
            for name, c in failing.items():
                if name not in shown:
                    fix = f"; fix: {c.fix}" if c.fix else ""
                    parts.append(f"source prerequisite {name} fails: {c.actual}{fix}")
            return " | ".join(parts)

    def _describe(self, f: _Fault, failing: dict[str, Check]) -> str:
        kind = f.kind
        if not kind.setting:
            return f"{f.what}; {kind.fix}"
        bad = failing.get(kind.setting)
        if bad is not None:
            value = bad.actual.split("=", 1)[-1]
            return f"{f.what}: {kind.setting} is {value} on the source; {kind.fix}"
        if self._checked_at is not None and self._checked_at >= f.first_seen:
            return (
                f"{f.what}: {kind.need}, and the global {kind.setting} is right, so a session "
                f"still uses another value (one opened before the change, or one that ran SET "
                f"SESSION {kind.setting}); reconnect or fix those sessions"
            )
        return f"{f.what}: {kind.need}; {kind.fix}"
