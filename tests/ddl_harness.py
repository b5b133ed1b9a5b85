"""Schema changes end to end: a source database (or several), a warehouse, and the ways DDL
reaches it, with a value-by-value comparison of every replicated table at the end.

Modes:
- `streaming`: a Replicator runs in a thread while the scenario runs; `sync()` waits until it
  has read everything written so far, so DDL lands between live batches.
- `downtime`: the scenario runs while nothing replicates; the next start replays it.
- `replay`: `downtime`, then the checkpoint is moved back to where the scenario started and
  the whole scenario is replayed onto a warehouse that already holds its outcome, every table
  being a copy read after the checkpoint (what a restart's reconciliation or a resync leaves,
  for every table at once): DDL meets names already taken, tables and columns already gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import pymysql

from tests.support import assert_table_equal, open_duck
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import Position, TableId, TableState
from zeroetl.sandbox.mariadb import MariaDBServer
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.discovery import list_tables
from zeroetl.sources.mysql.source import MySqlSource

MODES = ("streaming", "downtime", "replay")
WAIT_S = 120.0  # a guard against hangs, not a performance bound


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class Harness:
    def __init__(
        self,
        mariadb: MariaDBServer,
        source_url: str,
        wh: Path,
        dbs: list[str],
        *,
        mode: str,
        data_filter: str | None = None,
        **settings: object,
    ) -> None:
        assert mode in MODES, mode
        self.mariadb = mariadb
        self.source_url = source_url
        self.wh = wh
        self.dbs = dbs
        self.mode = mode
        self.filter_text = data_filter or "exclude: *.*, " + ", ".join(
            f"include: {q(db)}.*" for db in dbs
        )
        self.filter = DataFilter.parse(self.filter_text)
        self.settings = {"heartbeat_s": 0.2, "batch_ms": 20, **settings}
        self.conn = mariadb.root(dbs[0])
        self.next_id = 1
        self._rep: Replicator | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._start_pos: Position | None = None
        self._started_at = datetime.now(UTC)

    # -- the source ---------------------------------------------------------------------------
    def sql(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for s in statements:
                try:
                    cur.execute(s)
                except pymysql.err.MySQLError as exc:
                    raise AssertionError(f"source statement failed: {s!r}: {exc}") from exc

    def table(self, name: str, rows: int = 5, extra: str = "") -> None:
        """CREATE TABLE name (id INT PRIMARY KEY, v VARCHAR(40) [, extra]) with `rows` rows."""
        cols = f"id INT PRIMARY KEY, v VARCHAR(40){', ' + extra if extra else ''}"
        self.sql(f"CREATE TABLE {name} ({cols})")
        self.insert(name, rows)

    def insert(self, table: str, n: int = 3) -> None:
        if n <= 0:
            return
        values = []
        for _ in range(n):
            values.append(f"({self.next_id}, 'v{self.next_id}')")
            self.next_id += 1
        self.sql(f"INSERT INTO {table} (id, v) VALUES {', '.join(values)}")

    def writes(self, table: str, v: str = "v") -> None:
        """Inserts, an update and a delete on a table keyed by `id` with a text column `v`."""
        self.insert(table, 3)
        k = self.next_id % 3
        self.sql(
            f"UPDATE {table} SET {q(v)} = CONCAT(IFNULL({q(v)}, ''), '+') WHERE id % 3 = {k}",
            f"DELETE FROM {table} WHERE id % 7 = {self.next_id % 7}",
        )

    # -- the replicator -------------------------------------------------------------------------
    def _replicator(self, *, until_caught_up: bool) -> tuple[Replicator, object]:
        dest, iid = open_integration(self.wh, "target")
        rep = Replicator(
            MySqlSource(SourceParams.from_url(self.source_url)),
            dest,
            integration_id=iid,
            data_filter=self.filter,
            settings=EngineSettings(until_caught_up=until_caught_up, **self.settings),  # type: ignore[arg-type]
        )
        return rep, dest

    def catch_up(self) -> Replicator:
        """Run the replicator until it has applied everything the source holds now."""
        rep, dest = self._replicator(until_caught_up=True)
        try:
            rep.run()
        finally:
            dest.close()  # type: ignore[attr-defined]
        return rep

    def start(self) -> None:
        """After the initial tables exist: the first snapshot, then the scenario's mode."""
        self.catch_up()
        self._start_pos = self._source_pos()
        self._started_at = datetime.now(UTC)
        if self.mode == "streaming":
            rep, dest = self._replicator(until_caught_up=False)
            self._rep = rep

            def run() -> None:
                try:
                    rep.run()
                except BaseException as exc:  # surfaced by sync()/finish()
                    self._error = exc
                finally:
                    dest.close()  # type: ignore[attr-defined]

            self._thread = threading.Thread(target=run, name="replicator", daemon=True)
            self._thread.start()
            # The scenario starts once the replicator streams (its start-up reconciliation with
            # the source's tables would otherwise race with the scenario's first statements).
            self._wait(lambda: rep.phase == "streaming", "the replicator to start streaming")

    def _source_pos(self) -> Position:
        return server_binlog_position(self.conn)

    def sync(self) -> None:
        """Streaming: wait until the replicator has read everything written so far."""
        if self._rep is None:
            return
        rep = self._rep
        target = self._source_pos()
        self._wait(
            lambda: rep.position is not None and rep.position >= target, f"position {target}"
        )

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            self._raise_error()
            if done():
                return
            if self._thread is not None and not self._thread.is_alive():
                raise AssertionError("the replicator stopped while streaming")
            time.sleep(0.02)
        raise AssertionError(f"replicator stuck waiting for {what}")

    def _raise_error(self) -> None:
        if self._error is not None:
            raise AssertionError(f"replicator failed: {self._error!r}") from self._error

    def finish(self) -> None:
        """Bring the warehouse up to date with the source, the way the mode says."""
        if self.mode == "streaming":
            assert self._rep is not None and self._thread is not None
            self._rep.target = self._source_pos()
            self._thread.join(WAIT_S)
            self._raise_error()
            assert not self._thread.is_alive(), "streaming replicator did not catch up"
            self._rep = None
            return
        self.catch_up()
        if self.mode == "replay":
            self.check()
            self._rewind()
            self.catch_up()

    def _rewind(self) -> None:
        """Move the checkpoint back to where the scenario started, every Synced table being a
        copy read now: as if each had just been resynced while the stream was that far behind
        (the state a restart's reconciliation or a resync leaves, for every table at once)."""
        assert self._start_pos is not None
        now = self._source_pos()
        dest, _ = open_integration(self.wh, "target")
        try:
            dest.begin()
            dest.save_checkpoint(self._start_pos)
            for st in dest.load_table_statuses().values():
                if st.state is TableState.SYNCED:
                    st.state = TableState.RESYNC_INITIATED
                    st.snapshot_done, st.snapshot_hw = True, now
                    dest.save_table_status(st)
            dest.commit()
        finally:
            dest.close()

    def close(self) -> None:
        if self._rep is not None and self._thread is not None:
            self._rep.stop()
            self._thread.join(WAIT_S)
        self.conn.close()

    # -- the comparison ---------------------------------------------------------------------------
    def copies(self, table: str, db: str | None = None) -> list[str]:
        """Reasons of the copies of `db.table` begun since `start()` (ResyncInitiated)."""
        duck = open_duck(self.wh / "databases" / "target.duckdb")
        try:
            rows = duck.execute(
                "SELECT state_change_reason FROM _zeroetl.state_changes WHERE schema_name = ? "
                "AND table_name = ? AND new_state = 'ResyncInitiated' AND record_time > ? "
                "ORDER BY record_time",
                [db or self.dbs[0], table, self._started_at],
            ).fetchall()
        finally:
            duck.close()
        return [r[0] for r in rows]

    def check(self) -> None:
        """Every source table the filter includes is in the warehouse, Synced, equal value by
        value and column by column; nothing else is left in the warehouse."""
        source = [t for t in list_tables(self.conn) if t.schema in self.dbs]
        wanted = {t for t in source if self.filter.includes(t)}
        duck = open_duck(self.wh / "databases" / "target.duckdb")
        try:
            for t in sorted(wanted, key=str):
                assert_table_equal(self.conn, duck, t.schema, t.table)
            present = {
                TableId(s, n)
                for s, n in duck.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name <> "
                    "'_zeroetl'"
                ).fetchall()
            }
            states = {
                TableId(s, n): (st, reason)
                for s, n, st, reason in duck.execute(
                    "SELECT schema_name, table_name, table_state, reason FROM _zeroetl.tables "
                    "WHERE table_state IS NOT NULL"
                ).fetchall()
            }
        finally:
            duck.close()
        assert present == wanted, (
            f"warehouse tables {sorted(map(str, present))} != source {sorted(map(str, wanted))}"
        )
        bad = {
            str(t): s
            for t, s in states.items()
            if (s[0] != "Synced" if t in wanted else s[0] != "Deleted")
        }
        assert not bad, f"unexpected table states: {bad}"


@contextmanager
def harness(
    mariadb: MariaDBServer,
    source_url: str,
    tmp_path: Path,
    test_db: str,
    mode: str,
    *,
    extra_dbs: tuple[str, ...] = (),
    data_filter: str | None = None,
    **settings: object,
) -> Iterator[Harness]:
    """A Harness over `test_db` plus `extra_dbs` (created empty, named `<test_db>_<suffix>`)."""
    root = mariadb.root()
    dbs = [test_db, *(f"{test_db}_{s}" for s in extra_dbs)]
    with root.cursor() as cur:
        for db in dbs[1:]:
            cur.execute(f"CREATE DATABASE {q(db)}")
    h = Harness(
        mariadb,
        source_url,
        tmp_path / "wh",
        dbs,
        mode=mode,
        data_filter=data_filter.format(*dbs) if data_filter else None,
        **settings,
    )
    try:
        yield h
    finally:
        h.close()
        with root.cursor() as cur:
            for db in dbs[1:]:
                with suppress(pymysql.err.MySQLError):
                    cur.execute(f"DROP DATABASE IF EXISTS {q(db)}")
        root.close()
