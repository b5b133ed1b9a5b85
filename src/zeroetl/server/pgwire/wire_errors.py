"""Errors reported to a client as an ErrorResponse, and how any exception becomes one."""

from __future__ import annotations

import logging

from zeroetl.server.pgwire.params import ParamError

log = logging.getLogger("zeroetl.pgwire")


class WireError(Exception):
    """An error to report to the client as an ErrorResponse."""

    def __init__(self, sqlstate: str, message: str, detail: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.sqlstate, self.message, self.detail, self.hint = sqlstate, message, detail, hint


class UnknownMessage(WireError):
    """A message type we do not know: refused, and the session is ready again at once."""


def as_wire_error(exc: BaseException, cancelled: bool = False) -> WireError:
    if isinstance(exc, WireError):
        return exc
    if cancelled:
        return WireError("57014", "canceling statement due to user request")
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and len(state) == 5:
        return WireError(
            state,
            str(getattr(exc, "message", None) or exc),
            str(getattr(exc, "detail", "") or ""),
            str(getattr(exc, "hint", "") or ""),
        )
    if isinstance(exc, ParamError):
        return WireError("22P02", str(exc))
    log.exception("internal error in SQL session", exc_info=exc)
    return WireError("XX000", f"internal error: {type(exc).__name__}: {exc}")
