"""The destinations every conformance test runs against. A new destination adds one entry to
DESTINATIONS: how to open it, read a table back in key order, and reopen it after a crash."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.memory_support import MemoryDestination

from zeroetl.destinations import base
from zeroetl.model import TableId


@dataclass
class Harness:
    dest: Any  # the Destination under test
    read: Callable[[TableId, tuple[str, ...]], list[dict[str, Any]]]  # rows ordered by the key
    reopen: Callable[[], Any]  # the destination as a new process would find it after a crash
    stop: Callable[[], Any] | None = None  # ends what the harness started (a server)


def _duckdb(tmp_path: Path) -> Harness:
    path = tmp_path / "conf.duckdb"
    box: dict[str, Any] = {"dest": base.open_url(f"duckdb://{path}", "conformance")}

    def read(table: TableId, key: tuple[str, ...]) -> list[dict[str, Any]]:
        q = '"' + table.schema.replace('"', '""') + '"."' + table.table.replace('"', '""') + '"'
        order = ", ".join('"' + k + '"' for k in key)
        cur = box["dest"].reader()
        return cur.sql(f"SELECT * FROM {q} ORDER BY {order}").to_arrow_table().to_pylist()

    def reopen() -> Any:
        box["dest"]._con.close()  # the process dies: no rollback, no commit
        box["dest"] = base.open_url(f"duckdb://{path}", "conformance")
        h.dest = box["dest"]
        return h.dest

    h = Harness(box["dest"], read, reopen)
    return h


def _memory(tmp_path: Path) -> Harness:
    dest = MemoryDestination()

    def read(table: TableId, key: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = dest.table(table)
        return [rows[k] for k in sorted(rows)]

    def reopen() -> Any:
        dest.rollback()  # what a dead process leaves: only committed state
        return dest

    return Harness(dest, read, reopen)


def _chdb(tmp_path: Path) -> Harness:
    """Embedded ClickHouse (chDB): rows read back with FINAL, as the source's logical values."""
    path = tmp_path / "conf.chdb"
    box: dict[str, Any] = {"dest": base.open_url(f"chdb://{path}", "conformance")}

    def read(table: TableId, key: tuple[str, ...]) -> list[dict[str, Any]]:
        return box["dest"].read_table(table, key).to_pylist()

    def reopen() -> Any:
        box["dest"]._t.close()  # the process dies: what is pending in memory is gone
        box["dest"] = base.open_url(f"chdb://{path}", "conformance")
        h.dest = box["dest"]
        return h.dest

    h = Harness(box["dest"], read, reopen)
    return h


def _chdb_cluster(tmp_path: Path) -> Harness:
    """The `?cluster=` layout (Replicated local tables, Distributed tables, ON CLUSTER DDL) on
    chDB with a one-shard cluster of this process (chdb_cluster.py: what needs Keeper is taken
    out of what runs; every statement is recorded as sent)."""
    from tests.destinations.chdb_cluster import open_cluster

    path = tmp_path / "conf.cluster"
    box: dict[str, Any] = {"dest": open_cluster(path, "conformance")}

    def read(table: TableId, key: tuple[str, ...]) -> list[dict[str, Any]]:
        return box["dest"].read_table(table, key).to_pylist()

    def reopen() -> Any:
        box["dest"]._t.close()  # the process dies: what is pending in memory is gone
        box["dest"] = open_cluster(path, "conformance")
        h.dest = box["dest"]
        return h.dest

    h = Harness(box["dest"], read, reopen)
    return h


def start_chdb_http(where: Path) -> tuple[subprocess.Popen[bytes], str]:
    """ClickHouse's engine (chDB) behind the test-only HTTP front (chdb_http.py), in a process
    of its own: the server and the `clickhouse://` URL that reaches it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.destinations.chdb_http", str(where), str(port)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
    return server, f"clickhouse://default@127.0.0.1:{port}/"


def _clickhouse_http(tmp_path: Path) -> Harness:
    """The `clickhouse://` transport (clickhouse-connect over HTTP) against ClickHouse 26.9's
    engine behind the test-only HTTP front: a server that outlives the client."""
    server, url = start_chdb_http(tmp_path / "srv")
    box: dict[str, Any] = {"dest": base.open_url(url, "conformance")}

    def read(table: TableId, key: tuple[str, ...]) -> list[dict[str, Any]]:
        return box["dest"].read_table(table, key).to_pylist()

    def reopen() -> Any:
        box["dest"]._t.close()  # the client process dies; the server keeps what it was sent
        box["dest"] = base.open_url(url, "conformance")
        h.dest = box["dest"]
        return h.dest

    def stop() -> None:
        server.kill()
        server.wait()

    h = Harness(box["dest"], read, reopen, stop=stop)
    return h


DESTINATIONS: dict[str, Callable[[Path], Harness]] = {
    "chdb": _chdb,
    "chdb-cluster": _chdb_cluster,
    "clickhouse-http": _clickhouse_http,
    "duckdb": _duckdb,
    "memory": _memory,
}


@pytest.fixture(params=sorted(DESTINATIONS))
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    harness = DESTINATIONS[request.param](tmp_path)
    yield harness
    harness.dest.close()
    if harness.stop is not None:
        harness.stop()
