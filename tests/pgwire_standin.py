"""Test-only stand-in for the SQL layer (zeroetl.server.sql.session.SqlSession) and helpers.

It runs each statement on a DuckDB cursor unchanged: enough to exercise everything the wire layer
owns (auth, protocols, types, streaming, cancel) against a real DuckDB without depending on the
SQL layer's catalog emulation or dialect translation.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from zeroetl.server.pgwire import Authenticator, PgServer
from zeroetl.server.sql.session import Column, Result, SqlError

PASSWORD = "s3cret-pw"
BATCH_ROWS = 2048


_STATES = [
    (duckdb.InterruptException, "57014"),
    (duckdb.CatalogException, "42P01"),
    (duckdb.ParserException, "42601"),
    (duckdb.ConversionException, "22P02"),
    (duckdb.ConstraintException, "23505"),
    (duckdb.BinderException, "42703"),
    (duckdb.TransactionException, "25P02"),
]


def _sql_error(exc: duckdb.Error) -> SqlError:
    for cls, state in _STATES:
        if isinstance(exc, cls):
            return SqlError(state, str(exc))
    return SqlError("XX000", str(exc))


class StandInSession:
    """Runs SQL unchanged on its own DuckDB cursor."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, database: str, user: str) -> None:
        if database not in ("dev", "test", user):
            raise SqlError("3D000", f'database "{database}" does not exist')
        self.cur = con.cursor()
        self.cur.execute("SET arrow_lossless_conversion = true")  # keeps UUID and JSON typed
        self.in_transaction = False
        self.batches_produced = 0

    def split(self, sql: str) -> list[str]:
        # Lexical, not parsed: DuckDB cannot parse DECLARE/FETCH (the wire layer handles those).
        out, cur, quote = [], [], ""
        for ch in sql:
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == ";":
                out.append("".join(cur))
                cur = []
                continue
            cur.append(ch)
        out.append("".join(cur))
        return [s.strip() for s in out if s.strip()]

    def _stream(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                self.batches_produced += 1
                yield batch
        except duckdb.Error as exc:
            raise _sql_error(exc) from exc

    def execute(self, sql: str, params: Sequence[object] | None = None) -> Result:
        try:
            (stmt,) = duckdb.extract_statements(sql)
            kind = stmt.type
            word = sql.lstrip().split(None, 1)[0].upper()
            if kind == duckdb.StatementType.SELECT or word == "SHOW":
                rel = self.cur.sql(sql, params=list(params) if params else None)
                reader = rel.to_arrow_reader(BATCH_ROWS)
                cols = [Column(f.name, f.type) for f in reader.schema]
                return Result(cols, self._stream(reader), "SELECT")
            self.cur.execute(sql, list(params) if params else None)
            if kind == duckdb.StatementType.TRANSACTION:
                self.in_transaction = word in ("BEGIN", "START")
                return Result(None, iter(()), "BEGIN" if self.in_transaction else word)
            if kind in (
                duckdb.StatementType.INSERT,
                duckdb.StatementType.UPDATE,
                duckdb.StatementType.DELETE,
            ):
                row = self.cur.fetchone()
                n = row[0] if row else 0
                return Result(
                    None, iter(()), f"INSERT 0 {n}" if word == "INSERT" else f"{word} {n}"
                )
            if kind == duckdb.StatementType.CREATE:
                return Result(None, iter(()), "CREATE " + sql.split()[1].upper())
            return Result(None, iter(()), word)
        except duckdb.Error as exc:
            raise _sql_error(exc) from exc

    def describe(
        self, sql: str, probes: Sequence[object] = ()
    ) -> tuple[list[int], list[Column] | None]:
        n = sum(1 for i in range(1, 100) if f"${i}" in sql)
        (stmt,) = duckdb.extract_statements(sql)
        if stmt.type != duckdb.StatementType.SELECT:
            return [0] * n, None
        probe = sql
        for i in range(n, 0, -1):
            probe = probe.replace(f"${i}", "NULL")
        try:
            schema = self.cur.sql(probe).limit(0).to_arrow_table().schema
        except duckdb.Error as exc:
            raise _sql_error(exc) from exc
        return [0] * n, [Column(f.name, f.type) for f in schema]

    def cancel(self) -> None:
        self.cur.interrupt()

    def close(self) -> None:
        self.cur.close()


def make_database(path: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB file with a table of every common type and a big one."""
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE types (
          id INTEGER, b BOOLEAN, i2 SMALLINT, i4 INTEGER, i8 BIGINT, f4 REAL, f8 DOUBLE,
          n DECIMAL(12, 3), t VARCHAR, bt BLOB, d DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ,
          j JSON, u UUID, iv INTERVAL, li INTEGER[])
    """)
    con.execute("""
        INSERT INTO types VALUES
        (1, true, -12, 123456, 9007199254740993, 1.5, 2.25, 12345.678, 'héllo "world"', '\\x00\\xFFab'::BLOB,
         DATE '2024-02-29', TIME '13:14:15.5', TIMESTAMP '2024-02-29 13:14:15.123456',
         TIMESTAMPTZ '2024-02-29 13:14:15+00', '{"a": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
         INTERVAL '1 year 2 months 3 days 04:05:06.5', [1, NULL, 3]),
        (2, false, 0, -1, -5, -0.25, -1e100, -0.001, '', ''::BLOB, DATE '1999-12-31', TIME '00:00:00',
         TIMESTAMP '1970-01-01 00:00:00', TIMESTAMPTZ '1999-12-31 23:59:59.999+00', '[]',
         '00000000-0000-0000-0000-000000000000', INTERVAL '-3 hours', []),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    """)
    con.execute(
        "CREATE TABLE big AS SELECT range AS id, 'row ' || range AS label FROM range(300000)"
    )
    return con


EXPECTED_ROW1 = {
    "id": 1,
    "b": True,
    "i2": -12,
    "i4": 123456,
    "i8": 9007199254740993,
    "f4": 1.5,
    "f8": 2.25,
    "t": 'héllo "world"',
    "bt": b"\x00\xffab",
    "d": dt.date(2024, 2, 29),
    "tm": dt.time(13, 14, 15, 500000),
    "ts": dt.datetime(2024, 2, 29, 13, 14, 15, 123456),
    "tz": dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=dt.UTC),
    "j": {"a": [1, 2]},
    "li": [1, None, 3],
}


class Endpoint:
    """A PgServer on a free port in its own thread, over one DuckDB connection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.con = con
        self.sessions: list[StandInSession] = []
        self._lock = threading.Lock()
        auth = Authenticator({"admin": PASSWORD, "analyst": "analyst-pw"})
        self.server = PgServer("127.0.0.1", 0, auth, self._factory, ssl_context)
        self.port = self.server.start_in_thread()

    def _factory(self, database: str, user: str) -> StandInSession:
        s = StandInSession(self.con, database=database, user=user)
        with self._lock:
            self.sessions.append(s)
        return s

    def dsn(
        self, user: str = "admin", password: str = PASSWORD, dbname: str = "dev", **extra: str
    ) -> str:
        parts = [f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} password={password}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def close(self) -> None:
        self.server.stop_in_thread()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
