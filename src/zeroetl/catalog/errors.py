"""Errors of the integration lifecycle, each with a stable code the API and CLI report.

They extend the one tree of zeroetl.errors (candidates to move there). They carry no HTTP
status: the API layer maps codes to statuses (server/api/errors.py).
"""

from __future__ import annotations

from zeroetl.errors import TerminalError


class LifecycleError(TerminalError):
    code = "InvalidRequest"


class InvalidParameter(LifecycleError):
    code = "InvalidParameter"


class InvalidDataFilter(LifecycleError):
    code = "InvalidDataFilter"


class IntegrationAlreadyExists(LifecycleError):
    code = "IntegrationAlreadyExists"


class IntegrationNotFound(LifecycleError):
    code = "IntegrationNotFound"


class TableNotFound(LifecycleError):
    code = "TableNotFound"


class InvalidIntegrationState(LifecycleError):
    code = "InvalidIntegrationState"


class SourceNotAuthorized(LifecycleError):
    """The source is not on the warehouse's list of authorized integration sources."""

    code = "SourceNotAuthorized"


class TargetDatabaseAlreadyExists(LifecycleError):
    code = "TargetDatabaseAlreadyExists"


class TargetDatabaseNotFound(LifecycleError):
    code = "TargetDatabaseNotFound"


class WarehouseInUse(LifecycleError):
    code = "WarehouseInUse"
