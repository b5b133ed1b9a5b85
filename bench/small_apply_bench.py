"""CPU of small-transaction CDC end to end (binlog reader thread + writer thread + DuckDB), by
source tree, alternated: lag_bench's `small` shape (--txns transactions of 5 row changes:
update 3 rows, insert 1, delete 1) applied from one checkpoint by a Replicator with
`until_caught_up`, in a child process per run on a copy of the same warehouse. Each source
tree of `--trees` (directories holding a `zeroetl` package, e.g. a copy of `src` before a
change; `-` is the installed one) runs in turn, --rounds times. Reports, per transaction, the
process's CPU (every thread: `cpu_us`) and the writer thread's own (the engine's thread, which
calls `Replicator.run`: `writer_us`), plus changes/s.

    .venv/bin/python bench/small_apply_bench.py --trees /tmp/before/src,- [--txns 20000]
    (a copied tree runs its own C extensions: build them in it, e.g. `setup.py build_ext` in a
    copy of the checkout, and copy the .so files over; the bench warns when one is missing)
    .venv/bin/python bench/small_apply_bench.py --trees - --rounds 1 --profile  # the writer
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from replication_bench import DB, Ids, execute, loaded_server, small_burst

CHILD = """
import json, sys, time
from pathlib import Path
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

wh, url, db, profile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"


class Commits(Progress):
    changes = commits = 0

    def committed(self, position, changes, lag_ms, source_time):
        self.changes += changes
        self.commits += 1


dest, iid = open_integration(Path(wh), "bench")
rec = Commits()
rep = Replicator(
    MySqlSource(SourceParams.from_url(url)), dest, integration_id=iid,
    data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
    settings=EngineSettings(until_caught_up=True), progress=rec,
)
prof = None
if profile:
    import cProfile, pstats
    prof = cProfile.Profile()
    prof.enable()
import gc
gc_cpu = [0.0, 0.0]  # CPU in the cyclic collector during the run (every thread), its start


def gc_clock(phase, info):
    if phase == "start":
        gc_cpu[1] = time.process_time()
    else:
        gc_cpu[0] += time.process_time() - gc_cpu[1]


gc.callbacks.append(gc_clock)
t0, c0, w0 = time.perf_counter(), time.process_time(), time.thread_time()
rep.run()
wall, cpu, writer = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - w0
gc.callbacks.remove(gc_clock)
if prof is not None:
    prof.disable()
    st = pstats.Stats(prof, stream=sys.stderr)
    st.sort_stats("cumulative").print_stats(40)
    st.sort_stats("tottime").print_stats(35)
dest.close()
from zeroetl import native
built = [m for m in ("textrows", "binrows", "binframe") if getattr(native, m) is not None]
print(json.dumps({"wall": wall, "cpu": cpu, "writer": writer, "changes": rec.changes,
                  "commits": rec.commits, "native": built, "gc": gc_cpu[0]}))
"""


def run_child(
    tree: str, wh: Path, url: str, profile: bool = False, pyspy: str | None = None
) -> dict[str, Any]:
    env = dict(os.environ)
    if tree != "-":
        env["PYTHONPATH"] = tree
    cmd = [sys.executable, "-c", CHILD, str(wh), url, DB, "1" if profile else "0"]
    if pyspy:  # raw stacks per thread, running (not waiting) threads only
        spy = str(Path(sys.executable).parent / "py-spy")
        rec = [spy, "record", "--threads", "--rate", "1000", "-f", "raw", "-o", pyspy]
        cmd = [*rec, "--", *cmd]
    proc = subprocess.run(
        cmd,
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    if profile:
        print(proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]  # py-spy's own too
    return dict(json.loads(lines[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", required=True, help="comma-separated src dirs ('-': installed)")
    ap.add_argument("--txns", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile the writer (stderr)")
    ap.add_argument("--py-spy", dest="pyspy", help="record each run with py-spy: PREFIX-<n>.txt")
    args = ap.parse_args()
    trees = args.trees.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-smallapply-"))
    server = loaded_server(tmp, args.rows, replication_user=True)
    try:
        base = tmp / "wh"
        run_child("-", base, server.url())  # the first snapshot: the checkpoint to start from
        gen = execute(server.port, small_burst(Ids(args.rows), args.txns))
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
        for rnd in range(args.rounds):
            for n, tree in enumerate(trees):
                spy = f"{args.pyspy}-{rnd}-{n}.txt" if args.pyspy else None
                wh = tmp / "wh-run"
                shutil.copytree(base, wh)
                try:
                    res = run_child(tree, wh, server.url(), args.profile, spy)
                finally:
                    shutil.rmtree(wh, ignore_errors=True)
                if res["changes"] != gen["changes"]:
                    raise SystemExit(f"{tree}: applied {res['changes']}, made {gen['changes']}")
                if len(res["native"]) != 3:  # a copied tree needs its C extensions built too
                    print(f"warning: {tree} runs without compiled {res['native']}", flush=True)
                runs[tree].append(res)
                print(f"{tree}: {res['cpu'] / args.txns * 1e6:.1f} us CPU a transaction "
                      f"(writer thread {res['writer'] / args.txns * 1e6:.1f}), "
                      f"{res['changes'] / res['wall']:,.0f} changes/s, {res['commits']:.0f} "
                      f"commits, collector {res.get('gc', 0) / args.txns * 1e6:.1f} us, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        summary = {
            t: {
                "cpu_us_median": statistics.median(r["cpu"] / args.txns * 1e6 for r in v),
                "cpu_us_best": min(r["cpu"] / args.txns * 1e6 for r in v),
                "writer_us_median": statistics.median(r["writer"] / args.txns * 1e6 for r in v),
                "changes_per_s_median": statistics.median(r["changes"] / r["wall"] for r in v),
            }
            for t, v in runs.items()
        }
        print(json.dumps({"per_txn": summary, "load": os.getloadavg()}, indent=1))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
