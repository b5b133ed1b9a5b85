"""Redshift-dialect queries on a ClickHouse-backed target database answer as on DuckDB.

TICKIT is loaded into the MariaDB fixture and written, with the schemas discovery reads, through
both destinations: DuckDBDestination (target database `tickitdb` on the test hub) and
ClickHouseDestination on embedded ClickHouse (chDB; target database `chtickit`). Every query of
the Redshift corpus and of the walkthrough runs through SqlSession on both, and the answers are
compared value by value, column names included. chDB runs one engine per process: the module
holds one directory open and closes it at the end.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.integration.test_sql_tickit import CORPUS
from tests.sql_backend import HubBackend

from zeroetl.destinations.clickhouse.destination import ClickHouseDestination
from zeroetl.model import TableId, TableState, TableStatus
from zeroetl.sandbox import tickit
from zeroetl.server.sql.policy import Policy
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.sources.mysql.discovery import load_schemas

pytestmark = pytest.mark.integration

CH_DB = "chtickit"


class ClickHouseHub(HubBackend):
    """The test hub, plus one target database replicated into ClickHouse."""

    def __init__(self, root: Path, ch: ClickHouseDestination) -> None:
        super().__init__(root)
        self.ch = ch

    def databases(self) -> list[str]:
        return sorted([*self.dests, CH_DB])

    def query_destination(self, database: str) -> object | None:
        return self.ch if database == CH_DB else None


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, mariadb_server) -> Any:  # type: ignore[no-untyped-def]
    db = "tk_" + uuid.uuid4().hex[:8]
    conn = mariadb_server.root(None)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")
    conn.select_db(db)
    tickit.load(conn, database=db, scale=0.02, seed=0)
    root = Path(tmp_path_factory.mktemp("chwh"))
    ch = ClickHouseDestination.from_url(f"chdb://{root / 'ch'}", "chsql-test")
    backend = ClickHouseHub(root, ch)
    duck = backend.attach("tickitdb")
    schemas = load_schemas(conn, [TableId(db, t) for t in tickit.TABLES])
    for t in tickit.TABLES:
        schema = schemas[TableId(db, t)]
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{t}`")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        data = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
        for dest in (duck, ch):
            dest.create_table(schema)
            dest.write_chunk(schema, data)
            dest.save_table_status(TableStatus(schema.id, TableState.SYNCED))
    # a superseded version and a deleted key: FINAL must hide both
    users = schemas[TableId(db, "users")]
    first = pa.Table.from_pylist(rows_of(conn, "users", "userid <= 2"), schema=users.arrow_schema())
    ch.begin()
    ch.write_chunk(users, first)
    ch.commit()
    yield backend, conn, db
    conn.close()
    ch.close()


def rows_of(conn, table: str, where: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}` WHERE {where}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


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


def test_walkthrough_queries_match_duckdb(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    for title, sql in tickit.SAMPLE_QUERIES:
        want_names, want = _answer(duck, sql)
        names, got = _answer(ch, sql)
        assert names == want_names, title
        assert _norm(got) == _norm(want), title
