"""Logging set-up: one log record is one line, whatever a client managed to put in it.

Messages carry client-supplied text (SQL user names, database names, HTTP paths, source error
messages); a newline or a terminal escape in them must not forge a log line or rewrite the
terminal. The formatter escapes control characters once, here, for every logger: `\\n` becomes
the two characters `\\` `n`, other controls `\\xNN`. Tracebacks keep their lines but every one is
indented, so none of them can pass for the start of a record.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 controls but tab, DEL, C1 controls, and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}


def escape_controls(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        ch = m.group(0)
        code = ord(ch)
        return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _CONTROL.sub(one, text)


def _indent(block: str) -> str:
    lines = block.split("\n")
    return "\n".join("    " + escape_controls(line) for line in lines)


class SafeFormatter(logging.Formatter):
    """A Formatter whose records cannot span or forge lines (see the module doc)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        return _indent(super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


def configure(level: int, stream: TextIO | None = None) -> None:
    """The process's logging: a handler on the root logger with the safe formatter (like
    `logging.basicConfig`, nothing is added when the host program configured logging itself)."""
    root = logging.getLogger()
    root.setLevel(level)
    if root.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SafeFormatter(FORMAT))
    root.addHandler(handler)
