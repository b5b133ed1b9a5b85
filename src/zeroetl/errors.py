"""One exception tree for the whole project.

Transient errors are retried with backoff by whoever owns the loop; terminal ones set a state
(integration or table) with the message as the reason. Messages name what failed (integration,
table, position) and what to do next, and never contain a secret: build them from redacted URLs.
"""

from __future__ import annotations


class ZeroEtlError(Exception):
    """Base of every error zeroetl raises on purpose."""

    code = "ZeroEtlError"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TransientError(ZeroEtlError):
    """Worth retrying: network cuts, source restarts, lock timeouts."""

    code = "Transient"


class TerminalError(ZeroEtlError):
    """Retrying will not help until someone changes something."""

    code = "Terminal"


class ConfigError(TerminalError):
    code = "InvalidConfiguration"


class SourceError(ZeroEtlError):
    code = "SourceError"


class SourceUnavailable(SourceError, TransientError):
    code = "SourceUnavailable"


class SourceAccessDenied(SourceError, TerminalError):
    """The source refused our credentials: retrying with the same password cannot help. The
    integration stays failed until someone fixes the password (on the source or with `modify`)
    and modifies or refreshes it."""

    code = "SourceAccessDenied"


class SourceNotReady(SourceError, TerminalError):
    """A prerequisite (binlog settings, privileges) is not met."""

    code = "SourceNotReady"


class InsecureSourceAuth(SourceError, TerminalError):
    """The source asked for an authentication method that would expose the password (clear
    text, or a key the server itself supplies on a connection without TLS): refused."""

    code = "InsecureSourceAuth"


class BinlogPurged(SourceError, TerminalError):
    """The checkpoint's binlog file is gone from the source: only a fresh snapshot can recover."""

    code = "BinlogPurged"


class DecodeError(SourceError, TerminalError):
    """A binlog event could not be decoded."""

    code = "DecodeError"


class BinlogFault(DecodeError):
    """The source logged changes of a table in a form that cannot be replicated: statements
    instead of row events, partial row images, TABLE_MAPs without column names, partial JSON
    updates, compressed transactions. Never ends the stream: the stream reports it, the table is
    re-copied once `setting` (the prerequisite that fixes it) is right again."""

    code = "BinlogFault"

    def __init__(self, message: str, *, hint: str = "", setting: str = "") -> None:
        super().__init__(message, hint=hint)
        self.setting = setting


class UnsupportedSchema(SourceError, TerminalError):
    """A table (or one of its columns) cannot be replicated; the table fails, others go on."""

    code = "UnsupportedSchema"


class DestinationError(ZeroEtlError):
    """The warehouse refused a write for a reason of its own (a bug, a bad batch): terminal."""

    code = "DestinationError"


class DestinationUnavailable(DestinationError, TransientError):
    """The warehouse cannot be written right now for a reason outside zeroetl that clears by
    itself or once an operator acts: disk full (ENOSPC), file size limit (EFBIG), I/O error
    (EIO), the file locked by another process. Retried with backoff; nothing is lost, because
    the open transaction is rolled back and replay starts at the committed checkpoint."""

    code = "DestinationUnavailable"


class TableFailed(ZeroEtlError):
    """Raised for one table; the engine records it as the table's reason and carries on."""

    code = "TableFailed"

    def __init__(self, table: str, reason: str) -> None:
        super().__init__(f"table {table}: {reason}")
        self.table = table
        self.reason = reason


class TableChanged(TableFailed):
    """The table was dropped, renamed or altered on the source while being read: copy it
    again (the stream brings the DDL that changed it)."""

    code = "TableChanged"
