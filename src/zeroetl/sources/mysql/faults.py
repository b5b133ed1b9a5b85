"""What the source stopped logging in a usable form: the kinds of binlog faults and their fixes.

A fault means changes of some tables reached the binlog in a form that cannot be applied
(statements instead of row events, partial row images, TABLE_MAPs without column names, partial
JSON updates, compressed transactions) or not at all (an incident). The stream reports each one
as a `FaultItem`; the engine re-copies the tables once the setting that caused it is fixed.
"""

from __future__ import annotations

from zeroetl.sources.base import FaultKind, SourceFault

_SESSIONS = "existing sessions keep the old value until they reconnect"
STATEMENTS = FaultKind(
    "statements",
    "binlog_format",
    "binlog_format must be ROW",
    "run SET GLOBAL binlog_format='ROW' (and binlog_format=ROW in the server config); "
    "existing sessions keep the old format until they reconnect",
)
ROW_IMAGE = FaultKind(
    "row_image",
    "binlog_row_image",
    "binlog_row_image must be FULL",
    f"run SET GLOBAL binlog_row_image='FULL' (and in the server config); {_SESSIONS}",
)
ROW_METADATA = FaultKind(
    "row_metadata",
    "binlog_row_metadata",
    "binlog_row_metadata must be FULL",
    "run SET GLOBAL binlog_row_metadata='FULL' (and in the server config)",
)
PARTIAL_JSON = FaultKind(
    "partial_json",
    "binlog_row_value_options",
    "binlog_row_value_options must not be PARTIAL_JSON",
    f"run SET GLOBAL binlog_row_value_options='' (and in the server config); {_SESSIONS}",
)
COMPRESSION = FaultKind(
    "compression",
    "binlog_transaction_compression",
    "binlog_transaction_compression must be OFF",
    f"run SET GLOBAL binlog_transaction_compression=OFF (and in the server config); {_SESSIONS}",
)
INCIDENT_FAULT = FaultKind(
    "incident", "", "", "the tables are re-copied; the source's error log tells the cause"
)


# The stream reports each fault as a `SourceFault` (sources/base.py).
FaultItem = SourceFault
