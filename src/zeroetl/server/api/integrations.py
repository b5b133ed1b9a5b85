"""`/v1/integrations` and `/v1/databases` (PRODUCT.md section 7). `{ident}` is a name or an id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from zeroetl.server.api.guard import SourceCalls
from zeroetl.server.api.models import (
    CreateIntegration,
    CreateTargetDatabase,
    ModifyIntegration,
    Refresh,
    page,
)
from zeroetl.server.service import Service

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


def router(service: Service, sources: SourceCalls) -> APIRouter:
    """`sources` runs the calls that contact a source (bounded, off the event loop)."""
    r = APIRouter(prefix="/v1", tags=["integrations"])

    @r.post("/integrations", status_code=201)
    async def create_integration(body: CreateIntegration) -> dict[str, Any]:
        """Validate (name, source reachable and ready, filter) and create an integration."""
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
        )

    @r.get("/integrations")
    def list_integrations(limit: int = Limit, next_token: str | None = NextToken) -> dict[str, Any]:
        offset = _token(next_token)
        items, total = service.list_integrations(offset=offset, limit=limit)
        return page(items, offset, limit, total)

    @r.get("/integrations/{ident}")
    def describe_integration(ident: str) -> dict[str, Any]:
        return service.get_integration(ident)

    @r.patch("/integrations/{ident}")
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

    @r.delete("/integrations/{ident}")
    def delete_integration(ident: str) -> dict[str, Any]:
        """Stop replication. The target database and its data stay (no longer updated)."""
        return service.delete_integration(ident)

    @r.get("/integrations/{ident}/tables")
    def integration_tables(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """Per table: state, reason, rows, size, last update."""
        offset = _token(next_token)
        rows = service.integration_tables(ident)
        return page(rows[offset : offset + limit], offset, limit, len(rows))

    @r.get("/integrations/{ident}/tables/state-changes")
    def table_state_changes(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """Every table state change, oldest first (sys_integration_table_state_change)."""
        offset = _token(next_token)
        return page(service.table_state_changes(ident, offset=offset, limit=limit), offset, limit)

    @r.post("/integrations/{ident}/refresh", status_code=202)
    def refresh(ident: str, body: Refresh) -> dict[str, Any]:
        """Re-copy the given tables, all tables, or the tables in error."""
        return service.refresh(
            ident, tables=body.tables, all_tables=body.all, in_error=body.inerror
        )

    @r.get("/integrations/{ident}/activity")
    def activity(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """Committed checkpoints, newest first (sys_integration_activity)."""
        offset = _token(next_token)
        return page(service.activity(ident, offset=offset, limit=limit), offset, limit)

    @r.get("/integrations/{ident}/state-changes")
    def state_changes(
        ident: str, limit: int = Limit, next_token: str | None = NextToken
    ) -> dict[str, Any]:
        """The integration's state changes with time and reason, oldest first."""
        offset = _token(next_token)
        return page(service.state_changes(ident, offset=offset, limit=limit), offset, limit)

    @r.post("/integrations/{ident}/target-database", status_code=201)
    def create_target_database(ident: str, body: CreateTargetDatabase) -> dict[str, Any]:
        """CREATE DATABASE name FROM INTEGRATION: start replicating into a new target database."""
        return service.create_target_database(
            ident, body.database_name, body.source_database, body.query_all_states
        )

    @r.get("/databases", tags=["databases"])
    def databases() -> dict[str, Any]:
        items = service.target_databases()
        return page(items, 0, len(items) or 1, len(items))

    @r.delete("/databases/{name}", status_code=204, tags=["databases"])
    def drop_database(name: str) -> Response:
        """DROP DATABASE: its integration (if any) waits for a new target database again."""
        service.drop_target_database(name)
        return Response(status_code=204)

    return r
