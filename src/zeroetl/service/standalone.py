"""A target database opened by one process without the service: `zeroetl replicate` and benches.

The service keeps its integrations in the catalog; a standalone run keeps the integration's id
in the target database file itself, so a copy of the file keeps its identity.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from zeroetl.destinations import base as destinations
from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.destinations.duckdb.memory import Memory
from zeroetl.destinations.duckdb.upkeep import Upkeep
from zeroetl.errors import ConfigError
from zeroetl.service.hub import TEMP_DIR, database_path, migrate_layout


def open_integration(
    warehouse: Path, database: str, upkeep: Upkeep | None = None, memory: Memory | None = None
) -> tuple[DuckDBDestination, str]:
    """The target database file and the id of the integration that owns it (made on first use).
    DuckDB's memory is bounded by `memory` (memory.py's defaults), spilling to
    `<warehouse>/tmp/<database>`."""
    if not database or "/" in database or database.startswith("."):
        raise ConfigError(f"invalid target database name {database!r}")
    # A warehouse of the old layout keeps its place in the binlog.
    migrate_layout(warehouse, only=database)
    path = database_path(warehouse, database)
    memory = replace(memory or Memory(), temp_dir=Path(warehouse) / TEMP_DIR / database)
    # The integration id lives in the file itself, so a copy of the file keeps its identity.
    dest = DuckDBDestination(path, integration_id="pending", memory_settings=memory)
    integration_id = dest.kv_get("integration_id")
    if integration_id is None:
        integration_id = str(uuid.uuid4())
        dest.begin()
        dest.kv_set("integration_id", integration_id)
        dest.commit()
    dest.close()
    dest = DuckDBDestination(
        path, integration_id=integration_id, upkeep_settings=upkeep, memory_settings=memory
    )
    return dest, integration_id


def open_destination_url(url: str) -> tuple[destinations.Destination, str]:
    """The destination a URL names (`chdb:///dir`, `clickhouse://user@host:8123/`), and the id
    of the integration that owns it, kept in the destination itself (made on first use)."""
    dest = destinations.open_url(url, "pending")
    try:
        integration_id = dest.kv_get("integration_id")
        if integration_id is None:
            integration_id = str(uuid.uuid4())
            dest.kv_set("integration_id", integration_id)
    finally:
        dest.close()
    return destinations.open_url(url, integration_id), integration_id
