"""The destinations every conformance test runs against. A new destination adds one entry to
DESTINATIONS: how to open it, read a table back in key order, and reopen it after a crash."""

from __future__ import annotations

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


DESTINATIONS: dict[str, Callable[[Path], Harness]] = {
    "chdb": _chdb,
    "duckdb": _duckdb,
    "memory": _memory,
}


@pytest.fixture(params=sorted(DESTINATIONS))
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    harness = DESTINATIONS[request.param](tmp_path)
    yield harness
    harness.dest.close()
