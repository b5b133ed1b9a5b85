"""CPU of the binlog reader thread alone on small transactions: ChangeStream.items() over a
range of --txns 5-change transactions (update 3 rows, insert 1, delete 1: lag_bench's small
shape), every item consumed and dropped, no warehouse. The same range is read by each source tree
in turn (`--trees a,b`: directories holding a `zeroetl` package, e.g. a copy of `src` before a
change; `-` is the installed one), alternating, --rounds times; reports CPU us per transaction.

    .venv/bin/python bench/stream_cpu_bench.py --trees /tmp/before/src,- [--txns 20000]
    .venv/bin/python bench/stream_cpu_bench.py --trees - --rounds 1 --profile   # where it goes
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

sys.path.insert(0, str(Path(__file__).parent))
from replication_bench import Ids, execute, loaded_server, small_burst

from zeroetl.sources.mysql.binlog import server_binlog_position

CHILD = """
import sys, time
from zeroetl.model import Position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.stream import ChangeStream, CommitItem
port, file, offset, end_file, end_offset, want = sys.argv[1:7]
want = int(want)
start, end = Position(file, int(offset)), (end_file, int(end_offset))
s = ChangeStream(SourceParams("127.0.0.1", int(port), "root"), start, server_id=881,
                 wanted=lambda t: True)
txns = 0
prof = None
if len(sys.argv) > 7:
    import cProfile, pstats
    prof = cProfile.Profile()
    prof.enable()
c0 = time.process_time()
for item in s.items():
    if type(item) is CommitItem:
        txns += 1
        # the position read as the engine reads it, once a run of transactions (not every one)
        if txns >= want or txns % 64 == 0:
            if (item.position.file, item.position.offset) >= end:
                break
cpu = time.process_time() - c0
if prof is not None:
    prof.disable()
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(14)
s.close()
print(cpu / txns * 1e6, txns)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", required=True, help="comma-separated src dirs ('-': installed)")
    ap.add_argument("--txns", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile each run (stderr)")
    args = ap.parse_args()
    trees = args.trees.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-streamcpu-"))
    server = loaded_server(tmp, args.rows)
    try:
        conn = server.root()
        start = server_binlog_position(conn)
        execute(server.port, small_burst(Ids(args.rows), args.txns))
        end = server_binlog_position(conn)
        conn.close()
        runs: dict[str, list[float]] = {t: [] for t in trees}
        for _ in range(args.rounds):
            for tree in trees:
                env = dict(os.environ)
                if tree != "-":
                    env["PYTHONPATH"] = tree
                argv = [str(server.port), start.file, str(start.offset), end.file, str(end.offset)]
                argv += [str(args.txns)]
                argv += ["profile"] if args.profile else []
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, *argv], env=env, check=True,
                    capture_output=True, text=True,
                )  # fmt: skip
                out = proc.stdout.split()
                runs[tree].append(float(out[0]))
                if args.profile:
                    print(proc.stderr)
                print(f"{tree}: {float(out[0]):.1f} us CPU a transaction ({out[1]} txns)")
        load = os.getloadavg()
        summary = {t: {"median": statistics.median(v), "best": min(v)} for t, v in runs.items()}
        print(json.dumps({"us_per_txn": summary, "load": load}, indent=1))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
