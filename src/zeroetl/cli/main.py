"""`zeroetl` command line. Thin: parses arguments, calls the library, prints.

Exit status (docs/cli.md): 0 done; 1 an error, one clear line on stderr (`ZeroEtlError`s, a
source that is not ready, a port in use, ...); 2 a usage error (click's); 3 `sandbox status`:
not running; 70 an unexpected error, i.e. a bug (EX_SOFTWARE). Never a traceback
(ZEROETL_DEBUG=1 shows it). A closed stdout (`zeroetl ... | head`) ends the command quietly.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from zeroetl import __version__, logs, native
from zeroetl.cli.options import config_option
from zeroetl.errors import ZeroEtlError

EXIT_ERROR = 1
EXIT_USAGE = 2  # click's own
EXIT_BUG = 70  # sysexits.h EX_SOFTWARE: an internal error


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(_LAZY if self.name == "cli" else {})})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self.name == "cli" and cmd_name in _LAZY and cmd_name not in self.commands:
            module, attr = _LAZY[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ZeroEtlError as exc:
            if os.environ.get("ZEROETL_DEBUG"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away (`| head`): click ends quietly, as Unix tools do
            _bug(exc)
        except Exception as exc:
            _bug(exc)


def _bug(exc: Exception) -> NoReturn:
    """A bug: say so in one line; the traceback goes to the log (or the screen with
    ZEROETL_DEBUG=1)."""
    if os.environ.get("ZEROETL_DEBUG"):
        raise exc
    logging.getLogger("zeroetl").debug("unexpected error", exc_info=exc)
    click.echo(
        f"error: unexpected {type(exc).__name__}: {exc} "
        "(please report it; ZEROETL_DEBUG=1 shows the traceback)",
        err=True,
    )
    sys.exit(EXIT_BUG)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, prog_name="zeroetl", message=f"%(prog)s %(version)s ({native.describe()})"
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@config_option
@click.pass_context
def cli(ctx: click.Context, verbose: int, config_file: Path | None) -> None:
    """zeroetl: MySQL/MariaDB -> analytical warehouse, within a second of commit."""
    ctx.ensure_object(dict)["config"] = config_file  # a command's own --config wins
    level = logging.WARNING - 10 * verbose
    logs.configure(max(level, logging.DEBUG), sys.stderr)


@cli.group()
def source() -> None:
    """Inspect a source database."""


@source.command("check")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def source_check(url: str, as_json: bool) -> None:
    """Check a source's binlog settings and privileges (exit 0 only when ready)."""
    from zeroetl.sources.mysql.connection import SourceParams
    from zeroetl.sources.mysql.prereq import check_source

    params = SourceParams.from_url(url, local=True)  # the user's own files and environment
    report = check_source(params, sessions=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        server = f" ({report.flavor} {report.version})" if report.version else ""
        click.echo(f"source {params.redacted_url()}{server}")
        for c in report.checks:
            click.echo(f"  [{_MARKS[c.status]}] {c.name}: {c.actual}")
            if c.fix:
                label = "note" if c.status == "warning" else "fix"
                click.echo(f"         {label}: {c.fix}")
        warnings = sum(c.status == "warning" for c in report.checks)
        if not report.ready:
            click.echo("NOT ready")
        else:
            click.echo("ready" + (f", with {warnings} warning(s) above" if warnings else ""))
    sys.exit(0 if report.ready else 1)


_MARKS = {"ok": "ok  ", "warning": "warn", "fail": "FAIL", "skipped": "skip"}


# Commands load when used: `zeroetl integration ...` need not import the engine, DuckDB and
# pyarrow (about a second of start-up) to talk to the service.
_LAZY = {
    "replicate": "zeroetl.cli.replicate:replicate",
    "serve": "zeroetl.cli.serve:serve",
    "integration": "zeroetl.cli.integration:integration",
    "sandbox": "zeroetl.cli.sandbox:sandbox",
    "tickit": "zeroetl.cli.sandbox:tickit",
    "demo": "zeroetl.cli.demo:demo",
    "sql": "zeroetl.cli.sql:sql",
    "config": "zeroetl.cli.config_cmd:config_group",
}


def main() -> None:
    code = 0
    try:
        cli(prog_name="zeroetl")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            click.echo(str(exc.code), err=True)
    # Every command has closed its databases by now. Skip interpreter teardown: DuckDB's
    # bindings report objects still referenced from finished daemon threads as "leaks" at
    # exit, which would only alarm the user.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that went away (`| head`)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
