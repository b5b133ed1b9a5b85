"""Which ClickHouse errors are the environment's (retried by the engine, nothing is lost) and
which are the statement's (the table or the integration fails with the reason).

ClickHouse names every error with a stable code ("Code: 243. DB::Exception: ..."), the same
through chDB and over HTTP. The transient ones: the disk, memory, too many parts (inserts
faster than merges: back off and retry), timeouts, the network, a replicated table that is
read-only while its Keeper session is lost, and a cluster's quorum inserts that cannot complete.
"""

from __future__ import annotations

import re

from zeroetl.errors import DestinationError, DestinationUnavailable

TRANSIENT = {
    75: "cannot write to a file",  # CANNOT_WRITE_TO_FILE_DESCRIPTOR
    159: "timeout",  # TIMEOUT_EXCEEDED
    164: "server is read-only",  # READONLY
    202: "too many simultaneous queries",  # TOO_MANY_SIMULTANEOUS_QUERIES
    209: "socket timeout",  # SOCKET_TIMEOUT
    210: "network error",  # NETWORK_ERROR
    241: "memory limit exceeded",  # MEMORY_LIMIT_EXCEEDED
    242: "replicated table is read-only",  # TABLE_IS_READ_ONLY (Keeper session lost)
    243: "not enough disk space",  # NOT_ENOUGH_SPACE
    252: "too many parts (inserts outrun merges)",  # TOO_MANY_PARTS
    279: "all connection tries failed",  # ALL_CONNECTION_TRIES_FAILED
    # a cluster's quorum inserts (cluster.py): a replica down, or an insert whose outcome is
    # unknown (the retry rewrites the same rows and versions: nothing doubles)
    285: "too few live replicas for the insert quorum",  # TOO_FEW_LIVE_REPLICAS
    286: "the previous quorum insert is not complete",  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    319: "unknown status of a quorum insert",  # UNKNOWN_STATUS_OF_INSERT
    999: "Keeper error",  # KEEPER_EXCEPTION
}
_CODE = re.compile(r"Code: (\d+)\.")


def code_of(message: str) -> int | None:
    m = _CODE.search(message)
    return int(m.group(1)) if m else None


def error(what: str, message: str) -> DestinationError:
    """The exception for a ClickHouse error message: DestinationUnavailable when transient."""
    code = code_of(message)
    if code in TRANSIENT:
        return DestinationUnavailable(
            f"ClickHouse {what}: {TRANSIENT[code]}: {message}",
            hint="nothing committed is lost; retried until it clears",
        )
    return DestinationError(f"ClickHouse {what}: {message}")
