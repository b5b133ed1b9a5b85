"""The settings' flags, declared once: `--config`, `--warehouse` and any key's flag
(config_keys.py) on the commands that take them. `@with_settings("api.port", ...)` adds the
options and hands the command one `settings` object built by config.load (defaults < file <
environment < flags). Only values typed on the command line count as flags: click's defaults and
click's own environment lookups are not used, so the order of precedence is config.py's alone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from zeroetl import config
from zeroetl.config_keys import BOOL, BY_NAME, LIST, Key
from zeroetl.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("zeroetl.config")

DEFAULT_WAREHOUSE = Path(".zeroetl/warehouse")  # where `zeroetl demo` puts it


def config_option(fn: F) -> F:
    """`--config FILE`: on the root group (`zeroetl --config F serve`) and on each command."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Configuration file (else ${config.CONFIG_ENV}, else <warehouse>/{config.FILE_NAME}"
        " when it exists). See docs/configuration.md.",
    )(fn)


def _param(key: Key) -> str:
    return "cfg_" + key.name.replace(".", "_")


def _flag_help(key: Key) -> str:
    default = key.default
    if key.secret or default in (None, ()):
        shown = "unset"
    elif key.kind == BOOL:
        shown = "off" if not default else "on"
    else:
        shown = str(default)
    return f"{key.meaning} [default: {shown}; env: {key.env}; file: {key.name}]"


_METAVARS = {"int": "N", "float": "NUMBER", "size": "SIZE", "duration": "DURATION",
             "host": "HOST", "url": "URL", "secret": "SECRET", "level": "LEVEL", "path": "PATH", "list": "HOST[:PORT]"}  # fmt: skip


def key_option(name: str, flag: str | None = None) -> Callable[[F], F]:
    """The click option of one key (its flag from config_keys, or `flag`)."""
    key = BY_NAME[name]
    decl = flag or key.flag
    if decl is None:
        raise ValueError(f"{name} has no flag")
    kw: dict[str, Any] = {
        "default": None,
        "help": _flag_help(key),
        "metavar": _METAVARS.get(key.kind, "TEXT"),
    }
    if key.kind == BOOL:
        kw.update(is_flag=True, default=False)
    elif key.kind == LIST:
        kw.update(multiple=True, default=())
    return click.option(decl, _param(key), **kw)


def with_settings(
    *names: str, fallback_warehouse: Path | None = None, flags: dict[str, str] | None = None
) -> Callable[[F], F]:
    """Adds --config, --warehouse and the flags of `names`; passes `settings` to the command.
    `flags` renames a key's flag on these commands; `fallback_warehouse` is where to look for
    zeroetl.toml when no warehouse is named."""
    flags = flags or {}

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(**kw: Any) -> Any:
            ctx = click.get_current_context()
            given: dict[str, Any] = {}
            for name in ("warehouse", *names):
                param = _param(BY_NAME[name])
                value = kw.pop(param)
                if ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE:
                    given[name] = value
            path = kw.pop("config_file") or _root_config(ctx)
            try:
                settings = config.load(
                    flags=given, config=path, fallback_warehouse=fallback_warehouse
                )
            except ConfigError as exc:
                # the invocation's configuration is wrong: a usage error (exit status 2)
                raise click.UsageError(str(exc)) from None
            for warning in settings.warnings:
                log.warning("%s", warning)
            return fn(settings=settings, **kw)

        command: Any = run
        for name in reversed(names):
            command = key_option(name, flags.get(name))(command)
        command = key_option("warehouse")(command)
        return config_option(command)  # type: ignore[no-any-return]

    return decorate


def _root_config(ctx: click.Context) -> Path | None:
    obj = ctx.find_root().obj
    return obj.get("config") if isinstance(obj, dict) else None


def require_warehouse(settings: config.Settings) -> Path:
    """The warehouse of `serve` and `replicate`: they cannot guess one."""
    if settings.warehouse is None:
        raise click.UsageError(
            "no warehouse: pass --warehouse DIR, set ZEROETL_WAREHOUSE, or set `warehouse` in "
            "the configuration file (--config)"
        )
    return settings.warehouse


def local_warehouse(settings: config.Settings) -> Path:
    """The warehouse of `sql`, `tickit queries`: the named one, else `.zeroetl/warehouse`."""
    return settings.warehouse or DEFAULT_WAREHOUSE
