"""Up-front checks of lifecycle requests: each failure is a specific error, raised before
anything is recorded."""

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
from zeroetl.sources.mysql.connection import SourceParams, check_ca
from zeroetl.sources.mysql.prereq import check_source

NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*")
DATABASE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Names DuckDB gives its own catalogs, and ours.
# dev (the analysts' workspace) and postgres (its alias) are the hub's own names on the endpoint
RESERVED_DATABASES = frozenset(
    {"memory", "system", "temp", "main", "information_schema", "dev", "postgres"}
)
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
            "at most 63 characters; not dev, postgres, memory, system, temp or main",
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
    narrow = DataFilter.parse(f"exclude: /(?!{other}$).*/.*")
    return DataFilter(flt.rules + narrow.rules)  # not re-parsed: the rule cap is the user's


def table_id(text: str) -> TableId:
    schema, dot, table = text.partition(".")
    if not dot or not schema or not table:
        raise InvalidParameter(f"invalid table name {text!r}", hint="use database.table")
    return TableId(schema, table)


MAX_PASSWORD = 1024


def source_params(url: str, password: str | None, ssl_ca: str | None = None) -> SourceParams:
    """An API caller's source: the password from the URL or the request body (once), the CA
    certificate's PEM text from the body. Nothing is read from the service's files or
    environment on the caller's behalf (`SourceParams.from_url` refuses file options)."""
    try:
        params = SourceParams.from_url(url)
        if ssl_ca is not None:
            if params.ssl != "verify":
                raise ConfigError(
                    "source_ssl_ca is only used with ssl=verify", hint="add ?ssl=verify to the URL"
                )
            check_ca(ssl_ca)
            params = replace(params, ssl_ca=ssl_ca)
    except ConfigError as exc:
        raise InvalidParameter(exc.message, hint=exc.hint) from None
    if password is not None and password != "":
        if params.password:
            raise InvalidParameter(
                "the source password is given twice (in the URL and as source_password)",
                hint="give it once: in the request body is better, URLs end up in shell history",
            )
        params = replace(params, password=check_password(password))
    return params


def check_password(password: str) -> str:
    if len(password) > MAX_PASSWORD or "\0" in password:
        raise InvalidParameter(
            f"the source password must be at most {MAX_PASSWORD} characters, without NUL"
        )
    return password


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
    """Source reachable (SourceUnavailable, or InsecureSourceAuth when it asked for a way to
    authenticate that would expose the password) and every prerequisite met (SourceNotReady).
    Bounded in time whatever the source does (see prereq.check_source)."""
    report = check_source(params, sessions=True)
    if report.ready:
        return
    if report.error is not None:
        raise report.error
    connect = next((c for c in report.checks if c.name == "connect"), None)
    if connect is not None and not connect.ok:
        raise SourceUnavailable(connect.actual, hint=connect.fix)
    failing = [c for c in report.checks if c.status == "fail"]
    detail = "; ".join(f"{c.name}: {c.actual}" for c in failing)
    fixes = "; ".join(c.fix for c in failing if c.fix)
    raise SourceNotReady(f"source {params.redacted_url()} is not ready: {detail}", hint=fixes)
