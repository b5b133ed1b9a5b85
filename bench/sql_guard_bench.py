"""What the SQL sandbox costs per statement: the same statements through one SqlSession on a
sandboxed hub, with the guard (sqlglot tree + DuckDB's own parse + policy) and without it.

No MariaDB needed: a target database with a 100k-row table is written straight into the hub.
The baseline (same run, same session) skips the policy checks and the DuckDB parse; rounds
alternate between the two so machine noise hits both alike.

    .venv/bin/python bench/sql_guard_bench.py [--rounds 5] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb

from zeroetl.server.sql import duckparse
from zeroetl.server.sql.session import SqlSession
from zeroetl.service.hub import database_path, open_hub

RESULTS = Path(__file__).resolve().parent / "results"

STATEMENTS = {
    "select 1": "select 1",
    "aggregate": "select qty, count(*), sum(price) from demodb.sales where id > 10 group by 1"
    " order by 2 desc limit 5",
    "psql \\dt": 'SELECT n.nspname as "Schema", c.relname as "Name", CASE c.relkind WHEN \'r\''
    " THEN 'table' WHEN 'v' THEN 'view' END as \"Type\", pg_catalog.pg_get_userbyid(c.relowner)"
    ' as "Owner" FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid ='
    " c.relnamespace WHERE c.relkind IN ('r','p','') AND n.nspname !~ '^pg_' ORDER BY 1,2",
}


class Backend:
    def __init__(self, hub: duckdb.DuckDBPyConnection) -> None:
        self.hub = hub

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.hub.cursor()

    def databases(self) -> list[str]:
        return ["bench"]

    def integrations(self) -> list[dict[str, object]]:
        return []

    def database_options(self, name: str) -> dict[str, object]:
        return {}


def _run(session: SqlSession, sql: str, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        for _batch in session.execute(sql).batches:
            pass
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200, help="statements per round")
    args = ap.parse_args()
    wh = Path(tempfile.mkdtemp(prefix="zeroetl-guard-bench-"))
    hub = open_hub(wh).con
    hub.execute(f"ATTACH '{database_path(wh, 'bench')}' AS bench")
    hub.execute("CREATE SCHEMA bench.demodb")
    hub.execute(
        "CREATE TABLE bench.demodb.sales AS SELECT i AS id, i % 7 AS qty, i * 1.5 AS price"
        " FROM range(100000) t(i)"
    )
    session = SqlSession(Backend(hub), database="bench", user="bench")  # type: ignore[arg-type]
    # every run must go through the guard and DuckDB: no result served from the result cache
    for _batch in session.execute("SET enable_result_cache_for_session TO off").batches:
        pass
    out: dict[str, Any] = {"rounds": args.rounds, "n": args.n, "statements": {}}
    print(f"{'statement':12} {'guarded ms':>11} {'unguarded ms':>13} {'overhead ms':>12}")
    for name, sql in STATEMENTS.items():
        _run(session, sql, 20)  # warm-up (catalog emulation, caches)
        ours, base = [], []
        for _ in range(args.rounds):
            ours.append(_run(session, sql, args.n))
            with (
                mock.patch.object(SqlSession, "_check", lambda self, touches: None),
                mock.patch.object(duckparse, "inspect", lambda con, text: []),
            ):
                base.append(_run(session, sql, args.n))
        o, b = min(ours) * 1000, min(base) * 1000
        out["statements"][name] = {
            "guarded_ms": round(o, 3),
            "unguarded_ms": round(b, 3),
            "overhead_ms": round(o - b, 3),
            "ratio": round(o / b, 3),
            "guarded_median_ms": round(statistics.median(ours) * 1000, 3),
        }
        print(f"{name:12} {o:11.2f} {b:13.2f} {o - b:12.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sql_guard_bench.json").write_text(json.dumps(out, indent=2))
    session.close()
    hub.close()
    shutil.rmtree(wh, ignore_errors=True)


if __name__ == "__main__":
    main()
