"""Materialized views with AUTO REFRESH YES, refreshed after replication changed their inputs.

The refresher is a thread of the service that watches each target database from the outside:
every `interval_s` it reads the replication checkpoint of every target database (one row each);
when one moved, it compares the change marks of the inputs of the views over that database
(mviews.input_version: the newest applied change per table in `_zeroetl.table_activity`, and
the newest state or schema change in `_zeroetl.tables`) with the marks recorded at their last
refresh. A view whose inputs changed is marked stale (`svv_mv_info.is_stale`) and, with AUTO
REFRESH YES, rebuilt (mviews.refresh: one transaction in dev, readers see the old or the new
contents, a failure keeps the old ones and records why).

It never gets in replication's way: it only reads the target databases (its own cursor on the
hub, a reader like any SQL statement: service/readgate.py) and writes dev, another file. A
refresh takes one of the SQL endpoint's running slots (limits.py) like a statement, is
interrupted after `timeout_s`, and a view is refreshed at most once per `min_gap_s`; one that
failed waits longer and longer (up to `max_backoff_s`) before the next attempt.

Looking costs nothing while nothing can have changed: a target database whose data version
(dataversions.py: moved by every commit of its writer in this process) is the one last seen is
not read at all, and while the workspace holds no materialized view (none at the last look, and
no statement has changed any catalog since: every such statement moves the global version) the
view list is not read either. Ten integrations with sources committing ten times a second made
the refresher read eleven DuckDB tables twice a second for no view at all.

It also keeps dev's WAL bounded: a refresh rewrites a whole table, so once dev's WAL passes
`wal_limit_bytes` the refresher checkpoints dev between two refreshes (target databases are kept
bounded by their writers: destinations/duckdb/upkeep.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from zeroetl import dataversions
from zeroetl.server.sql import mviews
from zeroetl.server.sql.limits import Admission
from zeroetl.service.readgate import ReadGate
from zeroetl.sqltext import ident

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefresherSettings:
    interval_s: float = 0.5  # how often the checkpoints are looked at
    min_gap_s: float = 1.0  # a view is rebuilt at most this often
    timeout_s: float = 600.0  # a refresh running longer is interrupted (and retried later)
    max_backoff_s: float = 300.0  # the longest wait after repeated failures
    wal_limit_bytes: int = 64 << 20  # dev is checkpointed once its WAL is larger


class MvRefresher:
    def __init__(
        self,
        cursor: Callable[[], duckdb.DuckDBPyConnection],
        databases: Callable[[], list[str]],
        read_gate: ReadGate,
        admission: Callable[[], Admission | None],
        settings: RefresherSettings | None = None,
        workspace_wal: Path | None = None,
    ) -> None:
        self._wal = workspace_wal
        self._cursor = cursor
        self._databases = databases
        self._gate = read_gate
        self._admission = admission
        self.settings = settings or RefresherSettings()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mv-refresher", daemon=True)
        self._marks: dict[str, object] = {}  # database -> its checkpoint when last looked at
        self._versions: dict[str, tuple[int, int]] = {}  # database -> its data version then
        self._no_views_at: tuple[int, int] | None = None  # dev's version when it had no view
        self._next_try: dict[tuple[str, str], float] = {}  # (schema, name) -> monotonic time
        self._failures: dict[tuple[str, str], int] = {}
        self._pending: set[tuple[str, str]] = set()  # changed, refresh not done yet
        self.refreshes = 0  # done by this refresher (for tests and logs)
        self._cur: duckdb.DuckDBPyConnection | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        cur = self._cur
        if cur is not None:
            with suppress(duckdb.Error):
                cur.interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.interval_s):
            try:
                self.tick()
            except duckdb.Error as e:  # e.g. the hub closing under us at shutdown
                if not self._stop.is_set():
                    log.warning("materialized view refresher: %s", e)
            except Exception:  # never let one bad view stop the thread
                log.exception("materialized view refresher")

    def tick(self) -> int:
        """One look at the checkpoints; returns how many views were refreshed."""
        cur = self._cursor()
        self._cur = cur
        try:
            cur.execute("SET TimeZone = 'UTC'")  # as SQL sessions run (session.py)
            cur.execute("SET integer_division = true")
            self._bound_wal(cur)
            with self._gate.reading():
                moved = self._moved(cur)
                if not moved and not self._pending:
                    return 0
                version = dataversions.meta(mviews.ws.WORKSPACE)  # before the read
                if version == self._no_views_at:
                    return 0
                every = mviews.all_views(cur)
                self._no_views_at = None if every else version
                self._pending &= {(v.schema, v.name) for v in every}  # dropped meanwhile
                views = [
                    v for v in every if _databases(v) & moved or (v.schema, v.name) in self._pending
                ]
            done = 0
            for mv in views:
                if self._stop.is_set():
                    break
                done += self._consider(cur, mv)
            return done
        finally:
            self._cur = None
            with suppress(duckdb.Error):
                cur.close()

    def _bound_wal(self, cur: duckdb.DuckDBPyConnection) -> None:
        try:
            size = self._wal.stat().st_size if self._wal is not None else 0
        except OSError:
            return
        if size > self.settings.wal_limit_bytes:
            try:
                cur.execute(f"CHECKPOINT {ident(mviews.ws.WORKSPACE)}")
                log.info("workspace dev checkpointed (its WAL held %d MiB)", size >> 20)
            except duckdb.Error as e:  # a writer in dev right now: next time
                log.debug("workspace checkpoint postponed: %s", e)

    def _moved(self, cur: duckdb.DuckDBPyConnection) -> set[str]:
        """Target databases whose checkpoint changed since the last look."""
        moved: set[str] = set()
        for db in self._databases():
            version = dataversions.meta(db)  # before the read: a commit meanwhile moves it
            if self._versions.get(db) == version:
                continue  # nothing committed there since the last look
            try:
                row = cur.execute(
                    f"SELECT max(updated_at), count(*) FROM {ident(db)}._zeroetl.checkpoint"
                ).fetchone()
            except duckdb.Error:
                continue  # not attached yet, or no metadata yet
            self._versions[db] = version
            if row != self._marks.get(db):
                self._marks[db] = row
                moved.add(db)
        return moved

    def _consider(self, cur: duckdb.DuckDBPyConnection, mv: mviews.MView) -> int:
        key = (mv.schema, mv.name)
        with self._gate.reading():
            version = mviews.input_version(cur, mv.inputs)
            if version == mv.input_version and key not in self._pending:
                return 0
            if version != mv.input_version and mv.stale_since is None:
                mviews.mark_stale(cur, mv)
        if not mv.autorefresh:
            return 0
        self._pending.add(key)  # looked at again every tick until refreshed
        if time.monotonic() < self._next_try.get(key, 0.0):
            return 0
        return self._refresh(cur, mv)

    def _refresh(self, cur: duckdb.DuckDBPyConnection, mv: mviews.MView) -> int:
        key = (mv.schema, mv.name)
        admission = self._admission()
        if admission is not None and not admission.acquire(self._stop.is_set):
            return 0
        timer = threading.Timer(self.settings.timeout_s, lambda: _interrupt(cur))
        timer.daemon = True
        started = time.monotonic()
        try:
            with self._gate.reading():
                cur.execute("SET search_path = ?", [mv.search_path])
                timer.start()
                mviews.refresh(cur, mv)
        except duckdb.Error as e:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            wait = min(self.settings.max_backoff_s, self.settings.min_gap_s * 2**failures)
            self._next_try[key] = time.monotonic() + wait
            log.warning(
                "materialized view %s.%s: refresh failed (%s); previous contents kept, next try in"
                " %.0f s",
                mv.schema,
                mv.name,
                str(e).splitlines()[0][:300],
                wait,
            )
            return 0
        finally:
            timer.cancel()
            if admission is not None:
                admission.release()
        self._failures.pop(key, None)
        self._pending.discard(key)
        self._next_try[key] = time.monotonic() + self.settings.min_gap_s
        self.refreshes += 1
        log.info(
            "materialized view %s.%s refreshed in %.2f s", mv.schema, mv.name,
            time.monotonic() - started,
        )  # fmt: skip
        return 1


def _databases(mv: mviews.MView) -> set[str]:
    return {mviews.split(k)[0] for k in mv.inputs}


def _interrupt(cur: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.Error):
        cur.interrupt()
