"""DuckDB alone: peak RSS of writing, checkpointing and scanning a table of 1 MiB BLOBs.

Each variant runs in a child process of its own (peak RSS is the process's VmHWM): `--rows` rows
of a `--size`-byte BLOB (default: the `blobs` case of snapshot_parallel_bench.py, a SHA-256 in
hex repeated to 1 MiB; `--data random` for incompressible bytes) go into a file-backed table
(`temp_directory` set, DuckDB's own checkpoint threshold off) in inserts of 16 rows from Arrow,
`commit` inserts to a transaction, under `limit`; then a CHECKPOINT under `ckpt_limit`, then a
full scan (`sum(octet_length(v))`) under `scan_limit`. After each step the child records
VmHWM (the peak so far) and VmRSS from /proc/self/status; the first statement that fails (out
of memory) is reported with the rows written before it.

    .venv/bin/python bench/blob_pin_bench.py [--rows 500] [--size 1048576] [--data repeat|random]
        [--only commit_pin,spill,...]

What each variant tests is in VARIANTS; bench/README.md ("BLOB rows and DuckDB's vectors") has
the results and what they show.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 2**20

BASE: dict[str, Any] = {
    "limit": "256MB",  # memory_limit while inserting
    "commit_limit": None,  # memory_limit for each COMMIT (None: `limit`)
    "after": None,  # memory_limit set (then `limit` again) after each COMMIT: spills
    "commit": 1,  # 16-row inserts per transaction; 0: one transaction for all
    "ckpt_every": 0,  # a CHECKPOINT under `ckpt_limit` after every this many commits
    "ckpt_limit": "2GB",  # for the checkpoints and the final one
    "scan_limit": "256MB",
    "column": "BLOB",
    "source": "arrow",  # or "params" (executemany)
    "settings": [],
    "attach": "",
}
VARIANTS: dict[str, dict[str, Any]] = {
    # 16-row transactions under 256 MB: does a COMMIT spill what earlier ones committed?
    "commit_pin": {},
    "commit_pin_128": {"limit": "128MB"},
    "commit_pin_params": {"source": "params"},
    "commit_pin_unordered": {"settings": ["SET preserve_insertion_order = false"]},
    "commit_pin_uncompressed": {"column": "BLOB USING COMPRESSION uncompressed"},
    "commit_pin_rg2048": {"attach": "ROW_GROUP_SIZE 2048"},
    "rg16": {"attach": "ROW_GROUP_SIZE 16"},  # refused: a multiple of the vector size
    # The checkpoint after every commit (the rows go to the file each time).
    "ckpt_each": {"ckpt_every": 1, "ckpt_limit": "256MB"},
    "ckpt_each_uncompressed": {
        "ckpt_every": 1,
        "ckpt_limit": "256MB",
        "column": "BLOB USING COMPRESSION uncompressed",
    },
    # zeroetl's snapshot before: 64-row commits under 128 MB, a checkpoint under a high
    # limit after each.
    "zeroetl_like": {"limit": "128MB", "commit": 4, "ckpt_every": 1, "ckpt_limit": "9GB"},
    # Commits under a high limit, nothing checkpointed until the end.
    "no_spill": {"limit": "2GB"},
    "no_spill_64": {"limit": "2GB", "commit": 4},
    # ... and the one checkpoint at the end under a high limit, or under 320 MB (lowering
    # the limit to it first spills the committed rows).
    "no_spill_ckpt_high": {"limit": "4GB", "ckpt_limit": "4GB"},
    "no_spill_ckpt_320": {"limit": "4GB", "ckpt_limit": "320MB"},
    # The same, the limit lowered after each commit so committed rows spill to temp files.
    "spill": {"limit": "2GB", "after": "64MB", "ckpt_limit": "320MB"},
    # One transaction: the inserts spill under 256 MB; its COMMIT gets 2 GB.
    "one_txn": {"commit": 0, "commit_limit": "2GB", "ckpt_limit": "320MB"},
}


def status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(val.split()[0]) // 1024
    return out


def make_value(i: int, size: int, data: str) -> bytes:
    if data == "random":
        return os.urandom(size)
    text = hashlib.sha256(str(i).encode()).hexdigest()
    return (text * (size // len(text) + 1)).encode()[:size]


def child(spec: dict[str, Any], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa

    steps: list[dict[str, Any]] = [{"step": "start", **status()}]
    con = duckdb.connect(config={"temp_directory": str(tmp / "spill")})
    con.execute(f"SET memory_limit = '{spec['limit']}'")
    con.execute("SET checkpoint_threshold = '1TB'")  # only the checkpoints asked for
    for s in spec["settings"]:
        con.execute(s)
    opts = f" ({spec['attach']})" if spec["attach"] else ""
    try:
        con.execute(f"ATTACH '{tmp / 'db.duckdb'}' AS d{opts}")
    except duckdb.Error as e:
        return {"steps": steps, "error": str(e).splitlines()[0][:200]}
    con.execute("USE d")
    con.execute(f"CREATE TABLE t (id INTEGER, v {spec['column']})")

    def stmt(sql: str, limit: str | None = None) -> None:
        if limit:
            con.execute(f"SET memory_limit = '{limit}'")
        con.execute(sql)
        if limit:
            con.execute(f"SET memory_limit = '{spec['limit']}'")

    t0 = time.perf_counter()
    done = commits = 0
    per_txn = spec["commit"] or 10**9
    try:
        for n, start in enumerate(range(0, args.rows, 16)):
            ids = list(range(start, min(args.rows, start + 16)))
            vals = [make_value(i, args.size, args.data) for i in ids]
            if n % per_txn == 0:
                con.execute("BEGIN")
            if spec["source"] == "params":
                con.executemany("INSERT INTO t VALUES (?, ?)", list(zip(ids, vals, strict=True)))
            else:
                tab = pa.table({"id": pa.array(ids, pa.int32()), "v": pa.array(vals, pa.binary())})
                con.execute("INSERT INTO t SELECT * FROM tab")
                del tab
            del vals
            done += len(ids)
            if (n + 1) % per_txn == 0 or done == args.rows:
                stmt("COMMIT", spec["commit_limit"])
                commits += 1
                if spec["after"]:
                    stmt("SELECT 1", spec["after"])  # evicts (spills) down to it
                if spec["ckpt_every"] and commits % spec["ckpt_every"] == 0:
                    stmt("CHECKPOINT", spec["ckpt_limit"])
    except duckdb.Error as e:
        steps.append({"step": "load", "rows": done, "s": round(time.perf_counter() - t0, 1),
                      **status(), "error": str(e).splitlines()[0][:160]})  # fmt: skip
        return {"steps": steps}
    steps.append(
        {"step": "load", "rows": done, "s": round(time.perf_counter() - t0, 1), **status()}
    )
    for name, sql, limit in (
        ("checkpoint", "CHECKPOINT", spec["ckpt_limit"]),
        ("scan", "SELECT sum(octet_length(v)) FROM t", spec["scan_limit"]),
    ):
        t0 = time.perf_counter()
        try:
            stmt(sql, limit)
            steps.append({"step": name, "s": round(time.perf_counter() - t0, 1), **status()})
        except duckdb.Error as e:
            steps.append({"step": name, **status(), "error": str(e).splitlines()[0][:160]})
    con.close()
    steps.append({"step": "file", "MB": round((tmp / "db.duckdb").stat().st_size / MIB)})
    return {"steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--size", type=int, default=MIB)
    ap.add_argument("--data", choices=("repeat", "random"), default="repeat")
    ap.add_argument("--only", default=",".join(VARIANTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="blobpin") as d:
            res = child({**BASE, **VARIANTS[args.child]}, args, Path(d))
        print(json.dumps(res))
        return
    results = {}
    for name in args.only.split(","):
        cmd = [sys.executable, __file__, "--child", name, "--rows", str(args.rows)]
        cmd += ["--size", str(args.size), "--data", args.data]
        p = subprocess.run(cmd, capture_output=True, text=True)
        lines = p.stdout.strip().splitlines()
        results[name] = json.loads(lines[-1]) if p.returncode == 0 and lines else {
            "error": (p.stderr.strip().splitlines() or ["?"])[-1][:200]
        }  # fmt: skip
        print(name, json.dumps(results[name]), flush=True)
    out = Path(__file__).parent / "results" / f"blob_pin_bench_{args.rows}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**vars(args), "child": None, "results": results}, indent=1))


if __name__ == "__main__":
    main()
