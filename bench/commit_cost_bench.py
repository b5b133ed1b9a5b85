"""CPU of one small warehouse commit, by source tree, alternated: what an integration pays for a
transaction of one changed row (a heartbeat, or --rows of them; an idle integration of a busy service makes ten a
second). Each run, in a child process on its own warehouse, opens a target database the way
`zeroetl serve` does (a sandboxed in-memory hub that ATTACHes it, so no replacement scans) or
`zeroetl replicate` does (`--standalone`), then times --commits transactions made of the
engine's calls for one commit: begin, apply_changes (one upserted row), save_checkpoint,
record_tables_activity (one table), record_activity, commit. Reports the calling thread's CPU
per commit (DuckDB runs these small statements on the calling thread) and the wall time.

    .venv/bin/python bench/commit_cost_bench.py --trees /tmp/before/src,- [--commits 2000] [--rows 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path
import pyarrow as pa
from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.model import (ColumnSchema, Kind, LogicalType, Position, TableActivity, TableId,
                           TableSchema)
from zeroetl.service.hub import database_path, open_hub

wh, commits, standalone = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
n = int(sys.argv[4])
if standalone:
    dest = DuckDBDestination(wh / "bench.duckdb", "bench")
else:
    hub = open_hub(wh)
    dest = DuckDBDestination(database_path(wh, "bench"), "bench", hub=hub.con, catalog="bench")
I64, STR = LogicalType(Kind.INT64), LogicalType(Kind.STRING)
s = TableSchema(TableId("db", "heartbeat"), (ColumnSchema("id", I64), ColumnSchema("ts", STR)),
                ("id",))
dest.create_table(s)
arrow = pa.schema([pa.field("__seq", pa.int64()), pa.field("__del", pa.bool_()),
                   *s.arrow_schema()])


def one(i):
    t0 = datetime.now(UTC)
    dest.begin()
    dest.apply_changes(s, pa.table({"__seq": range(n), "__del": [False] * n, "id": range(n),
                                    "ts": [str(i)] * n}, schema=arrow))
    pos = Position("mysql-bin.000001", 1000 + i, f"0-1-{i}")
    dest.save_checkpoint(pos)
    dest.record_tables_activity(checkpoint=pos, transaction_id=f"0-1-{i}",
                                tables=[TableActivity(s.id, 0, n, 0, 20 * n)])
    dest.record_activity(checkpoint=pos, checkpoint_type="cdc", checkpoint_bytes=20 * n,
                         commit_ts=t0, modified_tables=1, start=t0, end=datetime.now(UTC))
    dest.commit()


for i in range(50):  # warm-up
    one(i)
w0, c0 = time.perf_counter(), time.thread_time()
for i in range(50, 50 + commits):
    one(i)
wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
dest.close()
print(json.dumps({"cpu_us": cpu / commits * 1e6, "wall_us": wall / commits * 1e6}))
"""


def run(tree: str, commits: int, standalone: bool, rows: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
    if tree != "-":
        env["PYTHONPATH"] = tree
    with tempfile.TemporaryDirectory(prefix="commitcost-") as wh:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, wh, str(commits), "1" if standalone else "0", str(rows)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        raise SystemExit(f"{tree}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", default="-", help="comma-separated src dirs; '-': installed")
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--standalone", action="store_true", help="a file of its own, no hub")
    ap.add_argument("--rows", type=int, default=1, help="rows updated a commit (one table)")
    args = ap.parse_args()
    trees = args.trees.split(",")
    got: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for t in trees:
            res = run(t, args.commits, args.standalone, args.rows)
            got[t].append(res)
            print(f"round {r + 1} {t}: {res['cpu_us']:.0f} us CPU, {res['wall_us']:.0f} us wall")
    load = os.getloadavg()[0]
    print(f"median of {args.rounds} rounds (load average {load:.1f}):")
    first = statistics.median(x["cpu_us"] for x in got[trees[0]])
    for t in trees:
        cpu = statistics.median(x["cpu_us"] for x in got[t])
        wall = statistics.median(x["wall_us"] for x in got[t])
        # The ratio of each round's pair too: runs drift with the machine's load, and a pair run
        # back to back shares most of it.
        paired = statistics.median(
            b["cpu_us"] / a["cpu_us"] for a, b in zip(got[trees[0]], got[t], strict=True)
        )
        print(
            f"  {t}: {cpu:.0f} us CPU a commit ({cpu / first:.2f}x the first; median of the"
            f" rounds' ratios {paired:.2f}x), {wall:.0f} us wall"
        )


if __name__ == "__main__":
    main()
