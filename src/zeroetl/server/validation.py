"""Up-front checks of lifecycle requests: each failure is a specific error, raised before
anything is recorded (PRODUCT.md section 4)."""

from __future__ import annotations

import re
from dataclasses import replace
from fnmatch import fnmatchcase

from zeroetl.catalog.errors import (
    InvalidDataFilter,
    InvalidParameter,
    SourceNotAuthorized,
)
from zeroetl.engine.filters import DataFilter
from zeroetl.errors import ConfigError, SourceNotReady, SourceUnavailable
from zeroetl.model import TableId
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.prereq import check_source

NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*")
DATABASE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Names DuckDB gives its own catalogs, and ours.
RESERVED_DATABASES = frozenset({"memory", "system", "temp", "main", "information_schema"})
MAX_DESCRIPTION = 1000
MAX_TAGS = 50


def check_name(name: str) -> None:
    if not isinstance(name, str) or len(name) > 63 or not NAME_RE.fullmatch(name):
        raise InvalidParameter(
            f"invalid integration name {name!r}",
            hint="1-63 letters, digits and single hyphens, starting with a letter "
            "(e.g. zero-etl-demo)",
        )


def check_description(text: str) -> None:
    if len(text) > MAX_DESCRIPTION:
        raise InvalidParameter(f"description is longer than {MAX_DESCRIPTION} characters")


def check_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameter(f"at most {MAX_TAGS} tags")
    for k, val in tags.items():
        if not k or len(k) > 128 or len(val) > 256:
            raise InvalidParameter(f"invalid tag {k!r}", hint="keys 1-128 chars, values <= 256")


def check_database_name(name: str) -> None:
    if not DATABASE_RE.fullmatch(name or "") or name.lower() in RESERVED_DATABASES:
        raise InvalidParameter(
            f"invalid target database name {name!r}",
            hint="letters, digits and underscores, starting with a letter or underscore, "
            "at most 63 characters; not memory, system, temp or main",
        )


def parse_filter(text: str | None) -> DataFilter:
    try:
        return DataFilter.parse(text)
    except ConfigError as exc:
        raise InvalidDataFilter(exc.message, hint=exc.hint) from None


def effective_filter(data_filter: str, source_database: str | None) -> DataFilter:
    """The integration's filter, narrowed to one source database when the target database was
    created with `DATABASE 'src_db'`."""
    flt = DataFilter.parse(data_filter)
    if not source_database:
        return flt
    quoted = "`" + source_database.replace("`", "``") + "`"
    if not flt:
        return DataFilter.parse(f"include: {quoted}.*")
    if "/" in source_database:
        raise InvalidParameter(f"source database name {source_database!r} cannot hold '/'")
    other = re.escape(source_database)
    return DataFilter.parse(f"{flt}, exclude: /(?!{other}$).*/.*")


def table_id(text: str) -> TableId:
    schema, dot, table = text.partition(".")
    if not dot or not schema or not table:
        raise InvalidParameter(f"invalid table name {text!r}", hint="use database.table")
    return TableId(schema, table)


def source_params(url: str, password: str | None) -> SourceParams:
    """From the URL (password there, in ?password_file=, or ZEROETL_SOURCE_PASSWORD on the
    service); an explicit password wins."""
    try:
        params = SourceParams.from_url(url)
    except ConfigError as exc:
        raise InvalidParameter(exc.message, hint=exc.hint) from None
    if password:
        params = replace(params, password=password)
    return params


def check_authorized(params: SourceParams, allowed: tuple[str, ...]) -> None:
    """The warehouse's authorized integration sources: `host` or `host:port` glob patterns."""
    if not allowed:
        return
    candidates = (params.host, f"{params.host}:{params.port}")
    if any(fnmatchcase(c, pat) for pat in allowed for c in candidates):
        return
    raise SourceNotAuthorized(
        f"source {params.host}:{params.port} is not an authorized integration source of this "
        "warehouse",
        hint="add it with `zeroetl serve --allow-source HOST[:PORT]` (or ZEROETL_ALLOWED_SOURCES)",
    )


def check_source_ready(params: SourceParams) -> None:
    """Source reachable (SourceUnavailable) and every prerequisite met (SourceNotReady)."""
    report = check_source(params)
    if report.ready:
        return
    connect = next((c for c in report.checks if c.name == "connect"), None)
    if connect is not None and not connect.ok:
        raise SourceUnavailable(connect.actual, hint=connect.fix)
    failing = [c for c in report.checks if not c.ok and not c.warning]
    detail = "; ".join(f"{c.name}: {c.actual}" for c in failing)
    fixes = "; ".join(c.fix for c in failing if c.fix)
    raise SourceNotReady(f"source {params.redacted_url()} is not ready: {detail}", hint=fixes)
