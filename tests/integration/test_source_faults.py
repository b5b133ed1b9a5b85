"""Nothing is lost silently: a source that stops logging row events for included tables.

A private MariaDB (its binlog settings are changed at runtime with SET GLOBAL, which would
disturb the shared test server) runs under a live Replicator. Each test breaks one setting the
way an operator would, writes, and checks that the affected table goes to ResyncRequired with
the fix in its reason, that the integration asks for attention and stops claiming zero lag, and
that once the setting is fixed and the source writes rows again the table is re-copied and
equals the source.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from tests.integration.test_replicate import check_all
from tests.service_support import wait_for

from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import IntegrationState, TableId, TableState
from zeroetl.sandbox.mariadb import REPL_USER, MariaDBServer, free_port
from zeroetl.service.standalone import open_integration
from zeroetl.service.worker import Worker, WorkerSpec
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Fast enough for tests; the defaults are a minute and 30 s.
FAST = {"prereq_check_s": 0.3, "fault_quiet_s": 1.0, "batch_ms": 50}
GOOD = {"binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"}


@pytest.fixture(scope="module")
def server() -> Iterator[MariaDBServer]:
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-faults-"))
    srv = MariaDBServer(tmp / "data", free_port(), server_id=1)
    srv.start()
    srv.create_replication_user()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def db(server: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database; every global setting a test changes is put back afterwards."""
    name = "f_" + request.node.name[:40]
    _exec(server, f"CREATE DATABASE `{name}`", "CREATE DATABASE other")
    yield name
    _set_globals(server, **GOOD)
    _exec(
        server,
        "SET GLOBAL expire_logs_days = 7",
        f"GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{REPL_USER}'@'%'",
        f"DROP DATABASE `{name}`",
        "DROP DATABASE other",
    )


def _exec(server: MariaDBServer, *sqls: str, db: str | None = None, session: str = "") -> None:
    """Run statements on a new connection (new sessions pick up the current global format)."""
    conn = server.root(db)
    try:
        with conn.cursor() as cur:
            if session:
                cur.execute(session)
            for sql in sqls:
                cur.execute(sql)
    finally:
        conn.close()


def _set_globals(server: MariaDBServer, **values: str) -> None:
    _exec(server, *(f"SET GLOBAL {k} = '{v}'" for k, v in values.items()))


class Live:
    """A Replicator streaming on a thread of its own into <wh>/target.duckdb."""

    def __init__(self, server: MariaDBServer, wh: Path, db: str, **settings: object) -> None:
        self.dest, iid = open_integration(wh, "target")
        self.rep = Replicator(
            MySqlSource(SourceParams.from_url(server.url())),
            self.dest,
            integration_id=iid,
            data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
            settings=EngineSettings(**{**FAST, **settings}),  # type: ignore[arg-type]
        )
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.rep.run()
        except BaseException as exc:  # the test reads it
            self.error = exc

    def state(self, db: str, table: str) -> tuple[str, str]:
        st = self.rep.book.get(TableId(db, table))
        return ("", "") if st is None else (st.state.value, st.reason)

    def wait_state(self, db: str, table: str, state: str, timeout: float = 30) -> str:
        def check() -> str | None:
            assert self.error is None, self.error
            s, reason = self.state(db, table)
            return (reason or "-") if s == state else None

        return str(wait_for(check, f"{db}.{table} {state}", timeout))

    def stop(self) -> None:
        self.rep.stop()
        self.thread.join(30)
        self.dest.close()
        assert self.error is None, self.error


def _orders(server: MariaDBServer, db: str, rows: int = 20) -> None:
    _exec(
        server,
        "CREATE TABLE orders (id INT PRIMARY KEY, qty INT, note TEXT)",
        "CREATE TABLE other.t (id INT PRIMARY KEY, v INT)",
        *(f"INSERT INTO orders VALUES ({i}, {i}, 'n{i}')" for i in range(1, rows + 1)),
        db=db,
    )


def _compare(server: MariaDBServer, wh: Path, db: str) -> None:
    conn = server.root(db)
    try:
        check_all(conn, wh, db, ["orders"])
    finally:
        conn.close()


def _not_current(live: Live) -> None:
    """The integration asks for attention and its lag no longer claims the warehouse is current."""
    lag = live.rep.status()["lag_ms"]
    assert lag is not None and float(lag) > 0  # type: ignore[arg-type]


def test_statement_format_is_detected_held_then_resynced(server, db, tmp_path) -> None:
    _orders(server, db)
    live = Live(server, tmp_path / "wh", db)
    try:
        live.wait_state(db, "orders", "Synced")
        _set_globals(server, binlog_format="STATEMENT")
        _exec(server, "UPDATE orders SET qty = qty + 100 WHERE id <= 5", db=db)
        _exec(server, "INSERT INTO orders VALUES (1000, 1, 'stmt')", db=db)
        _exec(server, "UPDATE other.t SET v = 1", db=db)  # not included: no effect
        reason = live.wait_state(db, "orders", "ResyncRequired")
        assert "statement" in reason and "SET GLOBAL binlog_format='ROW'" in reason
        attention = wait_for(
            lambda: "binlog_format is STATEMENT" in (a := live.rep.attention()) and a, "attention"
        )
        assert "SET GLOBAL binlog_format='ROW'" in attention
        assert "reconnect" in attention  # existing sessions keep their format
        _not_current(live)
        # Held while the source still logs statements: no copy starts, the reason stays, even
        # well past the quiet period (a copy now would be stale at the next statement).
        _exec(server, "UPDATE orders SET qty = 0 WHERE id = 6", db=db)
        time.sleep(3 * FAST["fault_quiet_s"])
        assert live.state(db, "orders")[0] == "ResyncRequired"
        assert "binlog_format is STATEMENT" in live.rep.attention()

        _set_globals(server, binlog_format="ROW")
        _exec(server, "UPDATE orders SET qty = qty + 1 WHERE id > 10", db=db)  # rows again
        live.wait_state(db, "orders", "Synced")
        wait_for(lambda: live.rep.attention() == "", "attention cleared")
    finally:
        live.stop()
    _compare(server, tmp_path / "wh", db)


def test_session_statement_format_and_mixed(server, db, tmp_path) -> None:
    _orders(server, db)
    _exec(server, "CREATE TABLE items (id INT PRIMARY KEY, oid INT)", db=db)
    _exec(server, *(f"INSERT INTO items VALUES ({i}, {i})" for i in range(1, 6)), db=db)
    live = Live(server, tmp_path / "wh", db)
    try:
        live.wait_state(db, "orders", "Synced")
        live.wait_state(db, "items", "Synced")
        # One session switches to STATEMENT on its own; the global format stays ROW.
        _exec(
            server,
            "DELETE o FROM orders o JOIN items i ON i.oid = o.id WHERE i.id = 2",
            db=db,
            session="SET SESSION binlog_format = 'STATEMENT'",
        )
        reason = live.wait_state(db, "orders", "ResyncRequired")
        assert "statement" in reason
        attention = wait_for(live.rep.attention, "attention")
        assert "session" in attention  # the global format is ROW: a session logs statements
        # Nothing more comes: both tables named by the statement are re-copied after the quiet.
        live.wait_state(db, "orders", "Synced")
        live.wait_state(db, "items", "Synced")
        wait_for(lambda: live.rep.attention() == "", "attention cleared")

        # MIXED logs deterministic statements as statements, others (and LOAD DATA) as rows.
        _set_globals(server, binlog_format="MIXED")
        path = Path(server.datadir) / "items.tsv"
        path.write_text("".join(f"{i}\t{i}\n" for i in range(200, 210)))
        _exec(
            server,
            "INSERT INTO items VALUES (100, UUID_SHORT() % 7)",
            f"LOAD DATA INFILE '{path}' INTO TABLE items",
            "UPDATE items SET oid = 5 WHERE id = 1",
            db=db,
        )
        reason = live.wait_state(db, "items", "ResyncRequired")
        assert reason.startswith(f"the source wrote UPDATE on {db}.items as a statement")
        wait_for(lambda: "binlog_format is MIXED" in live.rep.attention(), "the check")
        # LOAD DATA in statement format travels as its own event type.
        _set_globals(server, binlog_format="ROW")
        path = Path(server.datadir) / "orders.tsv"
        path.write_text("".join(f"{i}\t{i}\tloaded\n" for i in range(300, 340)))
        _exec(
            server,
            f"LOAD DATA INFILE '{path}' INTO TABLE orders",
            db=db,
            session="SET SESSION binlog_format = 'STATEMENT'",
        )
        reason = live.wait_state(db, "orders", "ResyncRequired")
        assert reason.startswith(f"the source wrote LOAD DATA on {db}.orders as a statement")
        live.wait_state(db, "items", "Synced")
        live.wait_state(db, "orders", "Synced")
        wait_for(lambda: live.rep.attention() == "", "attention cleared")
    finally:
        live.stop()
    conn = server.root(db)
    try:
        check_all(conn, tmp_path / "wh", db, ["orders", "items"])
    finally:
        conn.close()


@pytest.mark.parametrize("image", ["MINIMAL", "NOBLOB"])
def test_reduced_row_image_is_detected(server, db, tmp_path, image) -> None:
    _orders(server, db)
    live = Live(server, tmp_path / "wh", db)
    try:
        live.wait_state(db, "orders", "Synced")
        _set_globals(server, binlog_row_image=image)
        _exec(server, "UPDATE orders SET qty = qty * 2 WHERE id BETWEEN 3 AND 8", db=db)
        reason = live.wait_state(db, "orders", "ResyncRequired")
        assert "binlog_row_image" in reason and "SET GLOBAL binlog_row_image='FULL'" in reason
        assert "binlog_row_image" in wait_for(live.rep.attention, "attention")
        _not_current(live)
        _set_globals(server, binlog_row_image="FULL")
        _exec(server, "UPDATE orders SET qty = -1 WHERE id = 1", db=db)
        live.wait_state(db, "orders", "Synced")
        wait_for(lambda: live.rep.attention() == "", "attention cleared")
    finally:
        live.stop()
    _compare(server, tmp_path / "wh", db)


def test_minimal_row_metadata_is_detected(server, db, tmp_path) -> None:
    _orders(server, db)
    live = Live(server, tmp_path / "wh", db)
    try:
        live.wait_state(db, "orders", "Synced")
        _set_globals(server, binlog_row_metadata="MINIMAL")
        _exec(server, "INSERT INTO other.t VALUES (7, 7)")  # not included: harmless
        _exec(server, "INSERT INTO orders VALUES (500, 5, 'x')", db=db)
        reason = live.wait_state(db, "orders", "ResyncRequired")
        assert "SET GLOBAL binlog_row_metadata='FULL'" in reason
        assert "binlog_row_metadata" in wait_for(live.rep.attention, "attention")
        _not_current(live)
        _set_globals(server, binlog_row_metadata="FULL")
        _exec(server, "INSERT INTO orders VALUES (501, 5, 'y')", db=db)
        live.wait_state(db, "orders", "Synced")
    finally:
        live.stop()
    _compare(server, tmp_path / "wh", db)


def test_prerequisites_are_rechecked_through_the_worker(server, db, tmp_path) -> None:
    """Changed settings, privileges and retention show as needs_attention, and clear."""
    _orders(server, db)
    spec = WorkerSpec(
        integration_id="i-prereq",
        database="target",
        path=tmp_path / "target.duckdb",
        params=SourceParams.from_url(server.url()),
        data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
        settings=EngineSettings(**FAST),  # type: ignore[arg-type]
        first_synced=False,
    )
    hub = duckdb.connect(":memory:")
    worker = Worker(spec, hub, threading.Lock())
    worker.start()
    try:
        wait_for(lambda: worker.observe()[0] == IntegrationState.ACTIVE, "active")
        breaks = [
            ("SET GLOBAL binlog_format = 'MIXED'", "SET GLOBAL binlog_format = 'ROW'",
             "binlog_format=MIXED"),
            ("SET GLOBAL binlog_row_image = 'MINIMAL'", "SET GLOBAL binlog_row_image = 'FULL'",
             "binlog_row_image=MINIMAL"),
            ("SET GLOBAL binlog_row_metadata = 'MINIMAL'",
             "SET GLOBAL binlog_row_metadata = 'FULL'", "binlog_row_metadata=MINIMAL"),
            (f"REVOKE REPLICATION CLIENT ON *.* FROM '{REPL_USER}'@'%'",
             f"GRANT REPLICATION CLIENT ON *.* TO '{REPL_USER}'@'%'", "REPLICATION CLIENT"),
            ("SET GLOBAL expire_logs_days = 0.5", "SET GLOBAL expire_logs_days = 7",
             "binlogs kept 0.5 day"),
        ]  # fmt: skip
        for brk, fix, shown in breaks:
            _exec(server, brk)
            _state, reason = wait_for(
                lambda: (s := worker.observe())[0] == IntegrationState.NEEDS_ATTENTION and s,
                f"after {brk}",
            )
            assert shown in reason, reason
            _exec(server, fix)
            wait_for(lambda: worker.observe()[0] == IntegrationState.ACTIVE, f"cleared after {fix}")
        # Tables were never touched: nothing was written while the source was misconfigured.
        assert worker.rep is not None
        assert worker.rep.book.status[TableId(db, "orders")].state is TableState.SYNCED
    finally:
        worker.stop()
        worker.join(30)
        hub.close()
