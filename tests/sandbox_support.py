"""A served warehouse with one replicated MySQL database, for the SQL sandbox tests.

`Warehouse.start(...)` loads a small database into the session's MariaDB, runs `zeroetl serve`
(extra flags allowed), creates an integration and its target database over the SQL endpoint and
waits until every table is Synced. Analysts connect with `connect()` (psycopg, autocommit).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.service_support import Serve, wait_for
from zeroetl.sandbox.mariadb import MariaDBServer

CATEGORIES = [
    (1, "Sports", "MLB", "Major League Baseball"),
    (2, "Sports", "NHL", "National Hockey League"),
    (3, "Sports", "NFL", "National Football League"),
    (4, "Sports", "NBA", "National Basketball Association"),
    (5, "Sports", "MLS", "Major League Soccer"),
    (6, "Shows", "Musicals", "Musical theatre"),
    (7, "Shows", "Plays", "All non-musical theatre"),
    (8, "Shows", "Opera", "All opera and light opera"),
    (9, "Concerts", "Pop", "All rock and pop music concerts"),
    (10, "Concerts", "Jazz", "All jazz singers and bands"),
    (11, "Concerts", "Classical", "All symphony, concerto, and choir concerts"),
]


@dataclass
class Warehouse:
    serve: Serve
    mariadb: MariaDBServer
    source_db: str  # MySQL database replicated
    target: str  # target database on the SQL endpoint
    integration_id: str

    @property
    def path(self) -> Path:
        return self.serve.warehouse

    @classmethod
    def start(
        cls,
        mariadb: MariaDBServer,
        root: Path,
        *serve_args: str,
        source_db: str = "sbx",
        target: str = "sbx_wh",
    ) -> Warehouse:
        conn = mariadb.root()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {source_db}")
            cur.execute(f"CREATE DATABASE {source_db}")
            cur.execute(
                f"CREATE TABLE {source_db}.category (catid SMALLINT PRIMARY KEY, catgroup"
                " VARCHAR(10), catname VARCHAR(10), catdesc VARCHAR(50))"
            )
            cur.executemany(f"INSERT INTO {source_db}.category VALUES (%s, %s, %s, %s)", CATEGORIES)
            # A table named like a system view: it must never shadow the view.
            cur.execute(
                f"CREATE TABLE {source_db}.svv_integration (id INT PRIMARY KEY, note VARCHAR(20))"
            )
            cur.execute(f"INSERT INTO {source_db}.svv_integration VALUES (1, 'impostor')")
            cur.execute(f"CREATE TABLE {source_db}.events (id INT PRIMARY KEY, v INT)")
            cur.execute(f"INSERT INTO {source_db}.events VALUES (1, 1)")
        conn.close()
        serve = Serve(root / "wh", root / "serve.log", *serve_args)
        serve.start()
        try:
            created = serve.ok(
                "POST",
                "/v1/integrations",
                {
                    "name": "sandbox",
                    "source": mariadb.url(),
                    "data_filter": f"include: {source_db}.*",
                },
            )
            with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
                dev.execute(f"CREATE DATABASE {target} FROM INTEGRATION '{created['id']}'")
            wh = cls(serve, mariadb, source_db, target, created["id"])
            serve.wait_state(created["id"], "active", timeout=120)
            wh.wait_source_rows("events", 1)
            return wh
        except BaseException:
            serve.kill()
            raise

    def dsn(self, dbname: str = "dev") -> str:
        return self.serve.sql_dsn(dbname)

    @contextmanager
    def connect(self, dbname: str = "dev", **kw: Any) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.dsn(dbname), autocommit=True, **kw) as conn:
            yield conn

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    def source(self, *statements: str) -> None:
        conn = self.mariadb.root(self.source_db)
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        conn.close()

    def wait_source_rows(self, table: str, rows: int, timeout: float = 60) -> None:
        """Wait until the replica of `table` holds `rows` rows (read through the API)."""
        self.serve.wait_rows(self.integration_id, f"{self.source_db}.{table}", rows, timeout)

    def replica_events(self) -> int:
        return int(self.query(f"select count(*) from {self.target}.{self.source_db}.events")[0][0])

    def healthy(self) -> None:
        """A normal query answers and replication still flows."""
        got = self.query(
            f"select catid, catdesc from {self.target}.{self.source_db}.category order by catid"
        )
        assert got == [(c[0], c[3]) for c in CATEGORIES], got
        before = self.replica_events()
        self.source(f"INSERT INTO events VALUES ({before + 1000}, 0)")
        wait_for(lambda: self.replica_events() == before + 1, "a new row to replicate", 60)

    def stop(self) -> None:
        self.serve.stop()
