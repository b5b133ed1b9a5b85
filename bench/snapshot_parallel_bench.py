"""End-to-end snapshot into DuckDB (`zeroetl replicate --until-caught-up`) vs the `mariadb` CLI.

Starts its own MariaDB in a temp dir, then runs up to three cases, each against a baseline timed
in the same run, and reports time, rows/s, the ratio and the peak RSS of the zeroetl process
(`zeroetl replicate` runs as a child process; its peak RSS comes from wait4):

  big     one table of --rows rows (bigint key, int, bigint, varchar(40), decimal(12,2), datetime,
          double, varchar(100)); baseline `mariadb --quick -B -N -e 'select * from t' > /dev/null`
          (best of 2). --rows 10000000 for the full-size run. Also reports `duckdb_alone`: DuckDB
          writing the same rows from Arrow in memory (no source, no decoding), the floor of
          any copy into DuckDB on this machine.
  blobs   --blob-rows rows of a 1 MB BLOB each; baseline the same CLI read.
  tables  --tables tables of 10 rows each; baseline the CLI reading every table
          (one `select * from` per table in one session, --quick -B -N).

    .venv/bin/python bench/snapshot_parallel_bench.py [--rows 3000000] [--cases big,blobs,tables]
        [--compare "--duckdb-memory-limit 18GiB"]   # each case again with these options
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from zeroetl.sandbox.mariadb import MariaDBServer, free_port

PROFILE = ""  # --py-spy: record the zeroetl process into files with this prefix
COMPARE: list[str] = []  # --compare: options of a second replicate of each case

BIG_DDL = (
    "CREATE TABLE big.t (id BIGINT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(40), "
    "d DECIMAL(12,2), e DATETIME, f DOUBLE, g VARCHAR(100))"
)
BIG_ROWS = (
    "INSERT INTO big.t SELECT seq, seq % 100000, seq * 31, MD5(seq), (seq % 1000000) / 100, "
    "'2020-01-01' + INTERVAL seq SECOND, seq / 7e0, CONCAT('note-', seq, '-', SHA1(seq)) "
    "FROM seq_{lo}_to_{hi}"
)


def cli(server: MariaDBServer, sql: str) -> float:
    cmd = ["mariadb", "--quick", "-B", "-N", "-h127.0.0.1", f"-P{server.port}", "-uroot"]
    t0 = time.perf_counter()
    subprocess.run(cmd, input=sql.encode(), stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def split_env(extra: list[str]) -> tuple[dict[str, str], list[str]]:
    """`--extra`/`--compare` tokens: NAME=value ones (upper case) set the child's environment,
    e.g. ZEROETL_NATIVE=0 for the Python twins; the rest are `zeroetl replicate` options."""
    env = {}
    opts = []
    for tok in extra:
        name, eq, value = tok.partition("=")
        if eq and name.isupper() and not name.startswith("-"):
            env[name] = value
        else:
            opts.append(tok)
    return env, opts


def replicate(server: MariaDBServer, tmp: Path, name: str, db: str, extra: list[str]) -> dict:
    """`zeroetl replicate --until-caught-up` of database `db` into a fresh warehouse."""
    env, extra = split_env(extra)
    wh = tmp / f"wh-{name}"
    shutil.rmtree(wh, ignore_errors=True)
    exe = str(Path(sys.executable).with_name("zeroetl"))
    cmd = [exe, "replicate", "--warehouse", str(wh), "--source", server.url()]
    cmd += ["--database", name, "--data-filter", f"exclude: *.*, include: {db}.*"]
    cmd += ["--until-caught-up", *extra]
    if PROFILE:
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "-o", PROFILE + f"-{name}.txt",
               "-f", "raw", "-r", "50", *(["--native"] if os.environ.get("PYSPY_NATIVE") else []),
               *(["--idle"] if os.environ.get("PYSPY_IDLE") else []),
               "--threads", "--", *cmd]  # fmt: skip
    server_cpu = mariadb_cpu(server)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **env}
    )
    assert proc.stderr is not None
    tree = TreeRss(proc.pid)
    tree.start()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    tree.stop.set()
    tree.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"zeroetl replicate failed:\n{err.decode()[-3000:]}")
    # memory.py's warning: the DuckDB memory limit proved too small and was raised
    raised = b"memory limit" in err and b"too small" in err
    return {
        "seconds": secs,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "tree_mb": tree.peak / 2**20,
        "limit_raised": raised,
        "mariadb_cpu_s": mariadb_cpu(server) - server_cpu,
    }


def mariadb_cpu(server: MariaDBServer) -> float:
    """CPU seconds the server process has used so far (what each replicate costs the source)."""
    try:
        pid = int(server.pid_file.read_text())
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


class TreeRss(threading.Thread):
    """Peak of the summed RSS of a process and its descendants (reader processes), sampled
    every 0.1 s: wait4's ru_maxrss is the largest single process only."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            parents: dict[int, int] = {}
            rss: dict[int, int] = {}
            for d in Path("/proc").iterdir():
                if not d.name.isdigit():
                    continue
                try:
                    stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(d.name)] = int(stat[1])
                rss[int(d.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
            total = 0
            for pid in rss:
                p = pid
                while p in parents and p != self.pid and p > 1:
                    p = parents[p]
                if p == self.pid:
                    total += rss[pid]
            self.peak = max(self.peak, total)


FLOOR = r"""
import resource, sys, time, duckdb
src, dst, commit_rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = duckdb.connect(src, read_only=True).execute("SELECT * FROM big.big.t ORDER BY id").to_arrow_table()
con = duckdb.connect(dst, config={"memory_limit": "128MiB"})
con.execute("CREATE SCHEMA big")
con.execute("CREATE TABLE big.t AS SELECT * FROM rows LIMIT 0")
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0, c0 = time.perf_counter(), cpu()
for off in range(0, rows.num_rows, commit_rows):
    part = rows.slice(off, commit_rows)
    con.execute("BEGIN")
    con.execute("INSERT INTO big.t SELECT * FROM part")
    con.execute("COMMIT")
con.execute("CHECKPOINT")
print(time.perf_counter() - t0, cpu() - c0)
"""


def duckdb_floor(tmp: Path, commit_rows: int = 4 * 122_880) -> tuple[float, float]:
    """DuckDB alone writing the rows zeroetl copied (from Arrow in memory, the same commit size
    and memory limit): what the warehouse's own write costs, with no source and no decoding.
    On a 2-core machine this alone is close to the CLI's read time (bench/README.md)."""
    src = tmp / "wh-big" / "databases" / "big.duckdb"
    dst = tmp / "floor.duckdb"
    dst.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", FLOOR, str(src), str(dst), str(commit_rows)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"the DuckDB-alone run failed:\n{out.stderr[-2000:]}")
    dst.unlink(missing_ok=True)
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def count(server: MariaDBServer, tmp: Path, name: str, sql: str) -> int:
    import duckdb

    con = duckdb.connect(str(tmp / f"wh-{name}" / "databases" / f"{name}.duckdb"), read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def case_big(
    server: MariaDBServer, tmp: Path, rows: int, extras: list[list[str]]
) -> list[dict[str, Any]]:
    conn = server.root()
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE big")
        cur.execute(BIG_DDL)
        cur.execute("USE big")
        step = 500_000
        for lo in range(1, rows + 1, step):
            cur.execute(BIG_ROWS.format(lo=lo, hi=min(rows, lo + step - 1)))
    conn.close()
    print(f"big: loaded {rows:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)
    out = []
    for extra in extras:
        base = min(cli(server, "select * from big.t") for _ in range(2))
        z = replicate(server, tmp, "big", "big", extra)
        assert count(server, tmp, "big", "select count(*) from big.big.t") == rows
        r = _result("big", rows, base, z, _also(server, tmp, "big", "big"), config=extra)
        floor_s, floor_cpu = duckdb_floor(tmp)
        r["duckdb_alone_s"], r["duckdb_alone_cpu_s"] = round(floor_s, 3), round(floor_cpu, 2)
        r["duckdb_alone_vs_baseline"] = round(base / floor_s, 3)
        print(json.dumps({k: r[k] for k in r if k.startswith("duckdb_alone")}), flush=True)
        out.append(r)
    return out


def case_blobs(server: MariaDBServer, tmp: Path, rows: int, extra: list[str]) -> dict[str, Any]:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
    conn.close()
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE blobs")
        cur.execute("CREATE TABLE blobs.b (id INT PRIMARY KEY, v LONGBLOB)")
        cur.execute("USE blobs")
        cur.execute(
            "INSERT INTO blobs.b SELECT seq, REPEAT(SHA2(seq, 256), 16384) FROM seq_1_to_%s",
            (rows,),
        )
    conn.close()
    base = min(cli(server, "select * from blobs.b") for _ in range(2))
    z = replicate(server, tmp, "blobs", "blobs", extra)
    assert count(server, tmp, "blobs", "select count(*) from blobs.blobs.b") == rows
    return _result("blobs", rows, base, z, _also(server, tmp, "blobs", "blobs"))


def case_tables(server: MariaDBServer, tmp: Path, n: int, extra: list[str]) -> dict[str, Any]:
    conn = server.root()
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE many")
        cur.execute("USE many")
        for i in range(n):
            cur.execute(f"CREATE TABLE t{i} (id INT PRIMARY KEY, v VARCHAR(20))")
            cur.execute(f"INSERT INTO t{i} SELECT seq, CONCAT('v', seq) FROM seq_1_to_10")
    conn.close()
    print(f"tables: created {n:,} tables in {time.perf_counter() - t0:.1f}s", flush=True)
    base = cli(server, "".join(f"select * from many.t{i};" for i in range(n)))
    z = replicate(server, tmp, "many", "many", extra)
    got = count(
        server, tmp, "many", "select count(*) from duckdb_tables() where schema_name = 'many'"
    )
    assert got == n, got
    return _result("tables", n, base, z, _also(server, tmp, "many", "many"), unit="tables")


def _also(server: MariaDBServer, tmp: Path, name: str, db: str) -> dict | None:
    """The same replicate with --compare's options (e.g. the settings before a change)."""
    return replicate(server, tmp, name, db, COMPARE) if COMPARE else None


def _result(
    case: str,
    n: int,
    base: float,
    z: dict,
    b: dict | None = None,
    unit: str = "rows",
    config: list[str] | None = None,
) -> dict[str, Any]:
    r = {
        "case": case,
        "config": " ".join(config or []),
        unit: n,
        "baseline_s": round(base, 3),
        "zeroetl_s": round(z["seconds"], 3),
        "zeroetl_cpu_s": round(z["cpu_s"], 2),
        f"zeroetl_{unit}_per_s": round(n / z["seconds"]),
        "ratio_vs_baseline": round(base / z["seconds"], 3),
        "peak_rss_mb": round(z["peak_rss_mb"]),
        "peak_rss_tree_mb": round(z["tree_mb"]),
        "load_average": os.getloadavg()[0],
        "limit_raised": z["limit_raised"],
        "mariadb_cpu_s": round(z["mariadb_cpu_s"], 1),
    }
    if b is not None:  # the --compare run, and this run's ratios against it
        r["compare"] = " ".join(COMPARE)
        r["compare_s"] = round(b["seconds"], 3)
        r["compare_cpu_s"] = round(b["cpu_s"], 2)
        r["compare_peak_rss_mb"] = round(b["peak_rss_mb"])
        r["compare_mariadb_cpu_s"] = round(b["mariadb_cpu_s"], 1)
        r["speed_vs_compare"] = round(b["seconds"] / z["seconds"], 3)
        r["rss_vs_compare"] = round(z["peak_rss_mb"] / b["peak_rss_mb"], 3)
    print(json.dumps(r), flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--blob-rows", type=int, default=500)
    ap.add_argument("--tables", type=int, default=2_000)
    ap.add_argument("--cases", default="big,blobs,tables")
    ap.add_argument(
        "--extra",
        default="",
        help="extra `zeroetl replicate` options, space-separated; several configurations "
        "separated by ';' run the big case once each (each against its own baseline run)",
    )
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "snapshot_parallel_bench.json")
    )
    ap.add_argument("--py-spy", default="", help="profile zeroetl with py-spy into PREFIX-*.txt")
    ap.add_argument(
        "--compare",
        default="",
        help="run each case again with these `zeroetl replicate` options (space-separated) and "
        "report both, e.g. the settings before a change",
    )
    args = ap.parse_args()
    global PROFILE, COMPARE
    PROFILE = args.py_spy
    COMPARE = args.compare.split()
    extras = [e.split() for e in args.extra.split(";")]
    extra = extras[0]
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-snapparbench-"))
    server = MariaDBServer(
        tmp / "data",
        free_port(),
        extra_args=(
            "--max-allowed-packet=64M",
            "--innodb-buffer-pool-size=3G",
            "--innodb-file-per-table=0",
        ),
    )
    results = []
    try:
        server.start()
        server.create_replication_user()
        cases = args.cases.split(",")
        if "big" in cases:
            results.extend(case_big(server, tmp, args.rows, extras))
        if "blobs" in cases:
            results.append(case_blobs(server, tmp, args.blob_rows, extra))
        if "tables" in cases:
            results.append(case_tables(server, tmp, args.tables, extra))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
