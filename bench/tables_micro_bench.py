"""DuckDB alone: the cost of writing a few rows into each of many tables in one transaction.

Each way of writing 10 rows into each of `--tables` file-backed tables (id BIGINT, a INTEGER,
b VARCHAR; 10 rows each, checkpointed) inside one transaction, then COMMIT: CPU per table of
the statements and of the COMMIT, the ways alternated over `--rounds` rounds in one process
(each round on a fresh copy of the same file). No MariaDB, no zeroetl engine.

    .venv/bin/python bench/tables_micro_bench.py [--tables 1000] [--rounds 3] [--only a b]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

Way = Callable[[duckdb.DuckDBPyConnection, int, pa.Table, int], None]


def rows(lo: int, n: int = 10) -> pa.Table:
    ids = list(range(lo, lo + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "a": pa.array([i % 1000 for i in ids], pa.int32()),
            "b": pa.array([f"r{i}" for i in ids], pa.string()),
        }
    )


def name(i: int) -> str:
    return f'"s"."m{i:05d}"'


# -- the ways ---------------------------------------------------------------------------------
def select_1(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.execute("SELECT 1")


def view(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.register("__v", data)
    con.execute(f"INSERT INTO {name(i)} SELECT * FROM __v")
    con.unregister("__v")


def scan(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    __b = data  # read by DuckDB, by name
    con.execute(f"INSERT INTO {name(i)} SELECT * FROM __b")


def relation(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.from_arrow(data).insert_into(name(i))


def append(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.append(name(i), data.to_pandas())


def values_params(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    n = data.num_rows
    params: list[Any] = []
    for r in data.to_pylist():
        params += [r["id"], r["a"], r["b"]]
    con.execute(f"INSERT INTO {name(i)} VALUES " + ", ".join(["(?, ?, ?)"] * n), params)


def values_literal(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    vals = ", ".join(f"({r['id']}, {r['a']}, '{r['b']}')" for r in data.to_pylist())
    con.execute(f"INSERT INTO {name(i)} VALUES {vals}")


def executemany(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.executemany(
        f"INSERT INTO {name(i)} VALUES (?, ?, ?)", [tuple(r.values()) for r in data.to_pylist()]
    )


def appender(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    ap = con.appender(name(i))
    ap.append_rows([tuple(r.values()) for r in data.to_pylist()])
    ap.flush()


def delete_literal(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    # The update path of a small slice: DELETE of its keys as constants, then INSERT.
    keys = ", ".join(str(k) for k in data.column("id").to_pylist())
    con.execute(f"DELETE FROM {name(i)} WHERE id IN ({keys})")
    scan(con, i, data, lo)


def engine_shape(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    # The engine's slice (apply.insert_unique_sql): `__seq`, `__del`, then the columns.
    n = data.num_rows
    __b = pa.table(  # read by DuckDB, by name
        {
            "__seq": pa.array(range(n), pa.int64()),
            "__del": pa.array([False] * n),
            **data.to_pydict(),
        }
    )
    con.execute(
        f'INSERT INTO {name(i)} ("id", "a", "b") SELECT "id", "a", "b" FROM __b WHERE NOT "__del"'
    )


def capsule(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    # The engine's slice, its deletes filtered out and its columns picked in Arrow, read as one
    # Arrow stream with `SELECT *` (no projection or filter for DuckDB to push into the scan).
    n = data.num_rows
    changes = pa.table(
        {
            "__seq": pa.array(range(n), pa.int64()),
            "__del": pa.array([False] * n),
            **data.to_pydict(),
        }
    )
    rows = changes.filter(pc.invert(changes.column("__del"))).select(["id", "a", "b"])
    __b = rows.__arrow_c_stream__()  # read by DuckDB, by name
    con.execute(f'INSERT INTO {name(i)} ("id", "a", "b") SELECT * FROM __b')


def same_table(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    # Every INSERT into one table: the statement's cost without a new table each time.
    scan(con, 0, data, lo)


def delete_only(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    keys = ", ".join(str(k) for k in data.column("id").to_pylist())
    con.execute(f"DELETE FROM {name(i)} WHERE id IN ({keys})")


def select_table(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.execute(f"SELECT count(*) FROM {name(i)} WHERE id IN (1, 2)").fetchall()


def _prepare(con: duckdb.DuckDBPyConnection, tables: int) -> None:
    # Once per table, before the transaction (a cache kept across commits).
    for i in range(tables):
        con.execute(
            f"PREPARE ins{i} AS INSERT INTO {name(i)} SELECT unnest($1::BIGINT[]), "
            "unnest($2::INTEGER[]), unnest($3::VARCHAR[])"
        )
        con.execute(
            f"PREPARE del{i} AS DELETE FROM {name(i)} WHERE list_contains($1::BIGINT[], id)"
        )


def execute_prepared(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.execute(f"EXECUTE ins{i}({_lists(data)})")


def _lists(data: pa.Table) -> str:
    d = data.to_pydict()
    b = ", ".join("'" + v.replace("'", "''") + "'" for v in d["b"])
    return f"{d['id']}, {d['a']}, [{b}]"


def execute_prepared_upd(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    con.execute(f"EXECUTE del{i}({data.column('id').to_pylist()})")
    con.execute(f"EXECUTE ins{i}({_lists(data)})")


def appender_update(con: duckdb.DuckDBPyConnection, i: int, data: pa.Table, lo: int) -> None:
    ap = con.appender(name(i), action="update", key=["id"])
    ap.append_rows([tuple(r.values()) for r in data.to_pylist()])
    ap.flush()


WAYS: dict[str, tuple[Way, bool]] = {  # way, whether its rows update existing keys
    "select_1": (select_1, False),
    "view": (view, False),
    "scan": (scan, False),
    "relation": (relation, False),
    "append": (append, False),
    "values_params": (values_params, False),
    "values_literal": (values_literal, False),
    "executemany": (executemany, False),
    "appender": (appender, False),
    "delete_literal+scan": (delete_literal, True),
    "appender_update": (appender_update, True),
    "same_table": (same_table, False),
    "engine_shape": (engine_shape, False),
    "capsule": (capsule, False),
    "execute_prepared": (execute_prepared, False),
    "execute_prepared_upd": (execute_prepared_upd, True),
    "delete_only": (delete_only, True),
    "select_table": (select_table, True),
}


SETTINGS: list[str] = []


def build(path: Path, tables: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA s")
    for i in range(tables):
        con.execute(f"CREATE TABLE {name(i)} (id BIGINT, a INTEGER, b VARCHAR)")
        con.from_arrow(rows(1)).insert_into(name(i))
    con.execute("CHECKPOINT")
    con.close()


def one(path: Path, way: Way, tables: int, update: bool, warm: bool) -> dict[str, float]:
    con = duckdb.connect(str(path), config={"memory_limit": "1GB"})
    data = [rows(1 if update else 11) for _ in range(tables)]
    for stmt in SETTINGS:
        con.execute(stmt)
    if warm:  # every table's blocks read once before, as in a process that has run a while
        for i in range(tables):
            con.execute(f"SELECT sum(id), max(b) FROM {name(i)}").fetchall()
    if "prepared" in way.__name__:
        _prepare(con, tables)
    con.execute("BEGIN")
    c0 = time.process_time()
    for i in range(tables):
        way(con, i, data[i], 1)
    c1 = time.process_time()
    con.execute("COMMIT")
    c2 = time.process_time()
    con.close()
    return {"stmt_ms": (c1 - c0) * 1e3 / tables, "commit_ms": (c2 - c1) * 1e3 / tables}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tables", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warm", action="store_true", help="read every table before the transaction")
    p.add_argument("--only", nargs="*", default=list(WAYS))
    p.add_argument("--set", nargs="*", default=[], help="statements run on each connection")
    a = p.parse_args()
    SETTINGS.extend(a.set)
    tmp = Path(tempfile.mkdtemp(prefix="tables-micro-"))
    try:
        base = tmp / "base.duckdb"
        build(base, a.tables)
        res: dict[str, list[dict[str, float]]] = {w: [] for w in a.only}
        for _ in range(a.rounds):
            for w in a.only:
                f = tmp / "run.duckdb"
                shutil.copy(base, f)
                try:
                    res[w].append(one(f, WAYS[w][0], a.tables, WAYS[w][1], a.warm))
                except (duckdb.Error, TypeError) as e:
                    print(f"{w}: {str(e).splitlines()[0]}")
                finally:
                    f.unlink(missing_ok=True)
                    Path(str(f) + ".wal").unlink(missing_ok=True)
        print(f"{a.tables} tables x 10 rows, one transaction; CPU ms a table, median of rounds")
        print(f"{'way':24} {'statements':>10} {'commit':>8} {'total':>8}")
        for w, rs in res.items():
            if not rs:
                continue
            s = statistics.median(r["stmt_ms"] for r in rs)
            c = statistics.median(r["commit_ms"] for r in rs)
            print(f"{w:24} {s:10.3f} {c:8.3f} {s + c:8.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
