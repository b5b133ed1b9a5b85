"""The SQL endpoint's fixed cost per query, and the TICKIT Redshift corpus against MariaDB.

A real MariaDB and `zeroetl serve` (TICKIT at `--scale`, replicated into target database
`tickit`), clients over the wire as an analyst's would be:

- `select 1` round trips over psycopg 3 (autocommit; `--n` of them): median and p99, on two
  sessions: `cold` (`SET enable_result_cache_for_session TO off`: every statement runs in DuckDB)
  and `cached` (the default: Redshift's result cache, on by default there too, answers repeats
  while the tables read are unchanged); and `analyst`, a user who is not a superuser (granted
  the TICKIT tables) reading one row of `category` cached: its reads are ruled on by grants.
  Baselines in the same run: `select 1` on an in-process DuckDB connection (no wire, no
  translation) and on the source MariaDB over pymysql.
- the Redshift corpus of tests/integration/test_sql_tickit.py (Redshift spelling over psycopg,
  MariaDB spelling over pymysql on the source; `--repeat` runs each after a warm-up, median),
  cold and cached: per query the ratio MariaDB time / zeroetl time (> 1: zeroetl faster), their
  median and minimum. MariaDB's own query cache is off (its default since 10.1.7), so the
  MariaDB column is always a cold run: compare it with the cold column first.

    .venv/bin/python bench/sql_endpoint_bench.py [--scale 10] [--n 2000] [--repeat 5]

`--compare-src DIR` (a copy of `src` from before a change) then restarts `serve` on the same
warehouse from DIR and from this tree in turn (`--rounds` pairs, alternated) and times `select 1`
cold and cached, and the analyst's read cached and cold, on each; `--select1-only` skips the
corpus; `--pyspy DIR` records py-spy (`--idle --threads`, raw stacks) of `serve` under a loop of
each client: `select 1` cold, then cached, then the analyst's read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg

from zeroetl.sandbox import tickit
from zeroetl.sandbox.mariadb import MariaDBServer, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.integration.test_sql_tickit import CORPUS  # noqa: E402  (one corpus for both)

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = "tickit"
SCHEMA = "demodb"
# a user without superuser rights, granted the TICKIT tables: its reads are ruled on by grants
ANALYST, ANALYST_PW = "analyst", "Bench123x"
SETTLE_S = 10.0  # after every table is Synced: the last state changes and checkpoints
ANALYST_SQL = f"select catname from {SCHEMA}.category where catid = 3"


def wait(check: Callable[[], bool], timeout: float = 60.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():
            return time.perf_counter() - start
        time.sleep(0.05)
    raise SystemExit("timed out")


def timings(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stats_ms(xs: list[float]) -> dict[str, float]:
    ordered = sorted(xs)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 4),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=10.0, help="TICKIT scale (10: ~4.3M rows)")
    ap.add_argument("--n", type=int, default=2000, help="select 1 round trips per client")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each corpus query")
    ap.add_argument("--compare-src", type=Path, help="another tree's src, alternated with this")
    ap.add_argument("--rounds", type=int, default=3, help="alternated pairs with --compare-src")
    ap.add_argument("--select1-only", action="store_true", help="skip the corpus")
    ap.add_argument("--pyspy", type=Path, help="write py-spy profiles of serve here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-sqlbench-"))
    db = MariaDBServer(datadir=tmp / "mariadb", port=free_port(), server_id=1)
    db.start()
    db.create_replication_user()
    serve: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        root = db.root()
        tickit.load(root, database=SCHEMA, scale=args.scale, seed=1)
        root.close()
        print(f"TICKIT x{args.scale} loaded into MariaDB in {time.perf_counter() - t0:.0f} s")
        api, sql_port = free_port(), free_port()
        wh = tmp / "wh"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
        url = f"http://127.0.0.1:{api}"
        serve = _serve(tmp, wh, api, sql_port, env)
        wait(lambda: _up(url))
        token = (wh / "api.token").read_text().strip()
        created = httpx.post(
            url + "/v1/integrations",
            json={"name": "bench", "source": db.url(), "data_filter": f"include: {SCHEMA}.*"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).json()
        password = (wh / "sql.password").read_text().strip()
        dsn = f"host=127.0.0.1 port={sql_port} user=admin password={password}"
        with psycopg.connect(dsn + " dbname=dev", autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TARGET} FROM INTEGRATION '{created['id']}'")
            admin.execute(f"CREATE USER {ANALYST} PASSWORD '{ANALYST_PW}'")
        counts = tickit.row_counts(db.root(SCHEMA), SCHEMA)
        conn = psycopg.connect(dsn + f" dbname={TARGET}", autocommit=True)
        wait(lambda: _synced(conn, counts), timeout=1800)
        # the rows are in; table states still move for a while (each table's last snapshot
        # commit, its state change to Synced), and every such commit makes the kept results
        # and table states of that database stale: measure the quiet warehouse
        wait(lambda: _all_synced(conn, len(counts)), timeout=600)
        time.sleep(SETTLE_S)
        conn.execute(f"SET search_path TO {SCHEMA}")  # its schema exists now
        conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ANALYST}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {ANALYST}")
        cold = psycopg.connect(dsn + f" dbname={TARGET}", autocommit=True)
        cold.execute(f"SET search_path TO {SCHEMA}")
        cold.execute("SET enable_result_cache_for_session TO off")
        analyst = _analyst(dsn)
        src = db.root(SCHEMA)
        out: dict[str, Any] = {
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "duckdb": duckdb.__version__,
            "scale": args.scale,
            "rows": sum(counts.values()),
            "n": args.n,
            "repeat": args.repeat,
        }

        # --- select 1 -------------------------------------------------------------------
        local = duckdb.connect()
        timings(lambda: local.execute("select 1").fetchone(), 200)
        timings(lambda: conn.execute("select 1").fetchone(), 200)  # warm-up
        timings(lambda: cold.execute("select 1").fetchone(), 200)
        timings(lambda: analyst.execute(ANALYST_SQL).fetchone(), 200)
        timings(lambda: _maria(src, "select 1"), 200)
        clients: dict[str, Callable[[], object]] = {
            "zeroetl_cold": lambda: cold.execute("select 1").fetchone(),
            "zeroetl_cached": lambda: conn.execute("select 1").fetchone(),
            "zeroetl_analyst": lambda: analyst.execute(ANALYST_SQL).fetchone(),
            "duckdb": lambda: local.execute("select 1").fetchone(),
            "mariadb": lambda: _maria(src, "select 1"),
        }
        rounds: dict[str, list[float]] = {k: [] for k in clients}
        for _ in range(4):  # interleaved: machine noise hits all alike
            for name, fn in clients.items():
                rounds[name] += timings(fn, args.n // 4)
        out["select_1"] = {k: stats_ms(v) for k, v in rounds.items()}
        print(f"{'select 1':15} {'median ms':>10} {'p99 ms':>8}   load {_load()}")
        for k, v in out["select_1"].items():
            print(f"{k:15} {v['median_ms']:10.3f} {v['p99_ms']:8.3f}")
        if args.pyspy is not None:
            _profile(serve.pid, args.pyspy, {"cold": clients["zeroetl_cold"],
                                             "cached": clients["zeroetl_cached"],
                                             "analyst": clients["zeroetl_analyst"]})  # fmt: skip
        if args.compare_src is not None:
            conn.close()
            cold.close()
            analyst.close()
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
            serve = None
            trees = {"before": args.compare_src.resolve(), "after": ROOT / "src"}
            compared: dict[str, dict[str, list[float]]] = {
                t: {"cold": [], "cached": [], "analyst": [], "analyst_cold": []} for t in trees
            }
            loads = [_load()]
            for _ in range(args.rounds):
                for label, tree in trees.items():
                    serve = _serve(tmp, wh, api, sql_port, {**env, "PYTHONPATH": str(tree)})
                    wait(lambda: _up(url))
                    conn, cold = _sessions(dsn)
                    analyst, analyst_cold = _analyst(dsn), _analyst(dsn, cache=False)
                    sessions = {"cold": cold, "cached": conn, "analyst": analyst,
                                "analyst_cold": analyst_cold}  # fmt: skip
                    for kind, c in sessions.items():
                        q = ANALYST_SQL if kind.startswith("analyst") else "select 1"
                        timings(lambda c=c, q=q: c.execute(q).fetchone(), 200)  # warm-up
                    for _ in range(2):
                        for kind, c in sessions.items():
                            q = ANALYST_SQL if kind.startswith("analyst") else "select 1"
                            compared[label][kind] += timings(
                                lambda c=c, q=q: c.execute(q).fetchone(), args.n // 4
                            )
                    for c in sessions.values():
                        c.close()
                    serve.send_signal(signal.SIGTERM)
                    serve.wait(60)
                    serve = None
                    loads.append(_load())
            out["compare"] = {
                t: {k: stats_ms(v) for k, v in d.items()} for t, d in compared.items()
            }
            out["compare_load"] = loads
            print(f"\nselect 1, serve alternated ({args.rounds} rounds), load {loads}")
            for t, d in out["compare"].items():
                print(f"{t:8} cold {d['cold']['median_ms']:.3f} / p99 {d['cold']['p99_ms']:.3f}"
                      f"  cached {d['cached']['median_ms']:.3f} / p99"
                      f" {d['cached']['p99_ms']:.3f}  analyst (cached, not superuser)"
                      f" {d['analyst']['median_ms']:.3f} / p99 {d['analyst']['p99_ms']:.3f},"
                      f" cold {d['analyst_cold']['median_ms']:.3f} / p99"
                      f" {d['analyst_cold']['p99_ms']:.3f} ms")  # fmt: skip
            serve = _serve(tmp, wh, api, sql_port, env)
            wait(lambda: _up(url))
            conn, cold = _sessions(dsn)
        analyst.close()
        if args.select1_only:
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "sql_endpoint_bench.json").write_text(json.dumps(out, indent=2))
            return

        # --- the Redshift corpus ----------------------------------------------------------
        queries = []
        print(f"\n{'query':40} {'cold ms':>9} {'cached ms':>9} {'mariadb ms':>10}"
              f" {'cold':>7} {'cached':>7}")  # fmt: skip
        for title, redshift_sql, mariadb_sql in CORPUS:
            ours_sql = redshift_sql.format(db=TARGET, s=SCHEMA)
            conn.execute(ours_sql).fetchall()  # warm-up (and the cached session's first run)
            cold.execute(ours_sql).fetchall()
            _maria(src, mariadb_sql)
            runs: dict[str, list[float]] = {"cold": [], "cached": [], "mariadb": []}
            for _ in range(args.repeat):
                runs["cold"] += timings(lambda q=ours_sql: cold.execute(q).fetchall(), 1)
                runs["cached"] += timings(lambda q=ours_sql: conn.execute(q).fetchall(), 1)
                runs["mariadb"] += timings(lambda q=mariadb_sql: _maria(src, q), 1)
            o, c, t = (statistics.median(runs[k]) for k in ("cold", "cached", "mariadb"))
            queries.append({"title": title, "zeroetl_cold_ms": round(o * 1000, 3),
                            "zeroetl_cached_ms": round(c * 1000, 3),
                            "mariadb_ms": round(t * 1000, 3), "ratio_cold": round(t / o, 2),
                            "ratio_cached": round(t / c, 2)})  # fmt: skip
            print(f"{title[:40]:40} {o * 1000:9.2f} {c * 1000:9.2f} {t * 1000:10.2f}"
                  f" {t / o:6.2f}x {t / c:6.2f}x")  # fmt: skip
        out["corpus"] = queries
        for kind in ("cold", "cached"):
            ratios = [q[f"ratio_{kind}"] for q in queries]
            out[f"corpus_median_ratio_{kind}"] = statistics.median(ratios)
            out[f"corpus_min_ratio_{kind}"] = min(ratios)
            print(f"{kind}: median {statistics.median(ratios):.2f}x, slowest {min(ratios):.2f}x"
                  " MariaDB")  # fmt: skip
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "sql_endpoint_bench.json").write_text(json.dumps(out, indent=2))
        conn.close()
        cold.close()
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
        db.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # TICKIT x10: GBs of MariaDB and warehouse


def _serve(tmp: Path, wh: Path, api: int, sql_port: int, env: dict[str, str]) -> Any:
    with (tmp / "serve.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "zeroetl.cli.main", "serve", "--warehouse", str(wh),
             "--api-port", str(api), "--sql-port", str(sql_port)],
            stdout=log, stderr=log, env=env,
        )  # fmt: skip


def _sessions(dsn: str) -> tuple[psycopg.Connection[Any], psycopg.Connection[Any]]:
    """(cached, cold) sessions on the target database."""
    conn = psycopg.connect(dsn + f" dbname={TARGET}", autocommit=True)
    wait(lambda: _usable(conn))
    conn.execute(f"SET search_path TO {SCHEMA}")
    cold = psycopg.connect(dsn + f" dbname={TARGET}", autocommit=True)
    cold.execute(f"SET search_path TO {SCHEMA}")
    cold.execute("SET enable_result_cache_for_session TO off")
    return conn, cold


def _analyst(dsn: str, *, cache: bool = True) -> psycopg.Connection[Any]:
    """A session of the non-superuser ANALYST on the target database (`cache`: the result
    cache on, the default)."""
    base = dsn.split(" user=")[0]
    conn = psycopg.connect(f"{base} user={ANALYST} password={ANALYST_PW} dbname={TARGET}",
                           autocommit=True)  # fmt: skip
    conn.execute(f"SET search_path TO {SCHEMA}")
    if not cache:
        conn.execute("SET enable_result_cache_for_session TO off")
    return conn


def _usable(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute(f"select count(*) from {SCHEMA}.category").fetchone()
    except psycopg.Error:
        return False
    return True


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _profile(pid: int, where: Path, loops: dict[str, Callable[[], object]]) -> None:
    """py-spy (--idle, per thread, raw stacks) of serve while one client loops select 1."""
    where.mkdir(parents=True, exist_ok=True)
    for name, fn in loops.items():
        spy = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--idle", "--threads", "-r", "400", "-d", "6", "-f", "raw",
             "-o", str(where / f"{name}.txt"), "--pid", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        n = 0
        while spy.poll() is None:
            fn()
            n += 1
        print(f"py-spy {name}: {n} round trips -> {where / (name + '.txt')}")


def _maria(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _all_synced(conn: psycopg.Connection[Any], tables: int) -> bool:
    row = conn.execute(
        "select count(*) filter (where table_state = 'Synced'), count(*) from"
        f" svv_integration_table_state where target_database = '{TARGET}'"
    ).fetchone()
    return row is not None and row[0] == row[1] >= tables


def _synced(conn: psycopg.Connection[Any], counts: dict[str, int]) -> bool:
    try:
        for table, n in counts.items():
            row = conn.execute(f"select count(*) from {SCHEMA}.{table}").fetchone()
            if row is None or row[0] != n:
                return False
    except psycopg.Error:
        return False
    return True


if __name__ == "__main__":
    main()
