"""COPY ... TO STDOUT over the wire (psql's \\copy, psycopg's copy()), and what is not COPY TO
STDOUT staying with the SQL layer; a statement that fails at Parse registers nothing."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.pgwire_standin import PASSWORD, Endpoint, make_database

from zeroetl.server.pgwire.copyout import CopyError, CopyOut, parse_copy_to_stdout


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("COPY ( select * from t ) TO STDOUT csv header",
         CopyOut("select * from t", csv=True, header=True, delimiter=",", null="")),
        ("copy (select ')' as x, $$)$$ /* ) */) to stdout with (format csv, header true);",
         CopyOut("select ')' as x, $$)$$ /* ) */", csv=True, header=True, delimiter=",", null="")),
        ("COPY demodb.public.\"Cat\" (a, \"B\") TO STDOUT",
         CopyOut('SELECT a, "B" FROM demodb.public."Cat"')),
        ("copy t to stdout delimiter as '|' null 'NULL'",
         CopyOut("SELECT * FROM t", delimiter="|", null="NULL")),
        ("copy t to stdout (format text, header)", CopyOut("SELECT * FROM t", header=True)),
    ],
)  # fmt: skip
def test_copy_to_stdout_is_recognised(sql: str, want: CopyOut) -> None:
    assert parse_copy_to_stdout(sql) == want


@pytest.mark.parametrize(
    "sql",
    [
        "copy (select 1) to '/tmp/x.csv'",
        "copy t to program 'ls'",
        "copy t from stdin",
        "copy t from '/etc/passwd'",
        "copy t; select 1 to stdout",
        "select 1",
        "copy (select 1 to stdout",
    ],
)
def test_everything_else_is_not_copy_to_stdout(sql: str) -> None:
    assert parse_copy_to_stdout(sql) is None


@pytest.mark.parametrize(
    ("sql", "state"),
    [
        ("copy t to stdout binary", "0A000"),
        ("copy t to stdout (format parquet)", "22023"),
        ("copy t to stdout (program 'ls')", "42601"),
        ("copy t to stdout force_quote *", "42601"),
        ("copy (select 1) to stdout; drop table t", "42601"),  # one statement only
    ],
)
def test_unsupported_options_are_refused(sql: str, state: str) -> None:
    with pytest.raises(CopyError) as err:
        parse_copy_to_stdout(sql)
    assert err.value.sqlstate == state


# --------------------------------------------------------------------------- over the wire


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    con = make_database(Path(tmp_path_factory.mktemp("pgwire")) / "w.duckdb")
    con.execute("CREATE TABLE tricky (id INTEGER, s VARCHAR)")
    con.execute(
        "INSERT INTO tricky VALUES (1, 'a,b'), (2, 'say \"hi\"'), (3, e'two\\nlines'),"
        " (4, ''), (5, NULL), (6, e'tab\\there'), (7, 'back\\slash')"
    )
    ep = Endpoint(con)
    yield ep
    ep.close()
    con.close()


def _psql(ep: Endpoint, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=PASSWORD, PGCONNECT_TIMEOUT="10")
    conninfo = f"host=127.0.0.1 port={ep.port} user=admin dbname=dev"
    return subprocess.run(
        ["psql", conninfo, "-X", "-v", "ON_ERROR_STOP=1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_psql_copy_to_a_file_is_csv(endpoint: Endpoint, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    r = _psql(endpoint, "-c", f"\\copy (select * from tricky order by id) to '{out}' csv header")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "COPY 7"
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows == [
        ["id", "s"], ["1", "a,b"], ["2", 'say "hi"'], ["3", "two\nlines"], ["4", ""], ["5", ""],
        ["6", "tab\there"], ["7", "back\\slash"],
    ]  # fmt: skip
    # NULL is an empty unquoted field, '' a quoted one (PostgreSQL's CSV)
    assert '\n4,""\n5,\n' in out.read_text()


def test_psycopg_copy_text_format(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn()) as conn, conn.cursor() as cur:
        buf = bytearray()
        with cur.copy("COPY (select * from tricky order by id) TO STDOUT") as copy:
            for chunk in copy:
                buf += chunk
        assert cur.rowcount == 7
        assert bytes(buf).decode().split("\n") == [
            "1\ta,b", '2\tsay "hi"', "3\ttwo\\nlines", "4\t", "5\t\\N", "6\ttab\\there",
            "7\tback\\\\slash", "",
        ]  # fmt: skip
        # and the parsed rows come back equal through psycopg's own text parser
        with cur.copy("COPY tricky (id, s) TO STDOUT (FORMAT text, HEADER false)") as copy:
            got = sorted(copy.rows())
        assert got[4] == ("5", None) and got[2] == ("3", "two\nlines")
        # the session goes on, and a bad COPY is an error without breaking it
        with (
            pytest.raises(psycopg.errors.FeatureNotSupported),
            cur.copy("COPY tricky TO STDOUT BINARY") as copy,
        ):
            list(copy)
        conn.rollback()
        assert cur.execute("select 42").fetchone() == (42,)


def test_failed_parse_registers_nothing(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from missing_table where id = %s", [1], prepare=True)
        # psycopg names its statements _pg3_0, _pg3_1...: the failed one left no name behind
        assert conn.execute("select %s::int + 1", [1], prepare=True).fetchone() == (2,)
        assert conn.execute("select %s::int + 2", [1], prepare=True).fetchone() == (3,)


def test_rows_conform_to_the_statement_description() -> None:
    from dataclasses import dataclass

    import pyarrow as pa

    from zeroetl.server.pgwire.portals import ConformError, RowSource

    @dataclass
    class Col:
        name: str
        type: pa.DataType

    def source(values: list[object]) -> RowSource:
        arr = pa.array(values)
        batch = pa.RecordBatch.from_arrays([arr], names=["x"])
        return RowSource([Col("x", arr.type)], iter([batch]))

    small = source([1, 2])  # INTEGER at run time, BIGINT when described
    small.conform([Col("x", pa.int64())])
    assert small.codecs[0].pg.oid == 20
    assert small.next_slice(10).column(0).type == pa.int64()
    unknown = source([7])  # NULL when described (no declared type): text
    unknown.conform([Col("x", pa.null())])
    assert unknown.codecs[0].pg.oid == 25 and unknown.next_slice(10).column(0).to_pylist() == ["7"]
    big = source([2**40])
    big.conform([Col("x", pa.int32())])
    with pytest.raises(ConformError) as err:
        big.next_slice(10)
    assert err.value.sqlstate == "22003"
