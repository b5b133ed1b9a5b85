"""The escape corpus: what an analyst logged in as admin must not be able to do over the SQL
endpoint of a real `zeroetl serve`, each attempt refused with its SQLSTATE and message AND shown
to have had no effect; the service answers and replicates afterwards.

The corpus is data: add an `Attempt` to CORPUS to cover a new trick. `{wh}` is the warehouse
directory, `{tmp}` a scratch directory outside it, `{db}` the target database and `{src}` the
replicated MySQL database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.sandbox_support import CATEGORIES, Warehouse
from tests.service_support import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Ctx:
    wh: Warehouse
    tmp: Path

    def fmt(self, text: str) -> str:
        return text.format(wh=self.wh.path, tmp=self.tmp, db=self.wh.target, src=self.wh.source_db)


Check = Callable[[Ctx], None]


@dataclass(frozen=True)
class Attempt:
    name: str
    sql: str
    state: str  # the SQLSTATE of the refusal
    says: tuple[str, ...]  # fragments the message must contain (case-insensitive)
    no_effect: tuple[Check, ...] = ()
    params: tuple[Any, ...] | None = None  # run with parameters (extended protocol)
    prepare: bool = False  # a named prepared statement (Parse/Bind/Execute)
    dbname: str = "dev"  # the database the session connects to
    setup: tuple[str, ...] = field(default=())  # statements run first in the same session


# --- effects that must not have happened ------------------------------------------------


def no_file(template: str) -> Check:
    def check(ctx: Ctx) -> None:
        path = Path(ctx.fmt(template))
        assert not path.exists(), f"{path} was created"

    check.__name__ = f"no_file({template})"
    return check


def no_new_files_in_warehouse(ctx: Ctx) -> None:
    allowed = {"catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm", "secret.key",
               "api.token", "sql.password", ".zeroetl.lock", "databases", "tmp",
               "service.json", "sql-tls.crt", "sql-tls.key"}  # fmt: skip
    extra = {p.name for p in ctx.wh.path.iterdir()} - allowed
    assert not extra, f"new files in the warehouse: {extra}"
    dbs = {p.name for p in (ctx.wh.path / "databases").iterdir()}
    files = {
        f"{ctx.wh.target}.duckdb",
        f"{ctx.wh.target}.duckdb.wal",
        "dev.duckdb",
        "dev.duckdb.wal",
    }
    assert dbs <= files, dbs


def category_intact(ctx: Ctx) -> None:
    got = ctx.wh.query(
        f"select catid, catgroup, catname, catdesc from {ctx.wh.target}.{ctx.wh.source_db}"
        ".category order by catid"
    )
    assert got == CATEGORIES, got


def tables_synced(ctx: Ctx) -> None:
    got = ctx.wh.query(
        "select table_name, table_state from svv_integration_table_state where target_database"
        " = %s order by 1",
        [ctx.wh.target],
    )
    assert got == [("category", "Synced"), ("events", "Synced"), ("svv_integration", "Synced")]


def sysviews_intact(ctx: Ctx) -> None:
    """svv_integration is the system view in every session, whatever was attempted."""
    for dbname, search_path in (("dev", None), (ctx.wh.target, ctx.wh.source_db)):
        with ctx.wh.connect(dbname) as conn:
            if search_path:
                conn.execute(f"set search_path to {search_path}")
            cur = conn.execute("select integration_id, state from svv_integration")
            assert [d.name for d in cur.description] == ["integration_id", "state"]
            assert cur.fetchall() == [(ctx.wh.integration_id, "CdcRefreshState")]
            assert conn.execute("select count(*) from pg_type").fetchone()[0] > 0
            assert conn.execute("select version()").fetchone()[0].startswith("PostgreSQL 15")


def database_attached(ctx: Ctx) -> None:
    got = ctx.wh.query(f"select count(*) from {ctx.wh.target}.{ctx.wh.source_db}.category")
    assert got == [(11,)]


def no_other_sessions_queries(ctx: Ctx) -> None:
    """Nothing recorded the other sessions' SQL: logging never got enabled."""
    marker = "zz_marker_of_another_session"
    ctx.wh.query(f"select '{marker}'")
    with ctx.wh.connect() as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("select message from duckdb_logs")
    assert err.value.sqlstate == "42501"
    assert not list(ctx.tmp.rglob("*")), list(ctx.tmp.rglob("*"))


def setting_shows(name: str, value: str | None) -> Check:
    def check(ctx: Ctx) -> None:
        with ctx.wh.connect() as conn:
            if value is None:
                with pytest.raises(psycopg.Error) as err:
                    conn.execute(f"show {name}")
                assert err.value.sqlstate == "42704"
            else:
                assert conn.execute(f"show {name}").fetchone()[0] == value

    check.__name__ = f"setting_shows({name}, {value})"
    return check


DENIED, READ_ONLY = "42501", "25006"
FILES = (no_new_files_in_warehouse,)

# fmt: off
CORPUS: list[Attempt] = [
    # --- the server's files, secrets and environment through table functions ---------------
    Attempt("read_csv passwd", "select * from read_csv('/etc/passwd')", DENIED, ("read_csv",)),
    Attempt("read_csv_auto", "select * from read_csv_auto('/etc/passwd')", DENIED,
            ("read_csv_auto",)),
    Attempt("read_text api.token", "select * from read_text('{wh}/api.token')", DENIED,
            ("read_text",)),
    Attempt("read_blob warehouse glob", "select * from read_blob('{wh}/*')", DENIED,
            ("read_blob",)),
    Attempt("read_blob database file", "select * from read_blob('{wh}/databases/{db}.duckdb')",
            DENIED, ("read_blob",)),
    Attempt("read_text TLS key", "select * from read_text('{wh}/sql-tls.key')", DENIED,
            ("read_text",)),
    Attempt("read_text environ", "select * from read_text('/proc/self/environ')", DENIED,
            ("read_text",)),
    Attempt("sniff_csv", "select * from sniff_csv('/etc/passwd')", DENIED, ("sniff_csv",)),
    Attempt("glob", "select * from glob('{wh}/*')", DENIED, ("glob",)),
    Attempt("read_parquet", "select * from read_parquet('{wh}/*.parquet')", DENIED,
            ("read_parquet",)),
    Attempt("parquet_metadata", "select * from parquet_metadata('{wh}/x.parquet')", DENIED,
            ("parquet_metadata",)),
    Attempt("parquet_schema", "select * from parquet_schema('{wh}/x.parquet')", DENIED,
            ("parquet_schema",)),
    Attempt("read_json", "select * from read_json('/etc/hostname')", DENIED, ("read_json",)),
    Attempt("read_json_auto", "select * from read_json_auto('/etc/hostname')", DENIED,
            ("read_json_auto",)),
    Attempt("read_ndjson_objects", "select * from read_ndjson_objects('/etc/hostname')", DENIED,
            ("read_ndjson_objects",)),
    Attempt("read_duckdb", "select * from read_duckdb('{wh}/databases/{db}.duckdb')", DENIED,
            ("read_duckdb",)),
    Attempt("file as a table", "select * from '/etc/passwd'", DENIED, ("/etc/passwd",)),
    Attempt("nested in a subquery", "select 1 where exists (select 1 from read_text('{wh}/"
            "secret.key'))", DENIED, ("read_text",)),
    Attempt("path as a parameter", "select * from read_text(%s)", DENIED, ("read_text",),
            params=("/etc/passwd",)),
    Attempt("prepared read_blob", "select content from read_blob('{wh}/secret.key')", DENIED,
            ("read_blob",), prepare=True),
    Attempt("query() runs a string", "select * from query('select * from read_csv(''/etc/"
            "passwd'')')", DENIED, ("query",)),
    Attempt("json_execute_serialized_sql", "select * from json_execute_serialized_sql("
            "json_serialize_sql('select 1'))", DENIED, ("json_execute_serialized_sql",)),
    # --- COPY, EXPORT, ATTACH, extensions, PRAGMA, CALL, maintenance ------------------------
    Attempt("COPY TO a file", "copy (select 1) to '{tmp}/out.csv'", DENIED, ("COPY",),
            (no_file("{tmp}/out.csv"),)),
    # COPY ... TO STDOUT is a read (its query goes through the guard); every other COPY is not
    Attempt("COPY TO STDOUT of a file read", "copy (select * from read_text('{wh}/api.token'))"
            " to stdout", DENIED, ("read_text",)),
    Attempt("prepared COPY TO STDOUT of a file read", "copy (select * from read_blob("
            "'{wh}/secret.key')) to stdout (format csv)", DENIED, ("read_blob",), prepare=True),
    Attempt("COPY a file name TO STDOUT", "copy '/etc/passwd' to stdout", DENIED, ("COPY",)),
    Attempt("COPY TO PROGRAM", "copy (select 1) to program 'touch {tmp}/pwned'", DENIED,
            ("COPY",), (no_file("{tmp}/pwned"),)),
    Attempt("COPY FROM into a replica", "copy {db}.{src}.category from '/etc/passwd'",
            READ_ONLY, ("read-only",), (category_intact,)),
    Attempt("EXPORT DATABASE", "export database '{tmp}/export'", DENIED, ("EXPORT",),
            (no_file("{tmp}/export"),)),
    Attempt("IMPORT DATABASE", "import database '{tmp}'", DENIED, ("IMPORT",)),
    Attempt("ATTACH outside", "attach '{tmp}/new.duckdb' as newdb", DENIED, ("ATTACH",),
            (no_file("{tmp}/new.duckdb"),)),
    Attempt("ATTACH inside the data directory", "attach '{wh}/databases/evil.duckdb' as evil",
            DENIED, ("ATTACH",), FILES),
    Attempt("DETACH", "detach {db}", DENIED, ("DETACH",), (database_attached,)),
    Attempt("INSTALL", "install httpfs", DENIED, ("INSTALL",)),
    Attempt("LOAD", "load httpfs", DENIED, ("LOAD",)),
    Attempt("LOAD a path", "load '{tmp}/x.duckdb_extension'", DENIED, ("LOAD",)),
    Attempt("PRAGMA", "pragma database_list", DENIED, ("PRAGMA",)),
    Attempt("PRAGMA setting", "pragma threads=1", DENIED, ("PRAGMA",)),
    Attempt("CALL", "call enable_logging()", DENIED, ("CALL",), (no_other_sessions_queries,)),
    Attempt("enable_logging to files", "select * from enable_logging(storage='file',"
            " storage_path='{tmp}/logs')", DENIED, ("enable_logging",),
            (no_file("{tmp}/logs"), no_other_sessions_queries)),
    Attempt("duckdb_logs view", "select * from duckdb_logs", DENIED, ("duckdb_logs",)),
    Attempt("duckdb_logs()", "select * from duckdb_logs()", DENIED, ("duckdb_logs",)),
    Attempt("duckdb_settings()", "select * from duckdb_settings()", DENIED, ("duckdb_settings",)),
    Attempt("duckdb_databases() shows paths", "select path from duckdb_databases()", DENIED,
            ("duckdb_databases",)),
    Attempt("pragma_database_list view", "select * from pragma_database_list", DENIED,
            ("pragma_database_list",)),
    Attempt("checkpoint()", "select * from checkpoint()", DENIED, ("checkpoint",)),
    Attempt("force_checkpoint()", "select * from force_checkpoint('{db}')", DENIED,
            ("force_checkpoint",)),
    Attempt("CHECKPOINT", "checkpoint {db}", DENIED, ("CHECKPOINT",)),
    Attempt("FORCE CHECKPOINT", "force checkpoint", DENIED, ("CHECKPOINT",)),
    Attempt("VACUUM", "vacuum", DENIED, ("VACUUM",)),
    Attempt("write_log()", "select write_log('forged', level := 'error')", DENIED,
            ("write_log",)),
    # --- writes hidden inside queries -----------------------------------------------------
    Attempt("UPDATE in a CTE", "with x as (update {db}.{src}.category set catdesc = 'TAMPERED'"
            " where catid = 3 returning catid) select * from x", READ_ONLY, ("UPDATE",),
            (category_intact,)),
    Attempt("INSERT in a CTE", "with x as (insert into {db}.{src}.category values (99, 'x',"
            " 'x', 'x') returning catid) select * from x", READ_ONLY, ("INSERT",),
            (category_intact,)),
    Attempt("DELETE in a CTE", "with x as (delete from {db}.{src}.category returning catid)"
            " select count(*) from x", READ_ONLY, ("DELETE",), (category_intact,)),
    Attempt("DELETE in a subquery", "select * from {db}.{src}.category where catid in (with y"
            " as (delete from {db}.{src}.category where catid = 1 returning catid) select catid"
            " from y)", READ_ONLY, ("DELETE",), (category_intact,)),
    Attempt("UPDATE in a CTE, extended protocol", "with x as (update {db}.{src}.category set"
            " catdesc = %s where catid = 3 returning catid) select * from x", READ_ONLY,
            ("UPDATE",), (category_intact,), params=("TAMPERED",)),
    Attempt("UPDATE in a CTE, prepared", "with x as (update {db}.{src}.category set catdesc ="
            " 'TAMPERED' where catid = 3 returning catid) select * from x", READ_ONLY,
            ("UPDATE",), (category_intact,), prepare=True),
    Attempt("EXPLAIN ANALYZE runs it", "explain analyze with x as (update {db}.{src}.category"
            " set catdesc = 'TAMPERED' where catid = 3 returning catid) select * from x",
            READ_ONLY, ("UPDATE",), (category_intact,)),
    Attempt("UPDATE metadata in a CTE", "with x as (update {db}._zeroetl.tables set table_state"
            " = 'Failed' returning 1) select * from x", DENIED, ("_zeroetl",), (tables_synced,)),
    Attempt("plain UPDATE", "update {db}.{src}.category set catdesc = 'TAMPERED'", READ_ONLY,
            ("read-only",), (category_intact,)),
    Attempt("INSERT", "insert into {src}.category values (99, 'x', 'x', 'x')", READ_ONLY,
            ("read-only",), (category_intact,), dbname="sbx_wh"),
    Attempt("MERGE", "merge into {db}.{src}.category c using (select 3 as catid) s on c.catid ="
            " s.catid when matched then delete", READ_ONLY, ("read-only",), (category_intact,)),
    Attempt("TRUNCATE", "truncate {db}.{src}.category", READ_ONLY, ("read-only",),
            (category_intact,)),
    Attempt("DELETE metadata", "delete from {db}._zeroetl.checkpoint", DENIED, ("_zeroetl",),
            (tables_synced,)),
    Attempt("read metadata directly", "select * from {db}._zeroetl.tables", DENIED,
            ("_zeroetl",)),
    Attempt("read metadata through the emulation", "select * from zeroetl_meta_checkpoint",
            DENIED, ("_zeroetl",)),
    Attempt("DuckDB's own pg_settings", "select name, setting from system.pg_catalog.pg_settings",
            DENIED, ("internal catalog",)),
    Attempt("DESCRIBE metadata", "describe {db}._zeroetl.kv", DENIED, ("_zeroetl",)),
    Attempt("metadata via search_path", 'set search_path to "{db}"._zeroetl, {src}', DENIED,
            ("_zeroetl",), dbname="sbx_wh"),
    # --- objects in the shared catalog, shadowing the system views -------------------------
    Attempt("SELECT INTO a system view's name", "select 1 as integration_id into svv_integration",
            DENIED, ("SELECT INTO",), (sysviews_intact,)),
    Attempt("SELECT INTO temp", "select * into temp t from {db}.{src}.category", DENIED,
            ("SELECT INTO",), (sysviews_intact,)),
    Attempt("CREATE TABLE in dev", "create table svv_integration as select 1 as x", DENIED,
            ("CREATE",), (sysviews_intact,)),
    Attempt("CREATE TEMP VIEW shadow", "create temp view svv_integration as select 1 as x",
            DENIED, ("CREATE",), (sysviews_intact,)),
    Attempt("CREATE OR REPLACE catalog view", "create or replace view _zeroetl_pg.pg_class as"
            " select 1 as x", DENIED, ("CREATE",), (sysviews_intact,)),
    Attempt("DROP a system view", "drop view svv_integration", DENIED, ("DROP",),
            (sysviews_intact,)),
    Attempt("CREATE MACRO", "create or replace macro version() as 'pwned'", DENIED, ("CREATE",),
            (sysviews_intact,)),
    Attempt("CREATE SECRET", "create secret s (type s3, key_id 'a', secret 'b')", DENIED,
            ("CREATE",)),
    Attempt("CREATE TABLE in a replica", "create table {db}.{src}.t (a int)", READ_ONLY,
            ("read-only",)),
    Attempt("ALTER a replica", "alter table {db}.{src}.category add column x int", READ_ONLY,
            ("read-only",), (category_intact,)),
    Attempt("USE", "use {db}", DENIED, ("USE",)),
    Attempt("PREPARE", "prepare p as select 1", DENIED, ("PREPARE",)),
    Attempt("EXECUTE", "execute p", DENIED, ("EXECUTE",)),
    # --- settings that weaken the sandbox -------------------------------------------------
    Attempt("external access back on", "set enable_external_access = true", DENIED,
            ("enable_external_access",), (setting_shows("enable_external_access", None),)),
    Attempt("allowed_directories", "set allowed_directories = ['/']", DENIED,
            ("allowed_directories",), (setting_shows("allowed_directories", None),)),
    Attempt("memory_limit", "set memory_limit = '100GB'", DENIED, ("memory_limit",),
            (setting_shows("memory_limit", None),)),
    Attempt("SET GLOBAL", "set global threads = 1", DENIED, ("threads",)),
    Attempt("SET VARIABLE", "set variable x = 1", DENIED, ("VARIABLE",)),
    Attempt("RESET a DuckDB option", "reset lock_configuration", DENIED,
            ("lock_configuration",)),
    Attempt("search_path to the catalog emulation", "set search_path to _zeroetl_pg", DENIED,
            ("_zeroetl_pg",)),
    # --- several statements in one string --------------------------------------------------
    Attempt("second statement writes", "select 1; update {db}.{src}.category set catdesc ="
            " 'TAMPERED'", READ_ONLY, ("read-only",), (category_intact,)),
    Attempt("second statement attaches", "select 1; attach '{tmp}/x.duckdb' as x", DENIED,
            ("ATTACH",), (no_file("{tmp}/x.duckdb"),)),
    Attempt("two statements in one Parse", "select 1; attach '{tmp}/y.duckdb' as y", DENIED,
            ("MULTIPLE STATEMENTS",), (no_file("{tmp}/y.duckdb"),), prepare=True),
]
# fmt: on


@pytest.fixture(scope="module")
def ctx(mariadb_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    # A small memory limit, so that the memory-hungry probes stay small on a shared machine.
    wh = Warehouse.start(
        mariadb_server, tmp_path_factory.mktemp("sandbox"), "--memory-limit", "1GB"
    )
    scratch = tmp_path_factory.mktemp("scratch")
    try:
        yield Ctx(wh, scratch)
        wh.healthy()
        wh.stop()
    finally:
        wh.serve.kill()


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40 and len({a.name for a in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("attempt", CORPUS, ids=lambda a: a.name)
def test_escape_is_refused_without_effect(ctx: Ctx, attempt: Attempt) -> None:
    sql = ctx.fmt(attempt.sql)
    dbname = ctx.fmt(attempt.dbname) if attempt.dbname != "sbx_wh" else ctx.wh.target
    with ctx.wh.connect(dbname) as conn:
        for stmt in attempt.setup:
            conn.execute(ctx.fmt(stmt))
        with pytest.raises(psycopg.Error) as err:
            if attempt.prepare:
                conn.execute(sql, prepare=True).fetchall()
            elif attempt.params is not None:
                conn.execute(sql, attempt.params).fetchall()
            else:
                conn.execute(sql).fetchall()
        e = err.value
        assert e.sqlstate == attempt.state, (e.sqlstate, str(e))
        message = e.diag.message_primary or ""
        for fragment in attempt.says:
            assert fragment.lower() in message.lower(), message
        # The session stays usable after a refusal.
        assert conn.execute("select 1").fetchone() == (1,)
    for check in attempt.no_effect:
        check(ctx)


def test_the_system_view_is_never_shadowed(ctx: Ctx) -> None:
    """A replicated table named svv_integration is reached only by its qualified name."""
    sysviews_intact(ctx)
    with ctx.wh.connect(ctx.wh.target) as conn:
        got = conn.execute(f"select note from {ctx.wh.source_db}.svv_integration").fetchall()
        assert got == [("impostor",)]


def test_legit_queries_still_work(ctx: Ctx) -> None:
    with ctx.wh.connect(ctx.wh.target) as conn:
        conn.execute(f"set search_path to {ctx.wh.source_db}")
        assert conn.execute("select count(*) from category").fetchone() == (11,)
        assert conn.execute(
            "select catgroup, count(*) from category group by 1 order by 1"
        ).fetchall() == [("Concerts", 3), ("Shows", 3), ("Sports", 5)]
        assert conn.execute("select sum(x) from generate_series(1, 10) as t(x)").fetchone() == (55,)
        assert conn.execute("select count(*) from range(1000)").fetchone() == (1000,)
        assert conn.execute("select unnest([1, 2, 3])").fetchall() == [(1,), (2,), (3,)]
        assert conn.execute("select random() < 1, gen_random_uuid() is not null").fetchone() == (
            True,
            True,
        )
        assert conn.execute("select %s::int + 1", [41]).fetchone() == (42,)
        assert conn.execute("select nvl(null, 'x'), getdate() is not null").fetchone() == (
            "x",
            True,
        )
        plan = conn.execute("explain select * from category where catid = 3").fetchall()
        assert plan
        described = conn.execute("describe category").fetchall()
        assert [r[0] for r in described] == ["catid", "catgroup", "catname", "catdesc"]
        conn.execute("set timezone = 'America/New_York'")
        assert conn.execute("show timezone").fetchone() == ("America/New_York",)
        conn.execute("set statement_timeout = 5000")
        conn.execute("set application_name = 'bi-tool'")
        cur = conn.execute("select table_name, table_state from svv_integration_table_state")
        assert cur.fetchall()


def test_heavy_queries_never_stall_replication(ctx: Ctx) -> None:
    """A CPU-bound query and a memory-hungry one run over and over in two sessions while the
    source keeps writing: every change reaches the replica and the integration stays active."""
    probes = {
        "cpu": "select sum(i) from range(100000000000) t(i)",
        "memory": "select length(list(i)::varchar) from range(400000000) t(i)",
    }
    stop = threading.Event()
    outcomes: dict[str, set[str]] = {name: set() for name in probes}
    conns = {name: psycopg.connect(ctx.wh.dsn(), autocommit=True) for name in probes}

    def hammer(name: str) -> None:
        conn = conns[name]
        while not stop.is_set():
            try:
                conn.execute(probes[name]).fetchall()
                outcomes[name].add("done")
            except psycopg.Error as e:
                outcomes[name].add(e.sqlstate or "?")

    threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in probes]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: outcomes["memory"], "the memory probe to be stopped once", 60)
        base = ctx.wh.replica_events()
        for i in range(1, 6):
            ctx.wh.source(f"INSERT INTO events VALUES ({50_000 + i}, {i})")
            ctx.wh.wait_source_rows("events", base + i, timeout=60)
        assert ctx.wh.serve.state(ctx.wh.integration_id) == "active"
    finally:
        stop.set()
        for conn in conns.values():
            conn.cancel()
        for t in threads:
            t.join(30)
        for conn in conns.values():
            conn.close()
    # The memory probe was cut by the service (53200), never by the host running out of RAM.
    assert outcomes["memory"] <= {"53200", "57014"}, outcomes
    assert "done" not in outcomes["cpu"]


def test_client_text_cannot_forge_service_log_lines(ctx: Ctx) -> None:
    forged = "2026-11-30 12:00:00,000 INFO zeroetl.pgwire: admin logged in"
    dsn = ctx.wh.dsn().replace("user=admin", "user='mallory\n" + forged + "'")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn.replace(ctx.wh.serve.sql_password, "wrong"))
    log = ctx.wh.serve.log

    def logged() -> list[str]:
        return [line for line in log.read_text().splitlines() if "mallory" in line]

    lines = wait_for(logged, "the failed login in the service log", 10)
    # libpq's sslmode=prefer tries again without TLS after a failure: one line per attempt
    assert 1 <= len(lines) <= 2 and all("mallory\\n2026-11-30" in x for x in lines), lines
    assert not any(line.startswith(forged) for line in log.read_text().splitlines())
