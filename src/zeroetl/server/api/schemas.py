"""Responses of the HTTP API: one model per answer, with an example, and the real errors.

Every route declares its response model (FastAPI checks each answer against it, so the OpenAPI
document cannot drift from what is sent) and the error statuses it can answer, all with one
shape: `{"error": {"code", "message", "hint"}}`. The names follow one vocabulary
(docs/service.md, "Names and units"): a table is `schema` + `table`, a state comes with its
`reason`, an integration's current problems are `errors` [{code, message}], durations are
seconds (`*_seconds`), sizes bytes (`*_bytes`, `bytes`), times ISO 8601 UTC strings (`*_at`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ID = "0b5a3c1e-6f2d-4c8e-9a7b-2d4f6e8a0c1b"
_NOW = "2026-11-30T12:00:00.000+00:00"
_CHECKPOINT = "binlog.000003:4711 gtid 0-1-1234"


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(populate_by_name=True, json_schema_extra={"examples": [value]})


# --- errors ---------------------------------------------------------------------------------


class ApiError(_Out):
    code: str = Field(description="stable error code (docs/service.md lists them)")
    message: str
    hint: str = Field("", description="what to do next, when there is something to do")


class ErrorResponse(_Out):
    error: ApiError


# code -> (status, message, hint): the example of each error code a route may answer
ERRORS: dict[str, tuple[int, str, str]] = {
    "InvalidParameter": (400, "limit: Input should be less than or equal to 1000", ""),
    "InvalidDataFilter": (400, "invalid data filter rule 'include demodb.*'", "e.g. include: db.*"),
    "SourceUnavailable": (
        400,
        "cannot connect to mysql://repl@db.example:3306: Connection refused",
        "check host, port, user and password in the source URL",
    ),
    "SourceNotReady": (
        400,
        "source mysql://repl@db.example:3306 is not ready: binlog_format: binlog_format=MIXED",
        "SET GLOBAL binlog_format = 'ROW'; ...",
    ),
    "Unauthorized": (401, "missing bearer token", "send Authorization: Bearer <token>"),
    "SourceNotAuthorized": (
        403,
        "source db.example:3306 is not an authorized integration source of this warehouse",
        "add it with `zeroetl serve --allow-source HOST[:PORT]`",
    ),
    "IntegrationNotFound": (
        404,
        "no integration with name or id 'nosuch'",
        "`zeroetl integration list` shows the integrations of this warehouse",
    ),
    "TableNotFound": (404, "integration appdb-etl has no table shop.nosuch", ""),
    "TargetDatabaseNotFound": (404, "no target database named 'nosuch'", ""),
    "IntegrationAlreadyExists": (409, "an integration named 'appdb-etl' already exists", ""),
    "TargetDatabaseAlreadyExists": (409, "target database 'appdb' already exists", ""),
    "InvalidIntegrationState": (
        409,
        "integration appdb-etl is not replicating (state paused)",
        "resume it first",
    ),
    "PayloadTooLarge": (413, "request body larger than 1048576 bytes", ""),
    "InternalError": (500, "unexpected KeyError", ""),
    "ServiceBusy": (
        503,
        "too many source checks are under way (sources slow to answer)",
        "retry in a few seconds",
    ),
}
_STATUS_TEXT = {
    400: "Invalid request: a parameter, the body or the source",
    401: "No valid bearer token (checked before the body is read)",
    403: "The source is not authorized for this warehouse",
    404: "No such integration, table or target database",
    409: "Conflicts with the current state or an existing name",
    413: "Body larger than 1 MiB",
    500: "A bug (the service log has the details)",
    503: "Too many source checks under way; retry",
}


def errors(*codes: str) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route that may answer these error codes (401 and 500 always)."""
    by_status: dict[int, list[str]] = {}
    for code in ("Unauthorized", *codes, "InternalError"):
        by_status.setdefault(ERRORS[code][0], []).append(code)
    out: dict[int | str, dict[str, Any]] = {}
    for status, names in sorted(by_status.items()):
        examples = {
            name: {
                "summary": name,
                "value": {
                    "error": {"code": name, "message": ERRORS[name][1], "hint": ERRORS[name][2]}
                },
            }
            for name in names
        }
        out[status] = {
            "model": ErrorResponse,
            "description": f"{_STATUS_TEXT[status]}: {', '.join(names)}",
            "content": {"application/json": {"examples": examples}},
        }
    return out


# --- integrations ---------------------------------------------------------------------------

State = Literal[
    "creating",
    "active",
    "syncing",
    "needs_attention",
    "modifying",
    "paused",
    "failed",
    "deleting",
    "deleted",
]
ReplicationState = Literal["PendingDbConnectState", "CdcRefreshState", "ErrorState", "PausedState"]


class IntegrationError(_Out):
    code: str = Field(description="an error code of docs/service.md, e.g. TableFailed")
    message: str


class Source(_Out):
    engine: Literal["MySQL"]
    host: str
    port: int
    user: str
    ssl: Literal["preferred", "disabled", "required", "verify"]
    url: str = Field(description="without the password")


class TableCounts(_Out):
    replicated: int = Field(description="tables Synced")
    failed: int = Field(description="tables Failed")
    resyncing: int = Field(description="tables ResyncRequired or ResyncInitiated")


_INTEGRATION = {
    "id": _ID,
    "name": "appdb-etl",
    "description": "orders and customers",
    "tags": {"team": "analytics"},
    "source": {
        "engine": "MySQL",
        "host": "db.example",
        "port": 3306,
        "user": "repl",
        "ssl": "verify",
        "url": "mysql://repl@db.example:3306/?ssl=verify",
    },
    "data_filter": "exclude: *.*, include: shop.*",
    "destination": None,
    "target_database": "appdb",
    "source_database": None,
    "query_all_states": False,
    "state": "needs_attention",
    "reason": "1 table(s) failed: shop.audit (table has no primary key)",
    "replication_state": "ErrorState",
    "errors": [
        {"code": "TableFailed", "message": "table shop.audit failed: table has no primary key"}
    ],
    "phase": "streaming",
    "lag_seconds": 0.213,
    "checkpoint": _CHECKPOINT,
    "last_change_detected_at": _NOW,
    "tables": {"replicated": 12, "failed": 1, "resyncing": 0},
    "created_at": "2026-11-29T08:30:00.000+00:00",
    "updated_at": _NOW,
    "first_synced_at": "2026-11-29T08:31:12.000+00:00",
    "deleted_at": None,
}


class Integration(_Out):
    model_config = _example(_INTEGRATION)

    id: str
    name: str
    description: str
    tags: dict[str, str]
    source: Source
    data_filter: str = Field(description='"" replicates every table')
    destination: str | None = Field(
        default=None,
        description="chdb:///dir or clickhouse://user@host:port/ (never a password); "
        "None: the warehouse's DuckDB",
    )
    target_database: str | None = Field(description="None: PendingDbConnectState")
    source_database: str | None
    query_all_states: bool
    state: State
    reason: str = Field(description="why the integration is in this state")
    replication_state: ReplicationState = Field(description="svv_integration.state")
    errors: list[IntegrationError] = Field(description="what is wrong now; [] when nothing")
    phase: str | None = Field(description="the engine's phase: snapshot, streaming, ...")
    lag_seconds: float | None = Field(
        description="source commit to warehouse commit; grows while nothing flows"
    )
    checkpoint: str | None = Field(description="the committed source position")
    last_change_detected_at: str | None = Field(
        description="source commit time of the newest change read since the service started"
    )
    tables: TableCounts
    created_at: str
    updated_at: str
    first_synced_at: str | None
    deleted_at: str | None


class IntegrationPage(_Out):
    model_config = _example({"items": [_INTEGRATION], "next_token": None, "total": 1})

    items: list[Integration]
    next_token: str | None = Field(description="pass it back for the next page; None: last")
    total: int


_TABLE = {
    "schema": "shop",
    "table": "orders",
    "state": "Synced",
    "reason": "",
    "rows": 1_204_332,
    "size_bytes": 52_428_800,
    "last_updated_at": "2026-11-29T08:31:10.000+00:00",
    "last_change_at": _NOW,
    "zero_dates": 0,
}


class Table(_Out):
    model_config = _example(_TABLE)

    schema_: str = Field(alias="schema")
    table: str
    state: str = Field(description="Synced, Failed, ResyncRequired, ResyncInitiated or Deleted")
    reason: str
    rows: int | None
    size_bytes: int | None
    last_updated_at: str | None = Field(description="when the state last changed")
    last_change_at: str | None = Field(description="when a change was last applied")
    zero_dates: int = Field(description="zero dates read as NULL since the table's copy")


class TablePage(_Out):
    model_config = _example({"items": [_TABLE], "next_token": None, "total": 1})

    items: list[Table]
    next_token: str | None
    total: int


_TABLE_CHANGE = {
    "schema": "shop",
    "table": "orders",
    "state": "ResyncInitiated",
    "reason": "refresh requested",
    "checkpoint": None,
    "recorded_at": _NOW,
}


class TableStateChange(_Out):
    model_config = _example(_TABLE_CHANGE)

    schema_: str = Field(alias="schema")
    table: str
    state: str
    reason: str
    checkpoint: str | None = Field(description="the checkpoint the table was Synced at")
    recorded_at: str


class TableStateChangePage(_Out):
    model_config = _example({"items": [_TABLE_CHANGE], "next_token": None})

    items: list[TableStateChange]
    next_token: str | None = Field(description="given whenever a page came back full")


_CHANGE = {
    "integration_id": _ID,
    "state": "paused",
    "reason": "paused on request; resume continues from the checkpoint",
    "recorded_at": _NOW,
}


class StateChange(_Out):
    model_config = _example(_CHANGE)

    integration_id: str
    state: State
    reason: str
    recorded_at: str


class StateChangePage(_Out):
    model_config = _example({"items": [_CHANGE], "next_token": None})

    items: list[StateChange]
    next_token: str | None = Field(description="given whenever a page came back full")


_ACTIVITY = {
    "checkpoint": _CHECKPOINT,
    "checkpoint_type": "cdc",
    "bytes": 18_432,
    "tables_modified": 2,
    "source_commit_at": "2026-11-30T11:59:59.800+00:00",
    "started_at": "2026-11-30T11:59:59.950+00:00",
    "ended_at": _NOW,
}


class Activity(_Out):
    model_config = _example(_ACTIVITY)

    checkpoint: str
    checkpoint_type: str = Field(description="snapshot or cdc")
    bytes: int | None = Field(description="bytes of row images applied")
    tables_modified: int | None
    source_commit_at: str | None = Field(description="source commit of the batch's newest change")
    started_at: str | None
    ended_at: str | None = Field(description="when the batch was committed in the warehouse")


class ActivityPage(_Out):
    model_config = _example({"items": [_ACTIVITY], "next_token": None})

    items: list[Activity]
    next_token: str | None = Field(description="given whenever a page came back full")


class RefreshAccepted(_Out):
    model_config = _example({"integration_id": _ID, "refresh": "shop.orders", "accepted": True})

    integration_id: str
    refresh: str = Field(description="what is re-copied: tables, all tables, in-error tables")
    accepted: bool


_DATABASE = {
    "name": "appdb",
    "integration_id": _ID,
    "created_at": "2026-11-29T08:30:01.000+00:00",
    "path": "/srv/zeroetl/databases/appdb.duckdb",
}


class Database(_Out):
    model_config = _example(_DATABASE)

    name: str
    integration_id: str | None = Field(description="None: served read-only, not replicated")
    created_at: str
    path: str


class DatabasePage(_Out):
    model_config = _example({"items": [_DATABASE], "next_token": None, "total": 1})

    items: list[Database]
    next_token: None = Field(description="always None: every database in one answer")
    total: int


class Health(_Out):
    model_config = _example({"status": "ok", "version": "0.1.0"})

    status: Literal["ok"]
    version: str


# --- monitoring -----------------------------------------------------------------------------


class RowCounts(_Out):
    insert: int
    update: int
    delete: int


class SnapshotTable(_Out):
    schema_: str = Field(alias="schema")
    table: str
    state: str
    rows_copied: int
    complete: bool


class TableActivity(_Out):
    schema_: str = Field(alias="schema")
    table: str
    insert: int
    update: int
    delete: int
    bytes: int
    last_change_at: str | None


class Retention(_Out):
    headroom_seconds: float | None = Field(
        description="until the source may purge the binlog file the checkpoint needs"
    )
    purged_automatically: bool | None = Field(description="False: the source never purges")
    reason: str = Field(description="why there is no number, when there is none")


class Stats(_Out):
    model_config = _example(
        {
            "integration_id": _ID,
            "state": "active",
            "lag_seconds": 0.213,
            "tables": {"replicated": 7, "failed": 0, "resyncing": 0},
            "rows_applied": {"insert": 120_400, "update": 8_210, "delete": 310},
            "data_transferred_bytes": 48_211_968,
            "snapshot_rows": 425_000,
            "snapshot_tables": [
                {"schema": "demodb", "table": "sales", "state": "Synced",
                 "rows_copied": 172_456, "complete": True}
            ],
            "table_activity": [
                {"schema": "demodb", "table": "sales", "insert": 1200, "update": 40,
                 "delete": 3, "bytes": 310_000, "last_change_at": _NOW}
            ],
            "batches": 5120,
            "last_applied_at": _NOW,
            "last_source_commit_at": "2026-11-30T11:59:59.800+00:00",
            "checkpoint_file": "binlog.000003",
            "binlog_retention": {
                "headroom_seconds": 601_200.0, "purged_automatically": True, "reason": ""
            },
        }
    )  # fmt: skip

    integration_id: str
    state: State
    lag_seconds: float | None
    tables: TableCounts
    rows_applied: RowCounts = Field(description="from the binlog, since the first snapshot")
    data_transferred_bytes: int
    snapshot_rows: int
    snapshot_tables: list[SnapshotTable]
    table_activity: list[TableActivity]
    batches: int
    last_applied_at: str | None
    last_source_commit_at: str | None
    checkpoint_file: str | None
    binlog_retention: Retention | None


class SeriesPoint(_Out):
    t: int = Field(description="the bucket's start, seconds since the epoch")
    lag_seconds: float | None = Field(description="largest lag of the batches applied in it")
    insert: int
    update: int
    delete: int
    bytes: int
    batches: int
    tables_replicated: int
    tables_failed: int


class Series(_Out):
    model_config = _example(
        {
            "integration_id": _ID,
            "minutes": 60,
            "step_seconds": 30,
            "now": 1_796_040_000,
            "points": [
                {"t": 1_796_039_970, "lag_seconds": 0.31, "insert": 52, "update": 4,
                 "delete": 1, "bytes": 13_000, "batches": 28, "tables_replicated": 7,
                 "tables_failed": 0}
            ],
        }
    )  # fmt: skip

    integration_id: str
    minutes: int
    step_seconds: int
    now: int = Field(description="seconds since the epoch")
    points: list[SeriesPoint] = Field(description="oldest first")
