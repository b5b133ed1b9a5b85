"""ClickHouse destination: embedded chDB (`chdb:///path`) or a server over HTTP
(`clickhouse://user@host:8123/?cluster=NAME&secure=1`). See docs/clickhouse.md."""

from .destination import ClickHouseDestination

__all__ = ["ClickHouseDestination"]
