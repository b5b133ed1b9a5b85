"""The JSON shape of an integration, as the API (and the CLI's --json) shows it.

Names and units are the API's one vocabulary (docs/service.md, "Names and units"): a state with
its `reason`, current problems as `errors` [{code, message}], durations in seconds
(`lag_seconds`), times as ISO 8601 UTC strings ending in `_at`. Never the password: the source
appears as user, host and port only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zeroetl.catalog.store import IntegrationRecord
from zeroetl.model import IntegrationState
from zeroetl.service.worker import Worker
from zeroetl.sources.mysql.connection import DEFAULT_SSL


def replication_state(rec: IntegrationRecord) -> str:
    """svv_integration.state: PendingDbConnectState | CdcRefreshState | ErrorState, and
    PausedState while paused (zeroetl's own: the reference has no pause)."""
    if not rec.target_database:
        return "PendingDbConnectState"
    if rec.state in (IntegrationState.FAILED, IntegrationState.NEEDS_ATTENTION):
        return "ErrorState"
    if rec.state == IntegrationState.PAUSED:
        return "PausedState"
    return "CdcRefreshState"


def integration_view(
    rec: IntegrationRecord,
    worker: Worker | None,
    table_states: list[str],
    checkpoint: str | None,
) -> dict[str, Any]:
    """`table_states` and `checkpoint` are read from the target database when no worker runs."""
    ssl = str(rec.source_options.get("ssl") or DEFAULT_SSL)
    runtime: dict[str, Any] = {"phase": None, "lag_ms": None, "checkpoint": None, "detected": None}
    errors: list[tuple[str, str]] = []
    if rec.error_code:  # recorded with the state failed
        errors = [(rec.error_code, rec.error_message or "")]
    if worker is not None:
        runtime = worker.runtime()
        rep = worker.rep
        table_states = [s.state.value for s in list(rep.book.status.values())] if rep else []
        errors = errors or worker.errors()
    if rec.state == IntegrationState.PAUSED:
        runtime["phase"] = "paused"
    lag_ms = runtime["lag_ms"]
    detected = runtime["detected"]
    return {
        "id": rec.id,
        "name": rec.name,
        "description": rec.description,
        "tags": rec.tags,
        "source": {
            "engine": "MySQL",
            "host": rec.source_host,
            "port": rec.source_port,
            "user": rec.source_user,
            "ssl": ssl,
            "url": f"mysql://{rec.source_user}@{rec.source_host}:{rec.source_port}"
            + ("" if ssl == DEFAULT_SSL else f"/?ssl={ssl}"),
        },
        "data_filter": rec.data_filter,
        # a ClickHouse URL, never with a password (destination_urls.py); None: DuckDB
        "destination": rec.destination,
        "target_database": rec.target_database,
        "source_database": rec.source_database,
        "query_all_states": rec.query_all_states,
        "state": rec.state,
        "reason": rec.state_reason,
        "replication_state": replication_state(rec),
        "errors": [{"code": code, "message": message} for code, message in errors],
        "phase": runtime["phase"],
        "lag_seconds": None if lag_ms is None else round(lag_ms / 1000.0, 3),
        "checkpoint": runtime["checkpoint"] or checkpoint,
        "last_change_detected_at": (
            None if detected is None else datetime.fromtimestamp(detected, UTC).isoformat()
        ),
        "tables": {
            "replicated": table_states.count("Synced"),
            "failed": table_states.count("Failed"),
            "resyncing": table_states.count("ResyncRequired")
            + table_states.count("ResyncInitiated"),
        },
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "first_synced_at": rec.first_synced_at,
        "deleted_at": rec.deleted_at,
    }
