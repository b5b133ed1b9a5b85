"""Bounds on what one SQL session may consume: time, memory and a share of the running slots.

- `statement_timeout` works as in PostgreSQL (`SET statement_timeout = '1s' | 1000 | 0`); the
  service may give a default and a maximum that no session can raise.
- Memory: each session's cursor gets DuckDB's per-connection `operator_memory_limit` (sorts, hash
  tables and other intermediates spill to the warehouse's temp directory beyond it).
- Admission: at most `max_running` statements run at once across all sessions; the others wait
  (the wait counts against their timeout). One session holds at most one slot, so no session can
  starve the others, and replication always has CPU and memory left.
- Memory that cannot spill is watched by the memory guard (memguard.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .deadlines import DEADLINES
from .errors import SqlError

MAX_TIMEOUT_MS = 2_147_483_647  # PostgreSQL's range for statement_timeout
_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_TIMEOUT = re.compile(r"^\s*(-?\d+(?:\.\d*)?|-?\.\d+)\s*([a-z]*)\s*$", re.I)


@dataclass(frozen=True)
class SessionLimits:
    statement_timeout_ms: int = 0  # a new session's statement_timeout (0: none)
    max_statement_timeout_ms: int = 0  # no statement runs longer, whatever SET says (0: none)
    memory: str | None = None  # DuckDB operator_memory_limit of each session, e.g. "1GiB"
    max_running: int = 0  # statements running at once over all sessions (0: no limit)


def parse_timeout(value: str) -> int:
    """A statement_timeout value in milliseconds: `1000`, `'1s'`, `'1.5 min'`, `'0'`."""
    m = _TIMEOUT.match(value.strip().strip("'\""))
    unit = (m.group(2).lower() if m else "") or "ms"
    if not m or unit not in _UNITS_MS:
        raise SqlError(
            "22023",
            f'invalid value for parameter "statement_timeout": "{value}"',
            hint='Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".',
        )
    ms = round(float(m.group(1)) * _UNITS_MS[unit])
    if not 0 <= ms <= MAX_TIMEOUT_MS:
        raise SqlError(
            "22023",
            f'{value} ms is outside the valid range for parameter "statement_timeout"'
            f" (0 .. {MAX_TIMEOUT_MS})",
        )
    return ms


def format_timeout(ms: int) -> str:
    """PostgreSQL's SHOW form: 0, 1500ms, 2s, 5min, 1h, 1d."""
    if ms == 0:
        return "0"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def effective_timeout_ms(session_ms: int, max_ms: int) -> int:
    """The session's value, capped by the service's maximum (0 means none for either)."""
    if max_ms and (not session_ms or session_ms > max_ms):
        return max_ms
    return session_ms


class Admission:
    """Running slots shared by every session of an endpoint."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._sem = threading.BoundedSemaphore(slots) if slots > 0 else None

    def acquire(self, stopped: Callable[[], bool], poll_s: float = 0.05) -> bool:
        """Wait for a slot; False when `stopped()` became true first (cancel, timeout)."""
        if self._sem is None:
            return True
        while not self._sem.acquire(timeout=poll_s):
            if stopped():
                return False
        if stopped():
            self._sem.release()
            return False
        return True

    def try_acquire(self) -> bool:
        """A slot if one is free now (never waits)."""
        return self._sem is None or self._sem.acquire(blocking=False)

    def release(self) -> None:
        if self._sem is not None:
            self._sem.release()


class StatementRun:
    """One statement's deadline and slot, ended exactly once whatever ends the statement."""

    def __init__(self, timeout_ms: int, on_timeout: Callable[[StatementRun], None]) -> None:
        self._lock = threading.Lock()
        self._admission: Admission | None = None
        self._timeout_ms = timeout_ms
        self._on_timeout = on_timeout
        self._timer: int | None = None  # its deadline's handle (deadlines.py)
        self.done = False
        self.started = time.monotonic()

    def arm(self) -> StatementRun:
        """Start the clock (once the owner can recognise this run in the callback)."""
        if self._timeout_ms > 0:
            with self._lock:
                if not self.done:
                    self._timer = DEADLINES.add(
                        self._timeout_ms / 1000, lambda: self._on_timeout(self)
                    )
        return self

    def admitted(self, admission: Admission) -> None:
        with self._lock:
            if self.done:
                admission.release()
            else:
                self._admission = admission

    def finish(self) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
            timer, admission = self._timer, self._admission
            self._timer = self._admission = None
        if timer is not None:
            DEADLINES.cancel(timer)
        if admission is not None:
            admission.release()
