"""What a WAL fold (CHECKPOINT) costs by WAL size and by where the changes land, DuckDB alone.

The writer folds the WAL between transactions once it passes `engine.wal_limit_mb` (64 MiB),
and is blocked meanwhile: the fold is lag. Would smaller, more frequent folds cut the lag tail?
This applies 1,000-row upsert batches as the DuckDB destination does (DELETE of the batch's keys,
then INSERT, one transaction each) to a `--rows`-row table of the lag bench's 8 columns until
the WAL reaches each `--limits` size, then times the CHECKPOINT; `--rounds` folds per size.
Patterns: `sweep` upserts keys in order over a 200k-key range (the lag bench's load: recent
rows), `random` upserts random keys of the whole table, `append` inserts new keys only.
Baseline: the largest limit (the default) in the same run; read ms per 1,000 rows.

    .venv/bin/python bench/fold_cost_bench.py [--rows 200000] [--limits 8,64]
                                              [--patterns sweep,random,append] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

COLS = "id BIGINT, a INT, b VARCHAR, c DECIMAL(12,2), d TIMESTAMP, e DOUBLE, f DATE, g VARCHAR"
FILL = ("SELECT i, i % 100000, 'name-' || i, (i % 1000000) / 100, TIMESTAMP '2020-01-01' + "
        "INTERVAL (i) SECOND, i / 7, DATE '2000-01-01' + (i % 10000)::INT, "
        "repeat('x', (i % 50)::INT) FROM range({lo}, {hi}) r(i)")  # fmt: skip
SWEEP = 200_000


def wal(path: Path) -> int:
    try:
        return os.stat(f"{path}.wal").st_size
    except FileNotFoundError:
        return 0


def keys(pattern: str, n: int, rows: int, step: int, rnd: random.Random) -> list[int]:
    if pattern == "random":
        return rnd.sample(range(rows), n)
    if pattern == "sweep":
        return [rows + (step * n + k) % SWEEP for k in range(n)]
    return [10 * rows + step * n + k for k in range(n)]


def run(
    pattern: str, limit_mb: int, args: argparse.Namespace, tmp: Path
) -> list[tuple[int, float]]:
    path = tmp / f"{pattern}-{limit_mb}.duckdb"
    con = duckdb.connect(str(path), config={"checkpoint_threshold": "4GiB"})
    con.execute(f"CREATE TABLE t ({COLS})")
    con.execute("INSERT INTO t " + FILL.format(lo=0, hi=args.rows + SWEEP))
    con.execute("CHECKPOINT")
    rnd, step, out = random.Random(1), 0, []
    for _ in range(args.rounds):
        n = 0
        while wal(path) < limit_mb << 20:
            batch = pa.table(
                {"id": pa.array(keys(pattern, 1000, args.rows, step, rnd), pa.int64())}
            )
            step += 1
            con.execute("BEGIN")
            if pattern != "append":
                con.execute("CREATE OR REPLACE TEMP TABLE nw AS SELECT * REPLACE (a + 1 AS a) "
                            "FROM t WHERE id IN (SELECT id FROM batch)")  # fmt: skip
                con.execute("DELETE FROM t WHERE id IN (SELECT id FROM batch)")
                con.execute("INSERT INTO t SELECT * FROM nw")
            else:
                con.execute(
                    "INSERT INTO t "
                    + FILL.format(lo=batch["id"][0], hi=batch["id"][-1].as_py() + 1)
                )
            con.execute("COMMIT")
            n += 1000
        t0 = time.perf_counter()
        con.execute("CHECKPOINT")
        out.append((n, time.perf_counter() - t0))
    con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--limits", default="8,64", help="WAL sizes in MiB")
    ap.add_argument("--patterns", default="sweep,random,append")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    limits = [int(x) for x in args.limits.split(",")]
    print(f"duckdb {duckdb.__version__}, {args.rows:,} rows, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in args.patterns.split(","):
            per_k = {}
            for limit in limits:
                folds = run(pattern, limit, args, Path(tmp))
                ms = [f"{s * 1000:.0f}" for _, s in folds]
                per_k[limit] = sum(s for _, s in folds) / sum(n for n, _ in folds) * 1e6
                print(f"  {pattern:<6} {limit:>4} MiB: {folds[0][0]:>9,} rows a fold, folds {', '.join(ms)} ms; "
                      f"{per_k[limit]:.2f} ms per 1,000 rows")  # fmt: skip
            base = per_k[max(limits)]
            print(
                f"  {pattern:<6} cost per row against {max(limits)} MiB: "
                + ", ".join(f"{lim} MiB {per_k[lim] / base:.2f}x" for lim in limits)
            )
            print(f"  load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
