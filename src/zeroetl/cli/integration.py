"""`zeroetl integration ...`: a thin client of the service's HTTP API (cli/client.py finds it).

Exit status: 0 done; 1 the API (or the network) refused, with the error code printed; 2 usage.
`--json` prints the API's JSON (errors too, as {"error": {...}}) for scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click

from zeroetl.cli.client import Client, common
from zeroetl.errors import ConfigError
from zeroetl.sources.mysql.connection import PASSWORD_ENV, client_side, env_password


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [[("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _lag(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def _describe(i: dict[str, Any]) -> None:
    t = i["tables"]
    lines = [
        ("name", i["name"]),
        ("id", i["id"]),
        ("state", i["state"] + (f" ({i['reason']})" if i["reason"] else "")),
        ("replication state", i["replication_state"]),
        ("source", i["source"]["url"]),
        ("data filter", i["data_filter"] or "(all tables)"),
        ("target database", i["target_database"] or "-"),
        ("destination", i.get("destination") or "duckdb (the warehouse)"),
        ("lag", _lag(i["lag_seconds"])),
        ("checkpoint", i["checkpoint"] or "-"),
        ("last change seen", i["last_change_detected_at"] or "-"),
        (
            "tables",
            f"{t['replicated']} replicated, {t['failed']} failed, {t['resyncing']} resyncing",
        ),
        ("description", i["description"] or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in i["tags"].items()) or "-"),
        ("created", i["created_at"]),
    ]
    lines += [("error", f"{e['code']}: {e['message']}") for e in i["errors"]]
    width = max(len(k) for k, _ in lines)
    for k, val in lines:
        click.echo(f"{k.ljust(width)}  {val}")


def _state_line(i: dict[str, Any]) -> None:
    click.echo(f"{i['name']}: {i['state']}" + (f" ({i['reason']})" if i["reason"] else ""))


def _tags(pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for p in pairs:
        k, eq, val = p.partition("=")
        if not eq:
            raise click.BadParameter(f"{p!r}: use KEY=VALUE", param_hint="--tag")
        out[k] = val
    return out


@click.group()
def integration() -> None:
    """Manage integrations of a running `zeroetl serve` (over its HTTP API)."""


def _read_password_file(path: Path, option: str) -> str:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = str(getattr(exc, "strerror", None) or exc)
        raise click.BadParameter(why, param_hint=option) from None
    return text.strip()


def _resolve_source(source: str, password_file: Path | None) -> tuple[str, str | None, str | None]:
    """What only this machine may read, read here: the password (--source-password-file, else
    the URL's own, else its ?password_file=, else $ZEROETL_SOURCE_PASSWORD) and the CA
    certificate of ?ssl_ca=. The service gets them in the request body, never a path."""
    try:
        url, password, ca = client_side(source)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--source") from None
    if password_file is not None:
        if urlsplit(source).password or "password_file" in dict(parse_qsl(urlsplit(source).query)):
            raise click.BadParameter(
                "give the password once: in the URL, its ?password_file= or this option",
                param_hint="--source-password-file",
            )
        password = _read_password_file(password_file, "--source-password-file")
    return url, password, ca


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False  # the service says what is wrong with it


@integration.command()
@click.argument("name")
@click.option(
    "--source",
    required=True,
    help="mysql://user[:password]@host[:port][/?ssl=required|verify&ssl_ca=PATH"
    "&password_file=PATH&connect_timeout=S] (files are read here, on this machine)",
)
@click.option(
    "--source-password-file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help=f"Read the source password from this file ('-': stdin). Else the URL's password, "
    f"its ?password_file=, or ${PASSWORD_ENV}.",
)
@click.option("--data-filter", default=None, help='e.g. "include: demodb.*"')
@click.option("--description", default="")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE (repeatable)")
@click.option("--target-database", default=None, help="Create this target database at once.")
@click.option(
    "--query-all-states",
    is_flag=True,
    help="With --target-database: its tables can be queried in every state, not only Synced "
    "(as CREATE DATABASE ... SET QUERY_ALL_STATES = TRUE).",
)
@click.option(
    "--destination",
    default=None,
    help="Replicate into ClickHouse: chdb:///DIR (embedded, one directory per service) or "
    "clickhouse://USER@HOST:8123/[?cluster=NAME&secure=1] (the password from the service's "
    "ZEROETL_CLICKHOUSE_PASSWORD[_FILE], never in the URL). Default: the warehouse's DuckDB.",
)
@common
def create(
    client: Client,
    name: str,
    source: str,
    source_password_file: Path | None,
    data_filter: str | None,
    description: str,
    tags: tuple[str, ...],
    target_database: str | None,
    query_all_states: bool,
    destination: str | None,
) -> None:
    """Create an integration (validated up front: name, source, prerequisites, filter)."""
    if query_all_states and target_database is None:
        raise click.UsageError("--query-all-states goes with --target-database")
    if destination is not None and _has_password(destination):
        raise click.BadParameter(
            "a password in the destination URL would show in logs; the service reads it from "
            "ZEROETL_CLICKHOUSE_PASSWORD or ZEROETL_CLICKHOUSE_PASSWORD_FILE",
            param_hint="--destination",
        )
    url, password, ca = _resolve_source(source, source_password_file)
    body = {
        "name": name,
        "source": url,
        "source_password": password,
        "source_ssl_ca": ca,
        "data_filter": data_filter,
        "description": description,
        "tags": _tags(tags) or {},
        "target_database": target_database,
        "query_all_states": query_all_states,
    }
    if destination is not None:
        body["destination"] = destination
    data = client.call("POST", "/v1/integrations", body)
    client.show(data, _describe)


@integration.command("list")
@common
def list_(client: Client) -> None:
    """List integrations with state, lag and tables."""
    items = client.pages("/v1/integrations")
    client.show(
        {"items": items},
        lambda d: _table(
            [
                [
                    i["name"],
                    i["id"],
                    i["state"],
                    i["target_database"],
                    _lag(i["lag_seconds"]),
                    i["tables"]["replicated"],
                    i["tables"]["failed"],
                ]
                for i in d["items"]
            ],
            ["NAME", "ID", "STATE", "TARGET DB", "LAG", "REPLICATED", "FAILED"],
        ),
    )


@integration.command()
@click.argument("ident")
@common
def describe(client: Client, ident: str) -> None:
    """State, lag, tables replicated and failed, errors."""
    client.show(client.call("GET", f"/v1/integrations/{ident}"), _describe)


@integration.command()
@click.argument("ident")
@click.option("--name", default=None, help="New name.")
@click.option("--description", default=None)
@click.option(
    "--data-filter",
    default=None,
    help="New data filter (new tables are copied, excluded ones dropped).",
)
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE (replaces all tags; repeatable)")
@click.option(
    "--source-password",
    "new_password",
    is_flag=True,
    help=f"Rotate the source password: prompted for (hidden), or ${PASSWORD_ENV} when set.",
)
@click.option(
    "--source-password-file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Rotate the source password: read it from this file ('-': stdin).",
)
@common
def modify(
    client: Client,
    ident: str,
    name: str | None,
    description: str | None,
    data_filter: str | None,
    tags: tuple[str, ...],
    new_password: bool,
    source_password_file: Path | None,
) -> None:
    """Change name, description, tags, data filter or the source password.

    A new source password is checked against the source, stored encrypted, and replication
    restarts with it from its checkpoint (nothing is lost)."""
    password = None
    if new_password and source_password_file is not None:
        raise click.UsageError("give --source-password or --source-password-file, not both")
    if source_password_file is not None:
        password = _read_password_file(source_password_file, "--source-password-file")
    elif new_password:
        password = env_password() or click.prompt(
            "new source password", hide_input=True, confirmation_prompt=True, err=True
        )
    body = {
        "name": name,
        "description": description,
        "data_filter": data_filter,
        "tags": _tags(tags),
        "source_password": password,
    }
    body = {k: val for k, val in body.items() if val is not None}
    if not body:
        raise click.UsageError(
            "nothing to modify: give --name, --description, --data-filter, --tag or "
            "--source-password"
        )
    client.show(client.call("PATCH", f"/v1/integrations/{ident}", body), _describe)


@integration.command()
@click.argument("ident")
@common
def delete(client: Client, ident: str) -> None:
    """Stop replication; the target database keeps its data (no longer updated)."""
    data = client.call("DELETE", f"/v1/integrations/{ident}")
    client.show(data, lambda d: click.echo(f"deleted {d['name']} ({d['id']})"))


@integration.command()
@click.argument("ident")
@common
def tables(client: Client, ident: str) -> None:
    """Per table: state, rows, size, last update, reason."""
    items = client.pages(f"/v1/integrations/{ident}/tables")
    client.show(
        {"items": items},
        lambda d: _table(
            [
                [
                    f"{t['schema']}.{t['table']}",
                    t["state"],
                    t["rows"],
                    None if t["size_bytes"] is None else f"{t['size_bytes'] / 1e6:.2f} MB",
                    t["last_updated_at"],
                    t["reason"],
                ]
                for t in d["items"]
            ],
            ["TABLE", "STATE", "ROWS", "SIZE", "LAST UPDATED", "REASON"],
        ),
    )


@integration.command()
@click.argument("ident")
@click.option("--tables", "names", default=None, help="db.table[,db.table...]")
@click.option("--all", "all_", is_flag=True, help="Every table.")
@click.option("--inerror", is_flag=True, help="Tables that failed or need a resync.")
@common
def refresh(client: Client, ident: str, names: str | None, all_: bool, inerror: bool) -> None:
    """Re-copy tables: --tables db.t1,db.t2 | --all | --inerror."""
    if sum([names is not None, all_, inerror]) != 1:
        raise click.UsageError("give exactly one of --tables, --all, --inerror")
    body: dict[str, Any] = {"all": all_, "inerror": inerror}
    if names is not None:
        body["tables"] = [n.strip() for n in names.split(",") if n.strip()]
    data = client.call("POST", f"/v1/integrations/{ident}/refresh", body)
    client.show(data, lambda d: click.echo(f"refresh of {d['refresh']} requested"))


@integration.command("target-database")
@click.argument("ident")
@click.argument("database")
@click.option("--source-database", default=None, help="Replicate only this source database.")
@click.option(
    "--query-all-states",
    is_flag=True,
    help="Its tables can be queried in every state, not only Synced (as CREATE DATABASE ... "
    "SET QUERY_ALL_STATES = TRUE).",
)
@common
def target_database(
    client: Client, ident: str, database: str, source_database: str | None, query_all_states: bool
) -> None:
    """Create the integration's target database (as CREATE DATABASE ... FROM INTEGRATION)."""
    body = {
        "database_name": database,
        "source_database": source_database,
        "query_all_states": query_all_states,
    }
    client.show(client.call("POST", f"/v1/integrations/{ident}/target-database", body), _describe)


@integration.command()
@click.argument("ident")
@common
def pause(client: Client, ident: str) -> None:
    """Stop replicating until `resume` (also across service restarts); nothing is lost."""
    client.show(client.call("POST", f"/v1/integrations/{ident}/pause"), _state_line)


@integration.command()
@click.argument("ident")
@common
def resume(client: Client, ident: str) -> None:
    """Start a paused integration again from its checkpoint."""
    client.show(client.call("POST", f"/v1/integrations/{ident}/resume"), _state_line)


@integration.command()
@click.argument("ident")
@common
def restart(client: Client, ident: str) -> None:
    """Stop and start replication again from the checkpoint (a failed integration too)."""
    client.show(client.call("POST", f"/v1/integrations/{ident}/restart"), _state_line)


def paging(f: Any) -> Any:
    f = click.option(
        "--next-token", default=None, help="The next page: the token the previous one printed."
    )(f)
    return click.option(
        "--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
        help="Items per page.",
    )(f)  # fmt: skip


def _page(client: Client, path: str, limit: int, next_token: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if next_token:
        params["next_token"] = next_token
    data: dict[str, Any] = client.call("GET", path, params=params)
    return data


def _more(data: dict[str, Any]) -> None:
    if data.get("next_token"):
        click.echo(f"(more: --next-token {data['next_token']})")


@integration.command()
@click.argument("ident")
@paging
@common
def activity(client: Client, ident: str, limit: int, next_token: str | None) -> None:
    """Committed checkpoints, newest first (as sys_integration_activity)."""
    data = _page(client, f"/v1/integrations/{ident}/activity", limit, next_token)

    def human(d: dict[str, Any]) -> None:
        _table(
            [
                [a["ended_at"], a["checkpoint_type"], a["checkpoint"], a["tables_modified"],
                 a["bytes"], a["source_commit_at"]]
                for a in d["items"]
            ],
            ["APPLIED", "TYPE", "CHECKPOINT", "TABLES", "BYTES", "SOURCE COMMIT"],
        )  # fmt: skip
        _more(d)

    client.show(data, human)


@integration.command("state-changes")
@click.argument("ident")
@click.option("--tables", "of_tables", is_flag=True, help="The tables' state changes instead.")
@paging
@common
def state_changes(
    client: Client, ident: str, of_tables: bool, limit: int, next_token: str | None
) -> None:
    """The integration's state changes with their reasons, oldest first (--tables: its
    tables', as sys_integration_table_state_change)."""
    path = f"/v1/integrations/{ident}/" + ("tables/state-changes" if of_tables else "state-changes")
    data = _page(client, path, limit, next_token)

    def human(d: dict[str, Any]) -> None:
        if of_tables:
            rows = [
                [c["recorded_at"], f"{c['schema']}.{c['table']}", c["state"], c["reason"],
                 c["checkpoint"]]
                for c in d["items"]
            ]  # fmt: skip
            _table(rows, ["TIME", "TABLE", "STATE", "REASON", "CHECKPOINT"])
        else:
            rows = [[c["recorded_at"], c["state"], c["reason"]] for c in d["items"]]
            _table(rows, ["TIME", "STATE", "REASON"])
        _more(d)

    client.show(data, human)
