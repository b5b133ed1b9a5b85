"""Apply 20k-change batches to a 1M-row, 8-column DuckDB table: our strategy vs INSERT OR REPLACE.

ours:     DuckDBDestination.apply_changes (DELETE ... USING + INSERT ... SELECT QUALIFY last per
          key) on a table without PRIMARY KEY, plus save_checkpoint, one transaction per batch.
baseline: the same table WITH a PRIMARY KEY: reduce to the last change per key, DELETE the keys
          whose last change is a delete, INSERT OR REPLACE the others, checkpoint row, commit.

Both get identical batches (60% updates, 20% inserts, 20% deletes, keys may repeat within a
batch) and must end with identical tables. Prints changes/s and writes bench/results/*.json.

    .venv/bin/python bench/apply_bench.py [--rows 1000000] [--batch 20000] [--batches 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.model import ColumnSchema, Kind, LogicalType, Position, TableId, TableSchema

L = LogicalType
SCHEMA = TableSchema(
    TableId("bench", "t"),
    (
        ColumnSchema("id", L(Kind.INT64)),
        ColumnSchema("a", L(Kind.INT32)),
        ColumnSchema("b", L(Kind.INT64)),
        ColumnSchema("c", L(Kind.FLOAT64)),
        ColumnSchema("d", L(Kind.STRING)),
        ColumnSchema("e", L(Kind.TIMESTAMP)),
        ColumnSchema("f", L(Kind.DECIMAL, 12, 2)),
        ColumnSchema("g", L(Kind.STRING)),
    ),
    ("id",),
)
CHANGES = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *SCHEMA.arrow_schema()])
COLS = ", ".join(SCHEMA.names)
FILL = """
SELECT range AS id, (range % 1000)::INTEGER AS a, range * 7 AS b, range / 3.0 AS c,
       'name-' || range AS d, TIMESTAMP '2020-01-01' + to_microseconds(range) AS e,
       (range % 100000 / 100)::DECIMAL(12,2) AS f, md5(range::VARCHAR) AS g
FROM range({rows})
"""


class Workload:
    """Random batches over a live key set (list + index for O(1) sampling and removal)."""

    def __init__(self, rows: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.live = list(range(rows))
        self.pos = {k: i for i, k in enumerate(self.live)}
        self.next_id = rows

    def _remove(self, k: int) -> None:
        i = self.pos.pop(k)
        last = self.live.pop()
        if i < len(self.live):
            self.live[i] = last
            self.pos[last] = i

    def _add(self, k: int) -> None:
        self.pos[k] = len(self.live)
        self.live.append(k)

    def batch(self, n: int, seq0: int) -> pa.Table:
        rng, ids, dels = self.rng, [], []
        for _ in range(n):
            r = rng.random()
            if r < 0.2:
                k = self.next_id
                self.next_id += 1
                self._add(k)
                ids.append(k)
                dels.append(False)
            elif r < 0.4 and self.live:
                k = self.live[rng.randrange(len(self.live))]
                self._remove(k)
                ids.append(k)
                dels.append(True)
            else:
                ids.append(self.live[rng.randrange(len(self.live))])
                dels.append(False)
        v = [rng.randrange(1_000_000) for _ in range(n)]
        return pa.Table.from_pydict(
            {
                "__seq": list(range(seq0, seq0 + n)),
                "__del": dels,
                "id": ids,
                "a": [x % 1000 for x in v],
                "b": v,
                "c": [x / 7 for x in v],
                "d": [f"upd-{x}" for x in v],
                "e": [datetime(2024, 1, 1) for _ in v],
                "f": [None] * n,
                "g": [str(x) * 3 for x in v],
            },
            CHANGES,
        )


def run_ours(path: Path, rows: int, batches: list[pa.Table]) -> dict[str, float]:
    d = DuckDBDestination(path, "bench")
    try:
        d.create_table(SCHEMA)
        con = d.reader()
        t0 = time.perf_counter()
        con.execute(f"INSERT INTO bench.t SELECT * FROM ({FILL.format(rows=rows)})")
        con.execute("CHECKPOINT")
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, b in enumerate(batches):
            d.begin()
            d.apply_changes(SCHEMA, b)
            d.save_checkpoint(Position("mysql-bin.000001", i))
            d.commit()
        apply_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        d.checkpoint()
        return {"load_s": load, "apply_s": apply_s, "final_checkpoint_s": time.perf_counter() - t0}
    finally:
        d.close()


def run_baseline(path: Path, rows: int, batches: list[pa.Table]) -> dict[str, float]:
    con = duckdb.connect(str(path))
    con.execute("SET checkpoint_threshold = '1GiB'")  # same setting as ours: compare strategies
    con.execute("CREATE SCHEMA bench; CREATE TABLE bench.cp (name VARCHAR, pos BIGINT)")
    types = ", ".join(f"{c.name} {str(c.type).upper()}" for c in SCHEMA.columns)
    types = (
        types.replace("INT64", "BIGINT").replace("INT32", "INTEGER").replace("FLOAT64", "DOUBLE")
    )
    types = types.replace("STRING", "VARCHAR")
    con.execute(f"CREATE TABLE bench.t ({types}, PRIMARY KEY (id))")
    t0 = time.perf_counter()
    con.execute(f"INSERT INTO bench.t SELECT * FROM ({FILL.format(rows=rows)})")
    con.execute("CHECKPOINT")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, b in enumerate(batches):
        con.register("batch", b)
        con.execute("BEGIN")
        # INSERT OR REPLACE keeps the FIRST duplicate of a key: reduce to the last per key.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE last AS SELECT * FROM batch "
            "QUALIFY row_number() OVER (PARTITION BY id ORDER BY __seq DESC) = 1"
        )
        con.execute("DELETE FROM bench.t WHERE id IN (SELECT id FROM last WHERE __del)")
        con.execute(f"INSERT OR REPLACE INTO bench.t SELECT {COLS} FROM last WHERE NOT __del")
        con.execute("DELETE FROM bench.cp")
        con.execute("INSERT INTO bench.cp VALUES ('bench', ?)", [i])
        con.execute("COMMIT")
        con.unregister("batch")
    apply_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    con.execute("CHECKPOINT")
    con.close()
    return {"load_s": load, "apply_s": apply_s, "final_checkpoint_s": time.perf_counter() - t0}


def fingerprint(path: Path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        q = f"SELECT count(*), sum(hash({COLS})) FROM {path.stem}.bench.t"
        return tuple(con.execute(q).fetchone())  # type: ignore[arg-type]
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--batches", type=int, default=15)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    w = Workload(args.rows, args.seed)
    batches = [w.batch(args.batch, 0) for _ in range(args.batches)]
    changes = args.batch * args.batches
    with tempfile.TemporaryDirectory(prefix="zeroetl-bench-") as tmp:
        ours_p, base_p = Path(tmp) / "ours.duckdb", Path(tmp) / "base.duckdb"
        ours = run_ours(ours_p, args.rows, batches)
        base = run_baseline(base_p, args.rows, batches)
        same = fingerprint(ours_p) == fingerprint(base_p)
    result = {
        "benchmark": "apply_bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "duckdb": duckdb.__version__,
        "rows": args.rows,
        "batch": args.batch,
        "batches": args.batches,
        "identical_result": same,
        "ours": {**ours, "changes_per_s": changes / ours["apply_s"]},
        "insert_or_replace_pk": {**base, "changes_per_s": changes / base["apply_s"]},
    }
    result["speedup"] = (
        result["ours"]["changes_per_s"] / result["insert_or_replace_pk"]["changes_per_s"]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "apply_bench.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'strategy':<34}{'changes/s':>12}{'apply s':>10}{'final ckpt s':>14}")
    for name, key in (
        ("delete+insert, no PK (ours)", "ours"),
        ("INSERT OR REPLACE + PK", "insert_or_replace_pk"),
    ):
        r = result[key]
        print(
            f"{name:<34}{r['changes_per_s']:>12,.0f}{r['apply_s']:>10.2f}{r['final_checkpoint_s']:>14.2f}"
        )
    print(f"speedup {result['speedup']:.1f}x, identical tables: {same}; wrote {out}")
    if not same:
        raise SystemExit("results differ")


if __name__ == "__main__":
    main()
