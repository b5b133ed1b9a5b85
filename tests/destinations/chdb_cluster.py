"""A ClickHouse cluster destination's statements, recorded as sent and run on chDB.

There is no ClickHouse cluster here (no server, no Keeper). What can run does: chDB is opened
with a server configuration that defines cluster `prod` as one shard of one replica, this
process. `Distributed('prod', ...)` tables, inserts through them (foreground, with quorum
settings) and FINAL reads through them then run on ClickHouse's engine as sent. What one
process cannot run is taken out of the copy that runs, and only of that copy: `ON CLUSTER`
(it needs Keeper's DDL queue) and the Keeper path and replica name of the Replicated engines
(a Replicated table needs Keeper). `sent` keeps every statement exactly as the destination
sent it, for the tests to inspect.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from zeroetl.destinations.clickhouse.conn import ChdbTransport
from zeroetl.destinations.clickhouse.destination import ClickHouseDestination

CLUSTER = "prod"
CONFIG = f"""<clickhouse>
  <tcp_port>9000</tcp_port>
  <macros><shard>01</shard><replica>r1</replica></macros>
  <remote_servers>
    <{CLUSTER}>
      <shard>
        <internal_replication>true</internal_replication>
        <replica><host>localhost</host><port>9000</port></replica>
      </shard>
    </{CLUSTER}>
  </remote_servers>
</clickhouse>
"""

_ON_CLUSTER = re.compile(r" ON CLUSTER `[^`]*`")
_REPLICATED = re.compile(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(, )?")


def runnable(sql: str) -> str:
    """The statement as one process can run it: without ON CLUSTER and Keeper parameters."""
    sql = _ON_CLUSTER.sub("", sql)
    return _REPLICATED.sub(lambda m: m.group(1) + "(", sql).replace("MergeTree()", "MergeTree")


class RecordingTransport:
    """The Transport protocol (conn.py): records, then runs the runnable copy on chDB."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        config = path.parent / f"{path.name}.cluster.xml"
        config.write_text(CONFIG)
        self.inner = ChdbTransport(path, config_file=config)
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def command(self, sql: str) -> None:
        self.sent.append(("command", sql, {}))
        self.inner.command(runnable(sql))

    def query(self, sql: str, settings: dict[str, str] | None = None) -> pa.Table:
        self.sent.append(("query", sql, dict(settings or {})))
        return self.inner.query(runnable(sql), settings)

    def insert(
        self, table_sql: str, data: pa.Table, settings: dict[str, str] | None = None
    ) -> None:
        self.sent.append(("insert", table_sql, dict(settings or {})))
        self.inner.insert(table_sql, data, settings)

    def close(self) -> None:
        self.inner.close()

    def commands(self) -> list[str]:
        return [sql for kind, sql, _ in self.sent if kind == "command"]


def open_cluster(path: Path, integration_id: str = "i1") -> Any:
    """A ClickHouseDestination for `?cluster=prod` over a RecordingTransport on `path`."""
    return ClickHouseDestination(
        RecordingTransport(path), integration_id, cluster=CLUSTER, where=f"cluster:{path}"
    )
