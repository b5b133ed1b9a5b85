"""A simple query on a ClickHouse-backed target database through the SQL layer, with the column
lists read from system.columns for every query (as before) and kept between queries (now).

In process (no wire): a SqlSession on a test hub whose target database `chdb_t` is a chDB
destination holding one table (`--rows` rows); the result cache is off, so every statement
runs on ClickHouse. Both modes alternate in one run, round by round: "uncached" empties the
kept column lists before each statement (clickhouse_run reads system.columns again, as every
query did before), "cached" keeps them. Prints median and p90 per mode and their ratio.

    .venv/bin/python bench/clickhouse_query_bench.py [--n 300] [--rows 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.sql_backend import HubBackend, int_col  # noqa: E402  (the tests' stand-in hub)

from zeroetl.destinations.clickhouse.destination import ClickHouseDestination  # noqa: E402
from zeroetl.model import (  # noqa: E402
    ColumnSchema,
    Kind,
    LogicalType,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.server.sql import clickhouse_run  # noqa: E402
from zeroetl.server.sql.session import SqlSession  # noqa: E402

DB = "chdb_t"
QUERIES = {
    "count": "select count(*) from demodb.sales",
    "point": "select id, amount from demodb.sales where id = 42",
}


class Hub(HubBackend):
    def __init__(self, root: Path, ch: ClickHouseDestination) -> None:
        super().__init__(root)
        self.ch = ch

    def databases(self) -> list[str]:
        return sorted([*self.dests, DB])

    def query_destination(self, database: str) -> object | None:
        return self.ch if database == DB else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="statements per query and mode")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ch = ClickHouseDestination.from_url(f"chdb://{root / 'ch'}", "query-bench")
        schema = TableSchema(
            TableId("demodb", "sales"),
            (int_col("id", False), ColumnSchema("amount", LogicalType(Kind.DECIMAL, 10, 2))),
            ("id",),
        )
        ch.create_table(schema)
        ids = list(range(args.rows))
        data = pa.table(
            {"id": pa.array(ids, pa.int32()), "amount": pa.array([i * 0.01 for i in ids])}
        ).cast(schema.arrow_schema())
        ch.write_chunk(schema, data)
        ch.save_table_status(TableStatus(schema.id, TableState.SYNCED))
        hub = Hub(root, ch)
        session = SqlSession(hub, database=DB, user="admin")
        session.execute("SET enable_result_cache_for_session TO off")
        times: dict[str, dict[str, list[float]]] = {
            q: {"uncached": [], "cached": []} for q in QUERIES
        }
        for q, sql in QUERIES.items():
            for _ in range(20):  # warm-up
                list(session.execute(sql).batches)
            for _ in range(args.n):
                for mode in ("uncached", "cached"):
                    if mode == "uncached":
                        clickhouse_run._catalogs.clear()
                    start = time.perf_counter()
                    list(session.execute(sql).batches)
                    times[q][mode].append((time.perf_counter() - start) * 1000)
        session.close()
        ch.close()
    result: dict[str, object] = {"load_average": os.getloadavg(), "n": args.n, "rows": args.rows}
    print(f"load average {os.getloadavg()[0]:.2f}; {args.n} statements per query and mode")
    print(f"{'query':8} {'uncached p50/p90 ms':>20} {'cached p50/p90 ms':>18} {'ratio p50':>10}")
    for q in QUERIES:
        u, c = times[q]["uncached"], times[q]["cached"]
        row = {
            "uncached_p50_ms": statistics.median(u),
            "uncached_p90_ms": statistics.quantiles(u, n=10)[-1],
            "cached_p50_ms": statistics.median(c),
            "cached_p90_ms": statistics.quantiles(c, n=10)[-1],
        }
        row["speedup_p50"] = row["uncached_p50_ms"] / row["cached_p50_ms"]
        result[q] = row
        print(
            f"{q:8} {row['uncached_p50_ms']:9.2f} / {row['uncached_p90_ms']:6.2f}"
            f" {row['cached_p50_ms']:9.2f} / {row['cached_p90_ms']:6.2f} {row['speedup_p50']:9.2f}x"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clickhouse_query_bench.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
