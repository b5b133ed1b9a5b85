"""`chdb://` is the ClickHouse destination on embedded chDB: the registry imports the package
named by the URL's scheme, and this one brings in (and so registers) the ClickHouse one."""

from zeroetl.destinations.clickhouse import ClickHouseDestination

__all__ = ["ClickHouseDestination"]
