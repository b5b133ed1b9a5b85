"""Request bodies of the HTTP API (responses are plain JSON objects documented by example)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateIntegration(_Body):
    name: str = Field(description="[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*, 1-63 characters")
    source: str = Field(description="mysql://user[:password]@host[:port]")
    source_password: str | None = Field(
        default=None, description="overrides the URL's password; stored encrypted, never shown"
    )
    data_filter: str | None = Field(default=None, description='e.g. "include: demodb.*"')
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    target_database: str | None = Field(
        default=None, description="create this target database at once (else PendingDbConnectState)"
    )


class ModifyIntegration(_Body):
    name: str | None = None
    description: str | None = None
    data_filter: str | None = None
    tags: dict[str, str] | None = None


class Refresh(_Body):
    tables: list[str] | None = Field(default=None, description='["db.table", ...]')
    all: bool = False
    inerror: bool = False


class CreateTargetDatabase(_Body):
    database_name: str
    source_database: str | None = None
    query_all_states: bool = False


def page(items: list[Any], offset: int, limit: int, total: int | None = None) -> dict[str, Any]:
    """A page of a list: `next_token` is present when more items follow."""
    more = (offset + len(items) < total) if total is not None else len(items) == limit
    out: dict[str, Any] = {"items": items, "next_token": str(offset + len(items)) if more else None}
    if total is not None:
        out["total"] = total
    return out
