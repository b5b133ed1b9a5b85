"""The settings: one typed, frozen object from defaults < zeroetl.toml < environment < flags.

The file is `--config PATH`, else `$ZEROETL_CONFIG`, else `<warehouse>/zeroetl.toml` when it
exists (the warehouse from `--warehouse` or `$ZEROETL_WAREHOUSE`). Every key is listed once in
config_keys.py with its variable and flag. Every value remembers where it came from
(`Settings.origin`), so an error, `zeroetl config show` and `GET /v1/config` can say so.

A configuration file is hostile input: unknown keys and sections are errors with the nearest real
key, values are type- and range-checked, and the file is read at most MAX_FILE_BYTES. Secrets
(`Secret`) redact themselves in repr/str and are not JSON-serializable; only `reveal()` gives the
value. A secret given as a file (`token_file`, `ZEROETL_API_TOKEN_FILE`) must not be readable by
group or others, and neither may a zeroetl.toml that holds a secret itself: such files are
refused (not merely warned about), as ssh and PostgreSQL refuse their key files.
"""

from __future__ import annotations

import difflib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from zeroetl.config_file import FromFile, read_file, read_secret_file
from zeroetl.config_keys import BY_NAME, KEYS, NOT_SETTINGS, SECRET, Key, Origin
from zeroetl.config_parse import parse_value
from zeroetl.errors import ConfigError

CONFIG_ENV = "ZEROETL_CONFIG"
FILE_NAME = "zeroetl.toml"
REDACTED = "********"


class Secret:
    """A password or token. Prints as ********; `reveal()` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled (it would leave the process in clear)")


@dataclass(frozen=True)
class LogSection:
    level: str
    file: Path | None


@dataclass(frozen=True)
class ApiSection:
    port: int
    token: Secret | None
    url: str | None
    metrics_public: bool


@dataclass(frozen=True)
class SqlSection:
    port: int
    password: Secret | None
    statement_timeout: int  # milliseconds
    max_statement_timeout: int
    session_memory: str | None
    max_running: int
    tls_cert: Path | None
    tls_key: Path | None
    require_tls: bool


@dataclass(frozen=True)
class ServiceSection:
    allowed_sources: tuple[str, ...]
    memory_limit: str | None
    temp_limit: str | None


@dataclass(frozen=True)
class EngineSection:
    prereq_check_s: float
    batch_rows: int
    batch_ms: int
    chunk_rows: int
    snapshot_readers: int
    snapshot_processes: bool
    wal_limit_mb: float
    memory_limit: str
    checkpoint_memory_limit: str | None


@dataclass(frozen=True)
class MonitoringSection:
    history_days: float
    history_rows: int
    history_prune_s: float


@dataclass(frozen=True)
class SourceSection:
    password: Secret | None


@dataclass(frozen=True)
class SandboxSection:
    dir: Path


_SECTION_TYPES: dict[str, type] = {
    "log": LogSection,
    "api": ApiSection,
    "sql": SqlSection,
    "service": ServiceSection,
    "engine": EngineSection,
    "monitoring": MonitoringSection,
    "source": SourceSection,
    "sandbox": SandboxSection,
}


@dataclass(frozen=True)
class Settings:
    warehouse: Path | None
    host: str
    log: LogSection
    api: ApiSection
    sql: SqlSection
    service: ServiceSection
    engine: EngineSection
    monitoring: MonitoringSection
    source: SourceSection
    sandbox: SandboxSection
    config_file: Path | None = None  # the file read, if any
    origins: Mapping[str, Origin] = field(default_factory=dict, repr=False, compare=False)
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def get(self, name: str) -> Any:
        section, _, key = name.rpartition(".")
        return getattr(getattr(self, section), key) if section else getattr(self, key)

    def origin(self, name: str) -> Origin:
        return self.origins.get(name, Origin("default"))

    def describe(self) -> dict[str, Any]:
        """JSON-safe: every key's value (secrets as ******** or null) and where it came from."""
        out: dict[str, Any] = {}
        for key in KEYS:
            o = self.origin(key.name)
            out[key.name] = {
                "value": _public(self.get(key.name)),
                "source": o.source,
                "from": o.where or None,
            }
        return {
            "config_file": str(self.config_file) if self.config_file else None,
            "settings": out,
        }


def _public(value: Any) -> Any:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def load(
    *,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config: Path | None = None,
    fallback_warehouse: Path | None = None,
) -> Settings:
    """The settings from defaults < file < `env` (default: os.environ) < `flags` (key name ->
    value given on the command line). `config` is --config; `fallback_warehouse` is where a
    command looks for zeroetl.toml when no warehouse is named (e.g. `.zeroetl/warehouse`)."""
    env = os.environ if env is None else env
    flags = dict(flags or {})
    unknown_flags = sorted(set(flags) - set(BY_NAME))
    if unknown_flags:
        raise ValueError(f"not settings: {unknown_flags}")  # a programming error
    path, explicit = _config_path(config, env, flags, fallback_warehouse)
    notes: list[str] = []
    from_file: dict[str, tuple[Any, Origin]] = {}
    if path is not None:
        try:
            from_file = read_file(path, explicit)
        except PermissionError:
            # <warehouse>/zeroetl.toml of a warehouse this user may not read (a client of a
            # service run by another user): the service's own file, not this command's
            notes.append(f"{path} is not readable by this user: not read")
    raw: dict[str, tuple[Any, Origin]] = {}
    for key in KEYS:
        if key.name in from_file and key.in_file:
            raw[key.name] = from_file[key.name]
        found = _from_env(key, env)
        if found is not None:
            raw[key.name] = found
        if key.name in flags and flags[key.name] is not None:
            raw[key.name] = (flags[key.name], Origin("flag", key.flag or ""))
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for key in KEYS:
        if key.name in raw:
            value, origin = raw[key.name]
            base = path.parent if origin.source == "file" and path is not None else None
            values[key.name] = _parse(key, value, origin, base)
            origins[key.name] = origin
        else:
            values[key.name] = _default(key)
    used = path if from_file or explicit else None
    return _build(values, origins, used, notes + _unknown_env(env))


def env_value(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One key from its default < the environment: for the commands that run without a
    warehouse (the sandbox's directory, a source's password on the client)."""
    key = BY_NAME[name]
    found = _from_env(key, os.environ if env is None else env)
    if found is None:
        return _default(key)
    return _parse(key, found[0], found[1], None)


def _default(key: Key) -> Any:
    if key.default is not None and key.kind == "path":
        return Path(str(key.default))
    return key.default


def _parse(key: Key, value: Any, origin: Origin, base: Path | None) -> Any:
    if isinstance(value, FromFile):
        return Secret(read_secret_file(key, value.path, origin))
    parsed = parse_value(key, value, origin)
    if key.secret:
        return Secret(parsed)
    if isinstance(parsed, Path) and base is not None and not parsed.is_absolute():
        parsed = base / parsed  # relative paths in a file are relative to the file
    return parsed


def _build(
    values: dict[str, Any], origins: dict[str, Origin], path: Path | None, warnings: list[str]
) -> Settings:
    sections: dict[str, Any] = {}
    for name, cls in _SECTION_TYPES.items():
        sections[name] = cls(**{f.name: values[f"{name}.{f.name}"] for f in fields(cls)})
    return Settings(
        warehouse=values["warehouse"],
        host=values["host"],
        config_file=path,
        origins=origins,
        warnings=tuple(warnings),
        **sections,
    )


def _from_env(key: Key, env: Mapping[str, str]) -> tuple[Any, Origin] | None:
    """The variable's value (an empty one counts as unset); the newest name wins."""
    names = (key.env, *key.env_aliases)
    if key.secret:
        # the value itself beats a file of it, in each name
        names = tuple(n for name in names for n in (name, f"{name}_FILE"))
    for name in names:
        value = env.get(name)
        if value:
            if name.endswith("_FILE") and key.secret:
                return FromFile(value), Origin("env", f"{name}={value}")
            return value, Origin("env", name)
    return None


def _config_path(
    config: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    fallback: Path | None,
) -> tuple[Path | None, bool]:
    """The file to read and whether it was named (a named file must exist)."""
    if config is not None:
        return Path(config).expanduser(), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser(), True
    warehouse = flags.get("warehouse") or env.get(BY_NAME["warehouse"].env) or fallback
    if warehouse:
        candidate = Path(warehouse).expanduser() / FILE_NAME
        try:
            if candidate.is_file():
                return candidate, False
        except OSError:
            return candidate, False  # unreadable: say so when reading it
    return None, False


def _unknown_env(env: Mapping[str, str]) -> list[str]:
    """Variables that look like settings but are none: a typo would otherwise go unnoticed."""
    known = set(NOT_SETTINGS)
    for key in KEYS:
        for name in (key.env, *key.env_aliases):
            known |= {name, f"{name}_FILE"} if key.secret else {name}
    out = []
    for name in sorted(env):
        if name.startswith("ZEROETL_") and name not in known and env[name]:
            near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            if near:  # test-only variables and the like are left alone unless they look like a key
                out.append(f"{name} is not a setting (did you mean {near[0]}?)")
    return out


__all__ = ["SECRET", "ConfigError", "Origin", "Secret", "Settings", "env_value", "load"]
