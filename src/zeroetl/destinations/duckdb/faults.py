"""Which DuckDB errors come from the environment (retry later) and which from us (terminal).

DuckDB reports file-system trouble as text inside `IOException`, `TransactionException` ("Failed
to commit: Could not write file ...: No space left on device") or `FatalException`, so the
operating system's own words are what we match. Measured on DuckDB 2.0 (disk full on a small
tmpfs, RLIMIT_FSIZE, a second process holding the file):
- a COMMIT whose WAL write fails leaves the database usable: the transaction is simply gone;
- a CHECKPOINT whose write fails invalidates that one attached database ("Detach and reattach it
  before using it again"); the other databases of the instance are unaffected;
- a file held by another process cannot be attached ("Could not set lock on file").
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

# (text DuckDB or the OS puts in the message, what we tell the operator)
_CAUSES = (
    ("No space left on device", "the warehouse disk is full (ENOSPC); free space"),
    ("File too large", "a file size limit was reached (EFBIG); raise the limit or free space"),
    ("Disk quota exceeded", "the disk quota is exhausted (EDQUOT); raise it or free space"),
    ("Input/output error", "the disk reported an I/O error (EIO); check the device"),
    ("Could not set lock on file", "another process holds the database file; stop it"),
    ("Conflicting lock", "another process holds the database file; stop it"),
    ("Out of Memory", "DuckDB ran out of memory; other queries may be using it"),
    # What a checkpoint or COMMIT says when the values it must hold at once exceed the limit
    # (no "Out of Memory" in the text; memory.py raises the limit of a writer of its own).
    ("failed to pin block", "DuckDB's memory limit is too small for this data"),
    ("could not allocate block", "DuckDB's memory limit is too small for this data"),
    ("failed to allocate data", "DuckDB's memory limit is too small for this data"),
    ("Resource temporarily unavailable", "the system is short of a resource (EAGAIN)"),
)

# Words of a database that refuses everything until it is detached and attached again.
_INVALIDATED = ("invalidated", "must be restarted")


@dataclass(frozen=True)
class Fault:
    transient: bool  # retry with backoff rather than fail
    reopen: bool  # the file must be detached and attached again before the next use
    cause: str  # what happened, in words for the operator ("" when unknown)
    memory: bool = False  # DuckDB ran out of memory


MEMORY_WORDS = ("Out of Memory", "failed to pin block", "could not allocate block",
                "failed to allocate data")  # fmt: skip


def classify(exc: BaseException) -> Fault:
    text = str(exc)
    reopen = isinstance(exc, duckdb.FatalException) or any(w in text for w in _INVALIDATED)
    for needle, cause in _CAUSES:
        if needle in text:
            return Fault(True, reopen, cause, any(w in text for w in MEMORY_WORDS))
    if reopen:
        return Fault(True, True, "the database file was invalidated by an earlier write failure")
    # Anything else (a directory where the file should be, permission denied, a corrupt file,
    # a bug of ours) will not clear by waiting: terminal.
    return Fault(False, False, "")
