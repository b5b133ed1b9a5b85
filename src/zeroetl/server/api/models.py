"""Request bodies of the HTTP API (the responses are in schemas.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


NAME_PATTERN = "^[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*$"
# Sizes: generous for real use, small enough that no request can make the service do much.
_NAME = 256
_TEXT = 16_384
_PASSWORD = 1024
_PEM = 256 * 1024


class CreateIntegration(_Body):
    name: str = Field(
        max_length=_NAME,
        description="1-63 letters, digits and single hyphens, starting with a letter",
        # documented, checked by the service (with a message that says what is wrong)
        json_schema_extra={"pattern": NAME_PATTERN, "minLength": 1, "maxLength": 63},
        examples=["appdb-etl"],
    )
    source: str = Field(
        max_length=4096,
        description="mysql://user[:password]@host[:port][/?ssl=required|verify"
        "&connect_timeout=SECONDS]; password_file and ssl_ca are refused (the service reads "
        "no file for a caller): send source_password and source_ssl_ca instead",
    )
    source_password: str | None = Field(
        default=None,
        max_length=_PASSWORD,
        description="the source password when the URL has none; stored encrypted, never shown",
    )
    source_ssl_ca: str | None = Field(
        default=None,
        max_length=_PEM,
        description="PEM text of the CA certificate(s) that sign the source's certificate "
        "(with ?ssl=verify; without it the system's CA store is used)",
    )
    data_filter: str | None = Field(
        default=None, max_length=_TEXT, description='e.g. "include: demodb.*"'
    )
    description: str = Field(default="", max_length=_TEXT)
    tags: dict[str, str] = Field(default_factory=dict)
    target_database: str | None = Field(
        default=None,
        max_length=_NAME,
        description="create this target database at once (else PendingDbConnectState)",
    )
    query_all_states: bool = Field(
        default=False,
        description="with target_database: tables can be queried in every state, not only "
        "Synced (CREATE DATABASE ... SET QUERY_ALL_STATES = TRUE)",
    )
    destination: str | None = Field(
        default=None,
        max_length=2048,
        description="where the data goes: chdb:///dir (embedded ClickHouse, one directory per "
        "service) or clickhouse://user@host:8123/?cluster=NAME&secure=1 (a server; no password "
        "in the URL: the service's ZEROETL_CLICKHOUSE_PASSWORD[_FILE]); none: the warehouse's "
        "DuckDB",
        examples=["chdb:///var/lib/zeroetl/ch"],
    )


class ModifyIntegration(_Body):
    name: str | None = Field(default=None, max_length=_NAME)
    description: str | None = Field(default=None, max_length=_TEXT)
    data_filter: str | None = Field(default=None, max_length=_TEXT)
    tags: dict[str, str] | None = None
    source_password: str | None = Field(
        default=None,
        max_length=_PASSWORD,
        description="a new source password (rotation): checked against the source, stored "
        "encrypted, replication restarted with it; never shown",
    )


class Refresh(_Body):
    tables: list[str] | None = Field(
        default=None, max_length=10_000, description='["db.table", ...]'
    )
    all: bool = False
    inerror: bool = False


class CreateTargetDatabase(_Body):
    database_name: str = Field(max_length=_NAME)
    source_database: str | None = Field(
        default=None, max_length=_NAME, description="replicate only this source database"
    )
    query_all_states: bool = Field(
        default=False,
        description="tables can be queried in every state, not only Synced "
        "(CREATE DATABASE ... SET QUERY_ALL_STATES = TRUE)",
    )


def page(items: list[Any], offset: int, limit: int, total: int | None = None) -> dict[str, Any]:
    """A page of a list: `next_token` is present when more items follow."""
    more = (offset + len(items) < total) if total is not None else len(items) == limit
    out: dict[str, Any] = {"items": items, "next_token": str(offset + len(items)) if more else None}
    if total is not None:
        out["total"] = total
    return out
