"""`zeroetl config show`: the effective settings, where each value came from, secrets redacted."""

from __future__ import annotations

import json

import click

from zeroetl.cli.options import DEFAULT_WAREHOUSE, with_settings
from zeroetl.config import Settings


@click.group("config")
def config_group() -> None:
    """The configuration: zeroetl.toml, ZEROETL_* variables and flags (docs/configuration.md)."""


@config_group.command("show")
@with_settings(fallback_warehouse=DEFAULT_WAREHOUSE)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(settings: Settings, as_json: bool) -> None:
    """Print the effective settings and the source of each (default, file, env, flag).

    Secrets print as ********. The warehouse is --warehouse, else ZEROETL_WAREHOUSE, else the
    configuration file's; its zeroetl.toml is read when no --config is given."""
    doc = settings.describe()
    if as_json:
        doc["warnings"] = list(settings.warnings)
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"configuration file: {doc['config_file'] or 'none'}")
    rows = [
        (name, _text(item["value"]), item["source"] + (f" {item['from']}" if item["from"] else ""))
        for name, item in doc["settings"].items()
    ]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, value, source in rows:
        click.echo(f"{name:<{width[0]}}  {value:<{width[1]}}  {source}")
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)
