"""Reading zeroetl.toml and secret files: both are hostile input.

A file is read at most MAX_FILE_BYTES, must be UTF-8 TOML, and may hold only the keys of
config_keys.py (an unknown key or section is an error naming the nearest real ones, at its
`file:line`). A secret file (`*_file`) must not be readable by group or others, nor may a
zeroetl.toml that holds a secret itself: such files are refused, not merely warned about, as ssh
and PostgreSQL refuse their key files.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeroetl.config_keys import BY_NAME, KEYS, SECTIONS, Key, Origin
from zeroetl.errors import ConfigError

MAX_FILE_BYTES = 1 << 20
MAX_SECRET_BYTES = 64 * 1024


@dataclass(frozen=True)
class FromFile:
    path: str


def read_file(path: Path, explicit: bool) -> dict[str, tuple[Any, Origin]]:
    try:
        data, mode = _read_regular(path, MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        if not explicit:
            return {}
        raise ConfigError(f"no configuration file {path}", hint="check --config") from None
    except PermissionError:
        if not explicit:
            raise  # the caller decides: an implicit file it may not read is skipped
        raise ConfigError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_FILE_BYTES} bytes: not a zeroetl.toml")
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    found = _flatten(doc, path, text)
    inline = [n for n, (v, _) in found.items() if BY_NAME[n].secret and not isinstance(v, FromFile)]
    if inline and mode & 0o077:
        raise ConfigError(
            f"{path} holds a secret ({', '.join(inline)}) and is readable by others",
            hint=f"chmod 600 {path}, or give the secret as a *_file path",
        )
    return found


def _flatten(doc: dict[str, Any], path: Path, text: str) -> dict[str, tuple[Any, Origin]]:
    out: dict[str, tuple[Any, Origin]] = {}
    for top, value in doc.items():
        if isinstance(value, dict):
            if top not in SECTIONS:
                _unknown(path, text, top, SECTIONS, "section")
            for name, inner in value.items():
                _add(out, f"{top}.{name}", inner, path, text)
        else:
            _add(out, top, value, path, text)
    return out


def _add(out: dict[str, tuple[Any, Origin]], name: str, value: Any, path: Path, text: str) -> None:
    where = _where(path, text, name)
    if name in BY_NAME:
        key = BY_NAME[name]
        if not key.in_file:
            raise ConfigError(
                f"{where}: {name} is not read from the configuration file",
                hint=f"set {key.env}" + (f" or {key.flag}" if key.flag else ""),
            )
        if isinstance(value, dict):
            raise ConfigError(f"{where}: {name} is a value, not a table")
        out[name] = (value, Origin("file", where))
        return
    secret = BY_NAME.get(name.removesuffix("_file"))
    if name.endswith("_file") and secret is not None and secret.secret:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {name} must be a path (a string)")
        base = path.parent
        full = Path(value).expanduser()
        out[secret.name] = (FromFile(str(full if full.is_absolute() else base / full)),
                            Origin("file", where))  # fmt: skip
        return
    _unknown(path, text, name, _file_names(), "key")


def _file_names() -> list[str]:
    names = [k.name for k in KEYS if k.in_file]
    return names + [f"{k.name}_file" for k in KEYS if k.secret and k.in_file]


def _unknown(path: Path, text: str, name: str, known: Any, what: str) -> None:
    # a key written in the wrong section (or none) first: `port` -> api.port or sql.port
    tail = name.rpartition(".")[2]
    near = [k for k in known if what == "key" and k != name and k.rpartition(".")[2] == tail]
    near = near or difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = (
        "did you mean " + " or ".join(repr(n) for n in near) + "?"
        if near
        else f"known {what}s: {', '.join(known)}"
    )
    raise ConfigError(f"{_where(path, text, name)}: unknown {what} {name!r}", hint=hint)


_HEADER = re.compile(r"^\s*\[\s*([^\]\s]+)\s*\]")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _where(path: Path, text: str, name: str) -> str:
    """`path:line` of a dotted key (or section), when a plain scan of the text finds it."""
    section = ""
    for number, line in enumerate(text.splitlines(), 1):
        if m := _HEADER.match(line):
            section = m.group(1).strip("\"'")
            if section == name:
                return f"{path}:{number}"
            continue
        if m := _ASSIGN.match(line):
            key = re.sub(r"[\"'\s]", "", m.group(1))
            if (f"{section}.{key}" if section else key) == name:
                return f"{path}:{number}"
    return str(path)


def read_secret_file(key: Key, path: str, origin: Origin) -> str:
    p = Path(path).expanduser()
    try:
        data, mode = _read_regular(p, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"{key.name}: cannot read the secret file {p} (from {origin}): {exc.strerror or exc}"
        ) from None
    if mode & 0o077:
        raise ConfigError(
            f"{key.name}: the secret file {p} (from {origin}) is readable by group or others",
            hint=f"chmod 600 {p} (a Kubernetes secret volume: defaultMode 0400)",
        )
    if len(data) > MAX_SECRET_BYTES:
        raise ConfigError(f"{key.name}: the secret file {p} is larger than {MAX_SECRET_BYTES} B")
    try:
        value = data.decode("utf-8").rstrip("\r\n")  # the newline editors add
    except UnicodeDecodeError:
        raise ConfigError(f"{key.name}: the secret file {p} is not UTF-8 text") from None
    if not value:
        raise ConfigError(f"{key.name}: the secret file {p} (from {origin}) is empty")
    return value


def _read_regular(path: Path, limit: int) -> tuple[bytes, int]:
    """At most `limit` bytes of a regular file, and its mode. Opened without blocking, so a
    FIFO or a device named as a file is refused instead of hanging or reading forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return f.read(limit), mode
