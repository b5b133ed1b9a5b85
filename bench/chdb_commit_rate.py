"""Embedded ClickHouse (chDB) under many small commits: what the commit interval bounds.

  rates   a commit = one 100-row insert into a ReplacingMergeTree data table plus two inserts
          into a ReplacingMergeTree state table (as the destination's metadata and checkpoint),
          --secs seconds at each --rates commits/s: commits/s reached, writer time per commit,
          and the most active parts per table seen (every 10 commits) and 2 s after.
  async   20 sequential 100-row inserts with merges stopped, plain and with
          `async_insert=1, wait_for_async_insert=1`: parts made and time per insert (one writer
          waiting for each flush: does async insertion merge its inserts?).

Plain commits at as many commits/s as the writer manages are the same-run baseline. Results
feed the chDB default of `min_insert_interval_ms` (docs/clickhouse.md, "Loading").

    .venv/bin/python bench/chdb_commit_rate.py [--rates 1 5 20 100] [--secs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TABLE = "(id Int64, v String, _version UInt64, _is_deleted UInt8) ENGINE = "
DATA = TABLE + "ReplacingMergeTree(_version, _is_deleted) ORDER BY id"
STATE = "(k String, v String, _version UInt64, _is_deleted UInt8) ENGINE = "
STATE += "ReplacingMergeTree(_version, _is_deleted) ORDER BY k"


def _csv(s: Any, sql: str) -> str:
    return str(s.query(sql, "CSV").bytes().decode().strip())


def _parts(s: Any, db: str) -> dict[str, int]:
    out = _csv(
        s,
        f"SELECT table, count() FROM system.parts WHERE database = '{db}' AND active "
        "GROUP BY table ORDER BY table",
    )
    return {line.split(",")[0].strip('"'): int(line.split(",")[1]) for line in out.splitlines()}


def _rows(n: int) -> str:
    return ",".join(f"({(n * 100 + i) % 5000}, 'x', {n}, 0)" for i in range(100))


def at_rate(s: Any, rate: float, secs: float) -> dict[str, Any]:
    db = f"r{int(rate)}"
    s.query(f"CREATE DATABASE {db}")
    s.query(f"CREATE TABLE {db}.t {DATA}")
    s.query(f"CREATE TABLE {db}.m {STATE}")
    n, spent, most = 0, 0.0, {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        a = time.monotonic()
        s.query(f"INSERT INTO {db}.t VALUES {_rows(n)}")
        s.query(f"INSERT INTO {db}.m VALUES ('state', '{n}', {n}, 0)")
        s.query(f"INSERT INTO {db}.m VALUES ('checkpoint', '{n}', {n}, 0)")
        spent += time.monotonic() - a
        n += 1
        if n % 10 == 0:
            for k, v in _parts(s, db).items():
                most[k] = max(most.get(k, 0), v)
        time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
    elapsed = time.monotonic() - t0
    time.sleep(2)
    return {
        "target_commits_per_s": rate,
        "commits_per_s": n / elapsed,
        "ms_per_commit": spent / n * 1000,
        "writer_busy_share": spent / elapsed,
        "most_active_parts": most,
        "active_parts_2s_after": _parts(s, db),
    }


def async_vs_sync(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    s.query("CREATE DATABASE a")
    for mode, settings in (
        ("plain", ""),
        ("async_wait", " SETTINGS async_insert = 1, wait_for_async_insert = 1"),
    ):
        s.query(f"CREATE TABLE a.{mode} {DATA}")
        s.query(f"SYSTEM STOP MERGES a.{mode}")
        took = []
        for n in range(20):
            a = time.monotonic()
            s.query(f"INSERT INTO a.{mode}{settings} VALUES {_rows(n)}")
            took.append(time.monotonic() - a)
        took.sort()
        out[mode] = {
            "parts": _parts(s, "a")[mode],
            "rows": int(_csv(s, f"SELECT count() FROM a.{mode}")),
            "p50_ms": took[10] * 1000,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[1, 5, 20, 100])
    ap.add_argument("--secs", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    from chdb import session

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-chrate-"))
    s = session.Session(str(tmp))
    try:
        rates = []
        for r in args.rates:
            rates.append(at_rate(s, r, args.secs))
            x = rates[-1]
            print(f"{r:>6g}/s target: {x['commits_per_s']:6.1f} commits/s, "
                  f"{x['ms_per_commit']:5.1f} ms each (writer busy {x['writer_busy_share']:.0%}), "
                  f"most active parts {x['most_active_parts']}", flush=True)  # fmt: skip
        asyn = async_vs_sync(s)
        print(f"20 sequential inserts: {asyn}")
    finally:
        s.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "chdb_commit_rate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_at_end": os.getloadavg(),
        "settings": {"rates": args.rates, "secs": args.secs},
        "rates": rates,
        "async": asyn,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "chdb_commit_rate.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {os.getloadavg()[0]:.1f}; wrote {path}")


if __name__ == "__main__":
    main()
