"""Redshift-dialect queries on a ClickHouse-backed target database answer as on DuckDB.

TICKIT is loaded into the MariaDB fixture and written, with the schemas discovery reads, through
both destinations: DuckDBDestination (target database `tickitdb` on the test hub) and
ClickHouseDestination on embedded ClickHouse (chDB; target database `chtickit`). Every query of
the Redshift corpus and of the walkthrough runs through SqlSession on both, and the answers are
compared value by value, column names included. chDB runs one engine per process: the module
holds one directory open and closes it at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.integration.clickhouse_everyday import EVERYDAY
from tests.integration.test_sql_tickit import CORPUS
from tests.sql_backend import HubBackend, int_col

from zeroetl.destinations.clickhouse.destination import ClickHouseDestination
from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.sandbox import tickit
from zeroetl.server.sql.grants import Access
from zeroetl.server.sql.policy import Policy
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.server.sql.users_store import UserStore
from zeroetl.sources.mysql.discovery import load_schemas

pytestmark = pytest.mark.integration

CH_DB = "chtickit"


class ClickHouseHub(HubBackend):
    """The test hub, plus one target database replicated into ClickHouse."""

    def __init__(self, root: Path, ch: ClickHouseDestination) -> None:
        super().__init__(root)
        self.ch = ch
        self.loaded: dict[str, tuple[TableSchema, pa.Table]] = {}  # what was written
        self.http: object | None = None  # a second one, over HTTP (test below)

    def databases(self) -> list[str]:
        return sorted([*self.dests, CH_DB, *(["httptickit"] if self.http else [])])

    def query_destination(self, database: str) -> object | None:
        return {CH_DB: self.ch, "httptickit": self.http}.get(database)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, mariadb_server) -> Any:  # type: ignore[no-untyped-def]
    src = "tk_" + uuid.uuid4().hex[:8]
    conn = mariadb_server.root(None)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{src}`")
    conn.select_db(src)
    tickit.load(conn, database=src, scale=0.02, seed=0)
    root = Path(tmp_path_factory.mktemp("chwh"))
    ch = ClickHouseDestination.from_url(f"chdb://{root / 'ch'}", "chsql-test")
    backend = ClickHouseHub(root, ch)
    duck = backend.attach("tickitdb")
    # replicated as `demodb`, the walkthrough's name (what `zeroetl tickit queries` reads)
    db = "demodb"
    schemas = load_schemas(conn, [TableId(src, t) for t in tickit.TABLES])
    for t in tickit.TABLES:
        schema = dataclasses.replace(schemas[TableId(src, t)], id=TableId(db, t))
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{t}`")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        data = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
        backend.loaded[t] = (schema, data)
        for dest in (duck, ch):
            dest.create_table(schema)
            dest.write_chunk(schema, data)
            dest.save_table_status(TableStatus(schema.id, TableState.SYNCED))
    # a table in ClickHouse only: key 3 deleted (a tombstone, as the destination writes one),
    # key 4 updated (a later version): FINAL shows the current rows
    notes = TableSchema(TableId(db, "notes"), (int_col("id", False), ColumnSchema(
        "txt", LogicalType(Kind.STRING), True, "varchar(10)")), ("id",))  # fmt: skip
    ch.create_table(notes)
    ch.write_chunk(notes, pa.table({"id": pa.array([1, 2, 3, 4], pa.int32()),
                                    "txt": ["a", None, "c", "d"]}))  # fmt: skip
    ch.save_table_status(TableStatus(notes.id, TableState.SYNCED))
    ch._t.command(f"INSERT INTO `{db}`.`notes` (id, _version, _is_deleted) VALUES (3, 1, 1)")
    ch._t.command(f"INSERT INTO `{db}`.`notes` (id, txt, _version) VALUES (4, 'new', 1)")
    yield backend, conn, db
    conn.close()
    ch.close()


def _norm(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def one(v: Any) -> Any:
        if isinstance(v, Decimal | float | int) and not isinstance(v, bool):
            return round(float(v), 4)
        if hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) is not None:
            return v.replace(tzinfo=None)
        return v

    return [tuple(one(v) for v in r) for r in rows]


def _answer(s: SqlSession, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    r = s.execute(sql)
    out: list[tuple[Any, ...]] = []
    for b in r.batches:
        out.extend(zip(*(c.to_pylist() for c in b.columns), strict=True))
    return [c.name for c in r.columns or []], out


def _sessions(both: Any) -> tuple[SqlSession, SqlSession]:
    backend, _conn, db = both
    duck = SqlSession(backend, database="tickitdb", user="analyst")
    ch = SqlSession(backend, database=CH_DB, user="analyst")
    for s in (duck, ch):
        s.execute(f'SET search_path TO "{db}"')
    return duck, ch


def test_redshift_corpus_matches_duckdb(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    db = both[2]
    mismatched = []
    for title, redshift_sql, _mariadb in CORPUS:
        want_names, want = _answer(duck, redshift_sql.format(db="tickitdb", s=db))

        try:
            names, got = _answer(ch, redshift_sql.format(db=CH_DB, s=db))
        except SqlError as e:
            mismatched.append((title, f"{e.sqlstate} {e.message}"))
            continue
        if names != want_names:
            mismatched.append((title, f"columns {names} != {want_names}"))
        elif _norm(got) != _norm(want):
            mismatched.append((title, f"{got[:2]} != {want[:2]}"))
    assert not mismatched, mismatched


def test_everyday_queries_match_duckdb(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    mismatched = []
    for sql in EVERYDAY:
        want_names, want = _answer(duck, sql)
        try:
            names, got = _answer(ch, sql)
        except SqlError as e:
            mismatched.append((sql, f"{e.sqlstate} {e.message}"))
            continue
        if names != want_names or _norm(got) != _norm(want):
            mismatched.append((sql, f"{names} {got[:2]} != {want_names} {want[:2]}"))
    assert not mismatched, mismatched


def test_walkthrough_queries_match_duckdb(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    for title, sql in tickit.SAMPLE_QUERIES:
        want_names, want = _answer(duck, sql)
        names, got = _answer(ch, sql)
        assert names == want_names, title
        assert _norm(got) == _norm(want), title


def test_select_star_shows_the_current_rows_and_the_sources_columns(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    assert _answer(ch, "select * from notes order by id") == (
        ["id", "txt"],
        [(1, "a"), (2, None), (4, "new")],
    )
    names, _rows = _answer(ch, "select * from users limit 1")
    assert names == _answer(duck, "select * from users limit 1")[0]
    assert not {"_version", "_is_deleted", "_synced_at"} & set(names)


def test_result_types_for_postgresql(both) -> None:  # type: ignore[no-untyped-def]
    _duck, ch = _sessions(both)
    r = ch.execute(
        "select count(*) as n, sum(pricepaid) as total, min(saletime) as first, min(caldate) as d,"
        " max(username) as u from sales join date using (dateid) join users on sellerid = userid"
    )
    types = {c.name: c.type for c in r.columns or []}
    assert types["n"] == pa.int64()
    assert pa.types.is_decimal(types["total"])
    assert types["first"] == pa.timestamp("us")  # timestamp, the wall-clock value
    assert pa.types.is_date(types["d"]) and types["u"] == pa.string()


def test_refusals_and_errors_through_the_session(both) -> None:  # type: ignore[no-untyped-def]
    _duck, ch = _sessions(both)
    for sql, state in [
        ("delete from users", "0A000"),
        ("create table x as select * from users", "0A000"),
        ("select * from users settings readonly = 0", "42501"),
        ("select * from url('http://127.0.0.1:1/', 'CSV')", "42501"),
        ("select * from system.tables", "42501"),
        ("select * from nowhere", "42P01"),
        ("explain select * from users", "0A000"),
        ("select 1 / (userid - userid) from users", "22012"),
    ]:
        with pytest.raises(SqlError) as e:
            ch.execute(sql)
        assert e.value.sqlstate == state, (sql, e.value.message)
    # a query that failed while running leaves chDB's Arrow output clean for the next one
    with pytest.raises(SqlError):
        ch.execute("select 1 / (userid - userid) from users")
    names, rows = _answer(ch, "select count(*) as n from category")
    assert names == ["n"] and rows[0][0] > 0


def test_readonly_is_the_net_below_the_refusals(both) -> None:  # type: ignore[no-untyped-def]
    """What the translation never produces is still refused by ClickHouse itself."""
    from zeroetl.server.sql import clickhouse_run

    backend, _conn, db = both
    for sql in (
        f"INSERT INTO `{db}`.`category` (catid) SELECT 999",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/x', 'CSV')",
    ):
        with pytest.raises(SqlError) as e:
            clickhouse_run.query(backend.ch, sql, clickhouse_run.settings())
        assert e.value.sqlstate == "42501", e.value.message
    # and the result is bounded
    with pytest.raises(SqlError) as big:
        clickhouse_run.query(
            backend.ch, f"SELECT * FROM `{db}`.`users`", clickhouse_run.settings(result_bytes=1000)
        )
    assert big.value.sqlstate == "54000", big.value.message


def test_system_views_stay_on_the_hub_and_3_part_names_route(both) -> None:  # type: ignore[no-untyped-def]
    backend, _conn, db = both
    ch = SqlSession(backend, database=CH_DB, user="analyst")
    assert _answer(ch, "select current_database()")[1] == [(CH_DB,)]
    assert _answer(ch, "select count(*) from svv_integration")[1] == [(1,)]
    assert _answer(ch, "select count(*) from pg_catalog.pg_namespace")[1][0][0] > 0
    dev = SqlSession(backend, database="dev", user="analyst")
    sql = "select count(*) as n from {}.{}.category"
    assert _answer(dev, sql.format(CH_DB, db)) == _answer(dev, sql.format("tickitdb", db))
    with pytest.raises(SqlError) as e:
        dev.execute(f"select * from {CH_DB}.{db}.sales join tickitdb.{db}.users on true")
    assert e.value.sqlstate == "0A000"


def test_describe_and_grants(both) -> None:  # type: ignore[no-untyped-def]
    backend, _conn, db = both
    ch = SqlSession(backend, database=CH_DB, user="analyst")
    ch.execute(f'SET search_path TO "{db}"')
    _params, cols = ch.describe(
        "select catid, catname as name, count(*) from category group by 1, 2"
    )
    assert [c.name for c in cols or []] == ["catid", "name", "count"]
    policy = Policy(Access(UserStore(backend.root)))
    guarded = SqlSession(backend, database=CH_DB, user="nobody", policy=policy)
    with pytest.raises(SqlError) as e:
        guarded.execute(f"select * from {db}.category")
    assert e.value.sqlstate == "42501"


def test_psycopg_sees_postgresql_types(both) -> None:  # type: ignore[no-untyped-def]
    """Through the wire protocol (extended query, as psycopg sends it): the types announced."""
    import psycopg

    from zeroetl.server.pgwire import Authenticator, PgServer

    backend, _conn, db = both
    server = PgServer(
        "127.0.0.1",
        0,
        Authenticator({"analyst": "pw-analyst-1"}),
        lambda database, user: SqlSession(backend, database=database, user=user),
    )
    port = server.start_in_thread()
    try:
        dsn = f"host=127.0.0.1 port={port} user=analyst password=pw-analyst-1 dbname={CH_DB}"
        with psycopg.connect(dsn, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f'SET search_path TO "{db}"')
            cur.execute(
                "select count(*) as n, sum(pricepaid) as total, min(saletime) as first,"
                " min(caldate) as d, max(eventname) as e from sales join date using (dateid)"
                " join event using (eventid)"
            )
            oids = {c.name: c.type_code for c in cur.description or []}
            assert oids == {"n": 20, "total": 1700, "first": 1114, "d": 1082, "e": 25}
            n, total, first, _d, _e = cur.fetchone()  # type: ignore[misc]
            assert n > 0 and isinstance(total, Decimal) and first.tzinfo is None
            cur.execute("select top 2 catname from category order by catid")
            assert len(cur.fetchall()) == 2
            # parameters: bound as literals, a hostile string stays a string
            cur.execute(
                "select count(*) from category where catid <= %s and catgroup <> %s", (4, "x")
            )
            assert cur.fetchone() == (4,)
            cur.execute("select count(*) from category where catname = %s", ("x' or 1=1 --",))
            assert cur.fetchone() == (0,)
            cur.execute(
                "select count(*) from date where caldate < %s and %s is null",
                (dt.date(2008, 1, 11), None),
            )
            assert cur.fetchone() == (10,)
    finally:
        server.stop_in_thread()


def test_tables_not_synced_are_refused_as_on_duckdb(both) -> None:  # type: ignore[no-untyped-def]
    backend, _conn, db = both
    ch = SqlSession(backend, database=CH_DB, user="analyst")
    backend.ch.save_table_status(TableStatus(TableId(db, "notes"), TableState.FAILED, "bad row"))
    try:
        with pytest.raises(SqlError) as e:
            ch.execute(f"select * from {db}.notes")
        assert e.value.sqlstate == "55000" and "Failed (bad row)" in e.value.message
        backend.options[CH_DB] = {"query_all_states": True}
        assert len(_answer(ch, f"select * from {db}.notes")[1]) == 3
    finally:
        backend.options.pop(CH_DB, None)
        backend.ch.save_table_status(TableStatus(TableId(db, "notes"), TableState.SYNCED))


def test_failing_queries_do_not_disturb_concurrent_ones(both) -> None:  # type: ignore[no-untyped-def]
    """chDB hands a failed Arrow query's leftover output to the next one in any thread: the
    transport serialises Arrow reads and clears it (destinations/clickhouse/conn.py)."""
    import threading

    backend, _conn, db = both
    t = backend.ch._t
    problems: list[str] = []

    def failing() -> None:
        for _ in range(40):
            try:
                t.query(f"SELECT intDiv(1, catid - catid) FROM `{db}`.`category`")
            except Exception as e:
                if "Division by zero" not in str(e):
                    problems.append(str(e)[:80])

    def counting() -> None:
        for _ in range(40):
            try:
                if t.query(f"SELECT count() AS c FROM `{db}`.`category`").num_rows != 1:
                    problems.append("wrong result")
            except Exception as e:
                problems.append(str(e)[:80])

    threads = [threading.Thread(target=f) for f in (failing, counting, counting)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not problems, problems[:3]


def test_tickit_queries_command_on_clickhouse(both, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`zeroetl tickit queries` against the endpoint, the target database in ClickHouse."""
    from click.testing import CliRunner

    from zeroetl.cli.main import cli
    from zeroetl.server.pgwire import Authenticator, PgServer

    backend, _conn, _db = both
    server = PgServer(
        "127.0.0.1",
        0,
        Authenticator({"admin": "pw-admin-12"}),
        lambda database, user: SqlSession(backend, database=database, user=user),
    )
    port = server.start_in_thread()
    try:
        args = ["tickit", "queries", "--warehouse", str(tmp_path), "--host", "127.0.0.1"]
        args += ["--port", str(port), "--database", CH_DB]
        out = CliRunner().invoke(cli, args, env={"ZEROETL_SQL_PASSWORD": "pw-admin-12"})
    finally:
        server.stop_in_thread()
    assert out.exit_code == 0, out.output
    assert "San Diego" in out.output and out.output.count("-- ") >= len(tickit.SAMPLE_QUERIES)


def test_over_http_as_over_chdb(both, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same route over the `clickhouse://` transport (clickhouse-connect, settings as
    request parameters) against ClickHouse's engine behind the test-only HTTP front."""
    from tests.destinations.conftest import start_chdb_http

    backend, _conn, db = both
    server, url = start_chdb_http(tmp_path / "srv")
    http = ClickHouseDestination.from_url(url, "chsql-http")
    try:
        for t in ("sales", "event", "category", "date", "users", "venue", "listing"):
            schema, data = backend.loaded[t]
            http.create_table(schema)
            http.write_chunk(schema, data)
        backend.http = http
        duck = SqlSession(backend, database="tickitdb", user="analyst")
        over = SqlSession(backend, database="httptickit", user="analyst")
        for s in (duck, over):
            s.execute(f'SET search_path TO "{db}"')
        for title, sql in tickit.SAMPLE_QUERIES[:6]:
            want_names, want = _answer(duck, sql)
            names, got = _answer(over, sql)
            assert names == want_names and _norm(got) == _norm(want), title
        for sql, state in [("delete from users", "0A000"), ("select 1/0 from users", "22012")]:
            with pytest.raises(SqlError) as e:
                over.execute(sql)
            assert e.value.sqlstate == state, e.value.message
    finally:
        backend.http = None
        http.close()
        server.kill()
        server.wait()
