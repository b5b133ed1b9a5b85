"""When applying a DDL meets something unexpected, only the tables it names are copied again:
a name already taken in the warehouse, a table or column missing from it, a destination error,
a statement the classifier crashes on, a copy that meets a concurrent DDL. Never the whole
integration, never a crash loop, never a change skipped silently."""

from __future__ import annotations

import logging

import duckdb
import pytest
from tests.ddl_harness import Harness, harness, q

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.engine.copier import Copier
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.engine.tables import TableBook
from zeroetl.errors import DestinationError
from zeroetl.model import TableId, TableState
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql import ddl as ddl_module
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration


def resync_reasons(h: Harness, table: str) -> list[str]:
    duck = duckdb.connect(str(h.wh / "databases" / "target.duckdb"), read_only=True)
    try:
        rows = duck.execute(
            "SELECT state_change_reason FROM _zeroetl.state_changes WHERE schema_name = ? AND "
            "table_name = ? AND new_state = 'ResyncRequired' ORDER BY record_time",
            [h.dbs[0], table],
        ).fetchall()
    finally:
        duck.close()
    return [r[0] for r in rows]


def tamper(h: Harness, *sql: str) -> None:
    """Change the warehouse behind the replicator's back (it is stopped)."""
    duck = duckdb.connect(str(h.wh / "databases" / "target.duckdb"))
    try:
        for s in sql:
            duck.execute(s.replace("{db}", '"' + h.dbs[0] + '"'))
    finally:
        duck.close()


def test_rename_onto_a_name_taken_in_the_warehouse(mariadb, source_url, tmp_path, test_db):
    with harness(mariadb, source_url, tmp_path, test_db, "downtime") as h:
        h.table("a", rows=8)
        h.table("b", rows=8)
        h.start()
        tamper(h, "CREATE TABLE {db}.c (x INT)", "INSERT INTO {db}.c VALUES (1)")
        h.writes("a")
        h.sql("RENAME TABLE a TO c")
        h.writes("c")
        h.sql("RENAME TABLE c TO d")  # so that the restart does not see c on the source
        h.writes("d")
        h.writes("b")
        h.finish()
        h.check()
        assert any("could not be applied" in r for r in resync_reasons(h, "c"))
        assert h.copies("b") == []


def test_tables_and_columns_missing_from_the_warehouse(mariadb, source_url, tmp_path, test_db):
    with harness(mariadb, source_url, tmp_path, test_db, "downtime") as h:
        for name in ("a", "b", "c", "d"):
            h.table(name, rows=6, extra="w INT")
        h.start()
        tamper(h, "DROP TABLE {db}.a", "ALTER TABLE {db}.c DROP COLUMN w")
        dest, _ = open_integration(h.wh, "target")
        try:  # a column gone from the warehouse and from its recorded schema
            dest.drop_column(TableId(test_db, "d"), "w")
        finally:
            dest.close()
        h.sql(
            "ALTER TABLE a ADD COLUMN n INT",  # the table is missing: DuckDB fails
            "ALTER TABLE c DROP COLUMN w",  # the column is missing: DuckDB fails
            "ALTER TABLE d RENAME COLUMN w TO w2",  # missing from the record: seen before
        )
        for name in ("a", "b", "c", "d"):
            h.writes(name)
        h.finish()
        h.check()
        assert any("could not be applied" in r for r in resync_reasons(h, "a"))
        assert any("could not be applied" in r for r in resync_reasons(h, "c"))
        assert resync_reasons(h, "d") == ["renamed column 'w' is not in the replicated table"]
        assert h.copies("b") == []


def test_destination_error_resyncs_only_the_tables_named(
    mariadb, source_url, tmp_path, test_db, monkeypatch
):
    real = DuckDBDestination.rename_table
    failures: list[str] = []

    def flaky(self, old, new):  # type: ignore[no-untyped-def]
        if new.id.table == "a2" and not failures:
            failures.append(str(new.id))
            raise DestinationError("injected: rename table failed: disk I/O error")
        return real(self, old, new)

    monkeypatch.setattr(DuckDBDestination, "rename_table", flaky)
    with harness(mariadb, source_url, tmp_path, test_db, "streaming") as h:
        h.table("a", rows=8)
        h.table("b", rows=8)
        h.start()
        h.writes("b")
        h.sql("RENAME TABLE a TO a2")
        h.writes("a2")
        h.writes("b")
        h.finish()
        h.check()
        assert failures == [f"{test_db}.a2"]
        assert any("injected" in r for r in resync_reasons(h, "a2"))
        assert h.copies("b") == []


def test_a_ddl_that_always_fails_is_resynced_not_retried(
    mariadb, source_url, tmp_path, test_db, monkeypatch
):
    """The destination refuses one DDL every time. Its table is copied instead, also when the
    replay from the checkpoint first makes that table in place (a RENAME onto it)."""
    real = DuckDBDestination.drop_column
    calls: list[str] = []

    def broken(self, table, name):  # type: ignore[no-untyped-def]
        if table.table == "t":
            calls.append(name)
            raise DestinationError("injected: drop column failed: I/O error")
        return real(self, table, name)

    monkeypatch.setattr(DuckDBDestination, "drop_column", broken)
    # One warehouse transaction for the whole catch-up: the replay starts before the RENAME.
    with harness(mariadb, source_url, tmp_path, test_db, "downtime", batch_ms=60_000) as h:
        h.table("x", rows=8, extra="w INT")
        h.table("b", rows=8)
        h.start()
        h.writes("x")
        h.sql("RENAME TABLE x TO t", "ALTER TABLE t DROP COLUMN w")
        h.writes("t")
        h.writes("b")
        h.finish()
        h.check()
        assert calls == ["w"]  # made once, never again on the replay
        assert h.copies("b") == []


def test_unclassifiable_ddl_is_never_skipped(
    mariadb, source_url, tmp_path, test_db, monkeypatch, caplog
):
    """A classifier crash resyncs the tables the statement names, or every replicated table
    of the databases it names; an unreadable statement (Unknown) the same. Logged with the
    position."""
    real = ddl_module.classify

    def buggy(sql: str, default_schema: str, **kw: object) -> list[ddl_module.DdlAction]:
        if "/*boom*/" in sql:
            raise RuntimeError("classifier bug")
        if "/*unreadable*/" in sql:
            return [ddl_module.Unknown((), sql)]
        return real(sql, default_schema, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ddl_module, "classify", buggy)
    caplog.set_level(logging.WARNING, logger="zeroetl.engine.ddl_apply")
    with harness(mariadb, source_url, tmp_path, test_db, "streaming", extra_dbs=("o",)) as h:
        other = q(h.dbs[1])
        h.table("a", rows=8)
        h.table("b", rows=8)
        h.table(f"{other}.x", rows=4)
        h.table(f"{other}.y", rows=4)
        h.start()
        h.sql("TRUNCATE /*boom*/ TABLE a")  # skipped, the rows would stay
        h.writes("a")
        h.sql("RENAME /*boom*/ TABLE b TO b2")
        h.writes("b2")
        h.sync()
        h.sql(f"DROP /*boom*/ DATABASE {other}")  # names no table: its database's tables
        h.sql(f"CREATE DATABASE {other}", f"CREATE TABLE {other}.z (id INT PRIMARY KEY, v TEXT)")
        h.sql(f"ALTER TABLE {other}.z /*unreadable*/ ADD COLUMN n INT")
        h.writes(f"{other}.z")
        h.finish()
        h.check()
        assert any("could not be classified" in r for r in resync_reasons(h, "a"))
        assert any("could not be classified" in r for r in resync_reasons(h, "b2"))
    logged = [r.getMessage() for r in caplog.records]
    assert any("could not be classified" in m and "binlog position" in m for m in logged)
    assert any("could not be read" in m and "binlog position" in m for m in logged)


def test_copy_meeting_a_concurrent_ddl_is_queued_again(mariadb, source_url, tmp_path, test_db):
    """A copy whose next chunk finds the table altered or gone waits for another copy (the
    stream brings the DDL) instead of failing the table."""
    conn = mariadb.root(test_db)
    try:
        with conn.cursor() as cur:
            for name in ("t", "u", "s"):
                cur.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, v TEXT, w INT)")
                cur.execute(f"INSERT INTO {name} SELECT seq, 'x', seq FROM seq_1_to_40")
        params = SourceParams.from_url(source_url)
        dest, _ = open_integration(tmp_path / "wh", "target")
        book = TableBook(dest, Progress())
        copier = Copier(MySqlSource(params), dest, book, EngineSettings(chunk_rows=10), Progress())
        pos = server_binlog_position(conn)

        def step(fn, *args):  # type: ignore[no-untyped-def]
            dest.begin()
            fn(*args)
            book.flush()
            dest.commit()

        for name, ddl, why in (
            ("t", "ALTER TABLE t DROP COLUMN w", "changed on the source"),
            ("u", "DROP TABLE u", "gone from the source"),
        ):
            table = TableId(test_db, name)
            step(copier.begin_resync, table, pos)
            step(copier.copy_one_chunk, table, pos)
            with conn.cursor() as cur:
                cur.execute(ddl)
            step(copier.copy_one_chunk, table, pos)
            assert book.status[table].state is TableState.RESYNC_REQUIRED, name
            assert why in book.status[table].reason
        # The first snapshot's consistent read of a table rebuilt since it began.
        s = TableId(test_db, "s")
        step(copier.begin_resync, s, pos)
        reader = copier.reader()
        hw = reader.begin_consistent()
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE s FORCE")
        copier.copy_tables([s], hw, pos)
        reader.end()
        assert book.status[s].state is TableState.RESYNC_REQUIRED
        copier.close()
        dest.close()
    finally:
        conn.close()
