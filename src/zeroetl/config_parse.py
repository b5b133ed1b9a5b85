"""One parser per kind of setting (config_keys.py). A value may come from TOML (typed), a
variable or a flag (text, a flag's tuple or bool); every refusal names the key, where the value
came from and what is expected, and never echoes a secret."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zeroetl.config_keys import LOG_LEVELS, Key, Origin
from zeroetl.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# DuckDB's size strings: "8GiB", "512 MB", "1.5GB", "0 bytes"
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*([KMGTP]i?B|B|bytes?)?\s*$", re.I)
# statement_timeout as PostgreSQL reads it: a number of ms, or with a unit
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.I)
_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_DURATION_MS = 2_147_483_647  # PostgreSQL's range for statement_timeout
MAX_TEXT = 4096  # no setting needs more; a longer value is a mistake or an attack


class _Bad(Exception):
    """`expected` is what the key wants, in words."""


def parse_value(key: Key, value: Any, origin: Origin) -> Any:
    try:
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise _Bad(f"at most {MAX_TEXT} characters")
        return _PARSERS[key.kind](key, value)
    except _Bad as exc:
        shown = "" if key.secret else f" = {_show(value)}"
        raise ConfigError(
            f"{key.name}{shown} (from {origin}): expected {exc}",
            hint=f"{key.name}: {key.meaning.split('. ')[0].rstrip('.')}",
        ) from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise _Bad(what)
    return value


def _path(key: Key, value: Any) -> Path:
    text = _text(value, "a path (a string)")
    if not text.strip():
        raise _Bad("a path, not an empty string")
    return Path(text).expanduser()


def _str(key: Key, value: Any) -> str:
    return _text(value, "a string")


def _host(key: Key, value: Any) -> str:
    text = _text(value, "a host name or address (a string)").strip()
    if not text or len(text) > 253 or any(c.isspace() or c in "/@?#" for c in text):
        raise _Bad("a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0")
    return text


def _url(key: Key, value: Any) -> str:
    text = _text(value, "a URL (a string)").strip()
    parts = urlsplit(text)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise _Bad("a URL: http://HOST:PORT (or https://), e.g. http://127.0.0.1:8155")
    return text.rstrip("/")


def _range(key: Key, number: float) -> None:
    low, high = key.minimum, key.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            raise _Bad(f"a number >= {low:g}")
        raise _Bad(f"a number from {low:g} to {high:g}")


def _int(key: Key, value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad("an integer, not true/false")
    if isinstance(value, str):
        try:
            value = int(value.strip().replace("_", ""))
        except ValueError:
            raise _Bad("an integer") from None
    if not isinstance(value, int):
        raise _Bad("an integer")
    _range(key, value)
    return value


def _float(key: Key, value: Any) -> float:
    if isinstance(value, bool):
        raise _Bad("a number, not true/false")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Bad("a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad("a finite number")
    _range(key, float(value))
    return float(value)


def _bool(key: Key, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad("true or false (in a variable: 1/0, true/false, yes/no, on/off)")


def _size(key: Key, value: Any) -> str:
    text = _text(value, 'a size string such as "8GiB" or "512MB"')
    if not _SIZE.match(text):
        raise _Bad('a size such as "8GiB", "512MB" or "1.5GB"')
    return text.strip()


def _duration(key: Key, value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad('milliseconds or a duration such as "30s", "5min"')
    if isinstance(value, int | float) and not isinstance(value, bool):
        ms = float(value)
    else:
        m = _DURATION.match(_text(value, 'milliseconds or a duration such as "30s"'))
        unit = (m.group(2).lower() if m else "") or "ms"
        if not m or unit not in _UNITS_MS:
            raise _Bad(f"milliseconds or a duration with a unit of {', '.join(_UNITS_MS)}")
        ms = float(m.group(1)) * _UNITS_MS[unit]
    if not math.isfinite(ms) or not 0 <= round(ms) <= MAX_DURATION_MS:
        raise _Bad(f"a duration from 0 to {MAX_DURATION_MS} ms")
    return round(ms)


def _list(key: Key, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [_text(s, "a list of strings").strip() for s in value]
    else:
        raise _Bad('a list of strings, e.g. ["db1.example", "10.0.0.*:3306"]')
    return tuple(s for s in items if s)


def _level(key: Key, value: Any) -> str:
    text = _text(value, f"one of {', '.join(LOG_LEVELS)}").strip().lower()
    if text not in LOG_LEVELS:
        raise _Bad(f"one of {', '.join(LOG_LEVELS)}")
    return text


def _secret(key: Key, value: Any) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise _Bad("a non-empty string")
    return value


_PARSERS = {
    "path": _path,
    "str": _str,
    "host": _host,
    "url": _url,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "size": _size,
    "duration": _duration,
    "list": _list,
    "level": _level,
    "secret": _secret,
}
