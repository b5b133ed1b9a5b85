"""`/v1/integrations` and `/v1/databases`. `{ident}` is an integration's name or id.

Each route declares its response model (schemas.py) and the error codes it can answer; the
OpenAPI document shows both, with examples.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from zeroetl.server.api import schemas as s
from zeroetl.server.api.guard import SourceCalls
from zeroetl.server.api.models import (
    CreateIntegration,
    CreateTargetDatabase,
    ModifyIntegration,
    Refresh,
    page,
)
from zeroetl.service.service import Service

MAX_LIMIT = 1000
MAX_OFFSET = 10**9  # far beyond any list here; keeps SQLite's 64-bit integers safe


def _token(next_token: str | None) -> int:
    from zeroetl.catalog.errors import InvalidParameter

    if not next_token:
        return 0
    if not next_token.isascii() or not next_token.isdigit() or len(next_token) > 10:
        raise InvalidParameter(
            f"invalid next_token {next_token[:20]!r}", hint="pass back a previous page's next_token"
        )
    offset = int(next_token)
    if offset > MAX_OFFSET:
        raise InvalidParameter(f"next_token {offset} is past the end of any list")
    return offset


Limit = Query(100, ge=1, le=MAX_LIMIT, description="items per page")
NextToken = Query(None, description="from the previous page's next_token")

# What the routes of one integration may answer besides their own errors.
_ONE = ("IntegrationNotFound",)
_PAGED = ("InvalidParameter", "IntegrationNotFound")
_SOURCE = ("SourceUnavailable", "SourceNotReady")
_BODY = ("InvalidParameter", "PayloadTooLarge")


def router(service: Service, sources: SourceCalls) -> APIRouter:
    """`sources` runs the calls that contact a source (bounded, off the event loop)."""
    r = APIRouter(prefix="/v1", tags=["integrations"])

    @r.post(
        "/integrations",
        status_code=201,
        response_model=s.Integration,
        responses=s.errors(
            *_BODY,
            "InvalidDataFilter",
            *_SOURCE,
            "SourceNotAuthorized",
            "IntegrationAlreadyExists",
            "TargetDatabaseAlreadyExists",
            "ServiceBusy",
        ),
    )
    async def create_integration(body: CreateIntegration) -> dict[str, Any]:
        """Validate (name, source reachable and ready, filter) and create an integration;
        with `target_database`, its target database too (replication starts)."""
        return await sources.run(
            service.create_integration,
            name=body.name,
            source=body.source,
            source_password=body.source_password,
            source_ssl_ca=body.source_ssl_ca,
            data_filter=body.data_filter,
            description=body.description,
            tags=body.tags,
            target_database=body.target_database,
            query_all_states=body.query_all_states,
            destination=body.destination,
        )

    @r.get(
        "/integrations", response_model=s.IntegrationPage, responses=s.errors("InvalidParameter")
    )
    def list_integrations(limit: int = Limit, next_token: str | None = NextToken) -> dict[str, Any]:
        """Every integration not deleted, oldest first, a page at a time."""
        offset = _token(next_token)
        items, total = service.list_integrations(offset=offset, limit=limit)
        return page(items, offset, limit, total)

    @r.get("/integrations/{ident}", response_model=s.Integration, responses=s.errors(*_ONE))
    def describe_integration(ident: str) -> dict[str, Any]:
        """State and its reason, current errors, lag, checkpoint, table counts."""
        return service.get_integration(ident)

    @r.patch(
        "/integrations/{ident}",
        response_model=s.Integration,
        responses=s.errors(
            *_BODY,
            "InvalidDataFilter",
            *_SOURCE,
            "IntegrationNotFound",
            "IntegrationAlreadyExists",
            "InvalidIntegrationState",
            "ServiceBusy",
        ),
    )
    async def modify_integration(ident: str, body: ModifyIntegration) -> dict[str, Any]:
        """Rename, describe, tag, change the data filter (new tables are copied, excluded
        ones dropped; the state is `modifying` until the change is applied) or rotate the
        source password (checked against the source, then replication restarts with it)."""
        run = sources.run if body.source_password is not None else run_in_threadpool
        return await run(
            service.modify_integration,
            ident,
            name=body.name,
            description=body.description,
            data_filter=body.data_filter,
            tags=body.tags,
            source_password=body.source_password,
        )

    @r.delete("/integrations/{ident}", response_model=s.Integration, responses=s.errors(*_ONE))
    def delete_integration(ident: str) -> dict[str, Any]:
        """Stop replication. The target database and its data stay (no longer updated)."""
        return service.delete_integration(ident)

    @r.post(
        "/integrations/{ident}/pause",
        response_model=s.Integration,
        responses=s.errors(*_ONE, "InvalidIntegrationState"),
    )
    def pause(ident: str) -> dict[str, Any]:
        """Stop replication until `resume`, across service restarts too (state `paused`).
        Nothing is lost: the open batch rolls back, the checkpoint stays. The target database
        stays queryable. Pausing a paused integration changes nothing."""
        return service.pause(ident)

    @r.post(
        "/integrations/{ident}/resume",
        response_model=s.Integration,
        responses=s.errors(*_ONE, "InvalidIntegrationState"),
    )
    def resume(ident: str) -> dict[str, Any]:
        """Start a paused integration again from its checkpoint (state `syncing`, then
        `active`). Resuming one that replicates changes nothing; a failed one: `restart`."""
        return service.resume(ident)

    @r.post(
        "/integrations/{ident}/restart",
        response_model=s.Integration,
        responses=s.errors(*_ONE, "InvalidIntegrationState"),
    )
    def restart(ident: str) -> dict[str, Any]:
        """Stop replication and start it again from the checkpoint with the catalog's settings
        (a failed integration too). A paused one is resumed instead."""
        return service.restart(ident)

    @r.get("/integrations/{ident}/tables", response_model=s.TablePage, responses=s.errors(*_PAGED))
    def integration_tables(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """Per table: state, reason, rows, size, last update (svv_integration_table_state)."""
        offset = _token(next_token)
        rows = service.integration_tables(ident)
        return page(rows[offset : offset + limit], offset, limit, len(rows))

    @r.get(
        "/integrations/{ident}/tables/state-changes",
        response_model=s.TableStateChangePage,
        responses=s.errors(*_PAGED),
    )
    def table_state_changes(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """Every table state change, oldest first (sys_integration_table_state_change)."""
        offset = _token(next_token)
        return page(service.table_state_changes(ident, offset=offset, limit=limit), offset, limit)

    @r.post(
        "/integrations/{ident}/refresh",
        status_code=202,
        response_model=s.RefreshAccepted,
        responses=s.errors(
            *_BODY, "IntegrationNotFound", "TableNotFound", "InvalidIntegrationState"
        ),
    )
    def refresh(ident: str, body: Refresh) -> dict[str, Any]:
        """Re-copy the given tables, all tables, or the tables in error."""
        return service.refresh(
            ident, tables=body.tables, all_tables=body.all, in_error=body.inerror
        )

    @r.get(
        "/integrations/{ident}/activity", response_model=s.ActivityPage, responses=s.errors(*_PAGED)
    )
    def activity(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """Committed checkpoints, newest first (sys_integration_activity)."""
        offset = _token(next_token)
        return page(service.activity(ident, offset=offset, limit=limit), offset, limit)

    @r.get(
        "/integrations/{ident}/state-changes",
        response_model=s.StateChangePage,
        responses=s.errors(*_PAGED),
    )
    def state_changes(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """The integration's state changes with time and reason, oldest first."""
        offset = _token(next_token)
        return page(service.state_changes(ident, offset=offset, limit=limit), offset, limit)

    @r.post(
        "/integrations/{ident}/target-database",
        status_code=201,
        response_model=s.Integration,
        responses=s.errors(
            *_BODY, "IntegrationNotFound", "TargetDatabaseAlreadyExists", "InvalidIntegrationState"
        ),
    )
    def create_target_database(ident: str, body: CreateTargetDatabase) -> dict[str, Any]:
        """CREATE DATABASE name FROM INTEGRATION: start replicating into a new target database."""
        return service.create_target_database(
            ident, body.database_name, body.source_database, body.query_all_states
        )

    @r.get("/databases", tags=["databases"], response_model=s.DatabasePage, responses=s.errors())
    def databases() -> dict[str, Any]:
        """Every target database of the warehouse, in one answer."""
        items = service.target_databases()
        return page(items, 0, len(items) or 1, len(items))

    @r.delete(
        "/databases/{name}",
        status_code=204,
        tags=["databases"],
        response_class=Response,
        responses=s.errors("TargetDatabaseNotFound"),
    )
    def drop_database(name: str) -> Response:
        """DROP DATABASE: the file is deleted at once; its integration (if any) waits for a new
        target database again."""
        service.drop_target_database(name)
        return Response(status_code=204)

    return r
