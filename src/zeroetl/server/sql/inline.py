"""Answering a statement on the wire's event loop, without a trip to the session's worker.

A repeat answered from the result cache (resultcache.py) needs no DuckDB: its translation is
replayed from plancache.py (the sandbox's findings ruled on again against the grants of the
moment, the table states checked), its ticket compared with the current table versions, and its
kept batches handed out. All of that is in memory, so the wire can run it on its event loop and
skip the worker thread's two hand-offs, which cost more than the work itself.

The session runs its ordinary `execute` for that (every per-statement check is the same code),
in a mode where anything that would block the event loop stops the attempt instead: DuckDB (the
session's cursor is swapped for `NO_DUCKDB`, whose every use raises `NeedsWorker`), a running
slot or the read gate that is not free at once, a new cursor for a changed database list, a
statement naming a database (ClickHouse routing may open a connection). The wire then runs the
statement on the worker as before, from the start: the attempt had no effect that matters (the
statement's run is finished like any other that fails).
"""

from __future__ import annotations

from typing import Any


class NeedsWorker(BaseException):
    """The statement cannot be answered on the event loop (module doc). A BaseException, so
    that no `except Exception` on the way turns it into the statement's error."""


class _NoDuckDB:
    """Stands in for the session's cursor during an attempt: every use needs the worker."""

    def interrupt(self) -> None:  # a cancel or timeout meanwhile: nothing runs in DuckDB
        pass

    def __getattr__(self, name: str) -> Any:
        raise NeedsWorker(name)


NO_DUCKDB: Any = _NoDuckDB()
