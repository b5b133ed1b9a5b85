"""Run every self-contained bench in bench/, one after another, then print one summary.

Each bench starts its own MariaDB (temp dir, free port) and writes JSON into bench/results/; the
summary is read back from those files, as ratios to the baselines each bench measured in the
same run. `make bench` calls this.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# name -> (script, default args, --quick args)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "apply": ("apply_bench.py", [], ["--rows", "200000", "--batches", "5"]),
    "decode": ("decode_bench.py", [], ["--rows", "100000"]),
    "snapshot": ("snapshot_bench.py", ["--skip-pymysql"], ["--rows", "200000", "--skip-pymysql"]),
    "binlog": ("bench_binlog.py", [], ["--rows", "200000"]),
    "small": ("bench_small.py", [], ["--txns", "20000"]),
    "sql_guard": ("sql_guard_bench.py", [], ["--rounds", "2", "--n", "30"]),
    "mv": ("mv_bench.py", [], ["--scale", "0.05", "--rounds", "5", "--views", "1"]),
    "replication": (
        "replication_bench.py",
        [],
        ["--rows", "200000", "--changes", "50000", "--small-txns", "2000", "--trickle-s", "5"],
    ),
    "sql_endpoint": (
        "sql_endpoint_bench.py",
        [],
        ["--scale", "0.2", "--n", "400", "--repeat", "2"],
    ),
    "lag": ("lag_bench.py", [], ["--lag-s", "5", "--small-txns", "5000"]),
    "clickhouse": (
        "clickhouse_bench.py",
        [],
        ["--rows", "50000", "--apply-rows", "50000", "--lag-s", "5"],
    ),
    "cdc_shapes": ("cdc_shapes_bench.py", [], ["--quick"]),
    "soak": (
        "soak_bench.py",
        [],
        ["--minutes", "2", "--window-min", "0.5", "--scale", "0.1", "--idle-s", "10"],
    ),
    "many": (
        "many_integrations_bench.py",
        [],
        ["--n", "3", "--seconds", "5", "--rate", "2000"],
    ),
}
# Long or heavy: run only when named (`--only soak`: 30 minutes by default; `--only many`:
# 10 MariaDB servers).
NOT_BY_DEFAULT = {"soak", "many"}


def _load(name: str) -> dict[str, Any] | None:
    try:
        return json.loads((RESULTS / name).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _apply() -> list[str]:
    r = _load("apply_bench.json")
    if not r:
        return []
    return [f"apply: {r['ours']['changes_per_s']:,.0f} changes/s into DuckDB, "
            f"{r['speedup']:.1f}x INSERT OR REPLACE + PK"]  # fmt: skip


def _decode() -> list[str]:
    r = _load("decode_bench.json")
    if not r:
        return []
    return [f"decode: {r['zeroetl_rows_per_s']:,} rows/s, {r['speedup']}x mysql-replication"]


def _snapshot() -> list[str]:
    r = _load("snapshot_bench.json")
    if not r:
        return []
    ours = next((x for x in r["results"] if x["method"] == "SnapshotReader"), None)
    if ours is None:
        return []
    return [
        f"snapshot read: {ours['rows_per_s']:,} rows/s, {ours['ratio_vs_cli']:.2f}x mariadb CLI"
    ]


def _binlog() -> list[str]:
    r = _load("binlog_read_bench.json")
    if not r:
        return []
    best = r["zeroetl_reader_best_of_5"]
    return [f"binlog walk: {best['mb_per_s']:.0f} MB/s, "
            f"{r['ratio_vs_mysql_replication_headers']:.1f}x mysql-replication (no decode)"]  # fmt: skip


def _small() -> list[str]:
    r = _load("bench_small.json")
    if not r:
        return []
    best = r["zeroetl_reader_best_of_3"]
    return [f"small txns walk: {best['events_per_s']:,.0f} events/s, "
            f"{r['ratio_vs_mysql_replication']:.1f}x mysql-replication (XID only)"]  # fmt: skip


def _replication() -> list[str]:
    r = _load("replication_bench.json")
    if not r:
        return []
    s, lag = r["snapshot"], r["lag"]
    lines = [f"replication snapshot: {s['zeroetl_rows_per_s']:,.0f} rows/s, "
             f"{s['ratio_vs_cli']:.2f}x mariadb CLI (target >= 1.0x)"]  # fmt: skip
    for k in ("bulk", "small_txns"):
        c, u = r[f"cdc_{k}"], r[f"catchup_{k}"]
        lines.append(
            f"replication cdc {k}: {c['zeroetl_changes_per_s']:,.0f} changes/s, "
            f"{c['ratio_vs_mysql_replication']:.1f}x mysql-replication decode; catch-up "
            f"{u['catch_up_s']:.2f}s (targets 250k/s, < 2 s)"
        )
    lines.append(
        f"replication lag: p50 {lag['p50_s']:.3f}s, p99 {lag['p99_s']:.3f}s (target p99 < 1 s)"
    )
    return lines


def _sql_guard() -> list[str]:
    r = _load("sql_guard_bench.json")
    if not r:
        return []
    return [
        f"sql guard: {name} {v['guarded_ms']:.2f} ms vs {v['unguarded_ms']:.2f} ms unguarded"
        f" ({v['ratio']:.2f}x)"
        for name, v in r["statements"].items()
    ]


def _mv() -> list[str]:
    r = _load("mv.json")
    if not r:
        return []
    return [
        f"materialized views: AUTO REFRESH view shows a change {r['view_p50_s']:.2f}s after the"
        f" source commit (p50, {r['view_vs_replica']:.1f}x the replica); replica latency with"
        f" {r['views']} views refreshing {r['replica_with_views_vs_without']:.2f}x without"
    ]


def _lag() -> list[str]:
    r = _load("lag_bench.json")
    if not r:
        return []
    out = []
    small = r.get("small_txns") or {}
    if "adaptive" in small and "fixed" in small:
        a, f = small["adaptive"]["changes_per_s"], small["fixed"]["changes_per_s"]
        out.append(f"small txns: {a:,.0f} changes/s adaptive vs {f:,.0f} fixed ({a / f:.2f}x)")
    for rate, modes in (r.get("lag") or {}).items():
        if "adaptive" in modes and "fixed" in modes:
            a, f = modes["adaptive"], modes["fixed"]
            out.append(
                f"lag at {int(rate):,}/s: p50 {a['p50_ms']:.0f} ms, p99 {a['p99_ms']:.0f} ms"
                f" (fixed batching p99 {f['p99_ms']:.0f} ms, {a['p99_ms'] / f['p99_ms']:.2f}x)"
            )
    return out


def _sql_endpoint() -> list[str]:
    r = _load("sql_endpoint_bench.json")
    if not r:
        return []
    one = r["select_1"]
    return [
        f"sql endpoint: select 1 over psycopg {one['zeroetl']['median_ms']:.2f} ms median"
        f" (in-process DuckDB {one['duckdb']['median_ms']:.2f}, MariaDB"
        f" {one['mariadb']['median_ms']:.2f}; target <= 0.5 ms)",
        f"sql endpoint: TICKIT x{r['scale']:g} corpus {r['corpus_median_ratio']:.1f}x MariaDB at"
        f" the median, slowest query {r['corpus_min_ratio']:.2f}x (targets >= 30x, >= 1x)",
    ]


def _soak() -> list[str]:
    r = _load("soak_bench.json")
    if not r:
        return []
    rss, wal, lag = r["rss_mb"], r["wal"], r["lag"]
    rk = r["restart_after_sigkill"]
    return [
        f"soak {r['settings']['minutes']:g} min at {r['load']['changes_per_s']:,} changes/s: "
        f"lag p99 {lag['p99_s']}s ({lag['p99_vs_idle_p99']}x idle); WAL max {wal['max_mb']} MB "
        f"({wal['max_vs_limit']}x limit); RSS {rss['start']} -> {rss['end']} MB "
        f"({rss['end_vs_start']}x); restart after SIGKILL {rk['healthz_s']}s to /healthz, "
        f"{rk['caught_up_s']}s to caught up"
    ]


def _clickhouse() -> list[str]:
    r = _load("clickhouse_bench.json")
    if not r:
        return []
    x = r["ratios_clickhouse_over_duckdb"]
    return [f"clickhouse/duckdb: apply {x['apply_changes_per_s']:.2f}x, snapshot "
            f"{x['snapshot_rows_per_s']:.2f}x, lag p50 {x['lag_p50']:.2f}x, p99 {x['lag_p99']:.2f}x"]  # fmt: skip


def _many() -> list[str]:
    r = _load("many_integrations_bench.json")
    if not r:
        return []
    n, solo, base, x = r["all"], r["solo"], r["baseline"], r["ratios"]
    return [
        f"{r['settings']['n']} integrations: {n['changes_per_s']:,} changes/s "
        f"({x['aggregate_changes_per_s_vs_solo']}x one alone), lag p99 median "
        f"{n['lag_p99_ms_median']} ms, worst {n['lag_p99_ms_worst']} ms (one alone: "
        f"{solo['lag_p99_ms_median']} ms; one loaded beside idle ones: {base['lag_p99_ms_median']} "
        f"ms); service CPU {n['service_cpu_cores']} cores, {x['cpu_per_change_vs_solo']}x one's "
        "per change"
    ]


def _cdc_shapes() -> list[str]:
    r = _load("cdc_shapes.json")
    if not r:
        return []
    out = []
    if w := r.get("wide"):
        out.append(
            f"{w['columns']}-column table: {w['wide_changes_per_s']:,.0f} changes/s, RSS "
            f"{w['wide_rss_mb']:.0f} MB ({w['ratio_wide_to_narrow']:.3f}x the 8-column table's "
            f"{w['narrow_changes_per_s']:,.0f}/s; targets >= 20k/s, < 512 MB)"
        )
    if t := r.get("tables"):
        out.append(
            f"a transaction touching {t['tables']} tables: {t['per_txn_s']:.2f} s "
            f"({t['ratio_many_to_one']:.1f}x one table; target < 1 s), RSS {t['rss_mb']:.0f} MB"
        )
    if b := r.get("bigtxn"):
        out.append(
            f"one {b['rows']:,}-row transaction: peak RSS {b['one_txn_rss_mb']:.0f} MB "
            f"({b['ratio_rss_one_to_small']:.2f}x the same rows in 10k-row transactions; "
            "target < 512 MB)"
        )
    return out


SUMMARIES: dict[str, Callable[[], list[str]]] = {
    "cdc_shapes": _cdc_shapes,
    "apply": _apply,
    "decode": _decode,
    "snapshot": _snapshot,
    "binlog": _binlog,
    "small": _small,
    "replication": _replication,
    "sql_guard": _sql_guard,
    "mv": _mv,
    "sql_endpoint": _sql_endpoint,
    "lag": _lag,
    "clickhouse": _clickhouse,
    "soak": _soak,
    "many": _many,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not numbers")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=None)
    ap.add_argument("--skip", nargs="*", choices=sorted(BENCHES), default=[])
    args = ap.parse_args()

    default = [n for n in BENCHES if n not in NOT_BY_DEFAULT]
    names = [n for n in (args.only or default) if n not in args.skip]
    status: dict[str, tuple[int, float]] = {}
    for name in names:
        script, normal, quick = BENCHES[name]
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else normal)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=HERE.parent).returncode
        status[name] = (rc, time.perf_counter() - t0)

    print("\n=== summary (ratios to baselines measured in the same run)")
    for name in names:
        rc, secs = status[name]
        mark = "ok" if rc == 0 else f"FAILED (exit {rc})"
        print(f"- {name} [{mark}, {secs:.0f}s]")
        if rc == 0:
            for line in SUMMARIES[name]():
                print(f"    {line}")
    if any(rc for rc, _ in status.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
