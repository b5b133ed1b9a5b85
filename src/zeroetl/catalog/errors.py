"""Errors of the integration lifecycle, each with a stable code the API and CLI report.

They extend the one tree of zeroetl.errors (candidates to move there); `status` is the HTTP
status the API answers with.
"""

from __future__ import annotations

from zeroetl.errors import TerminalError


class LifecycleError(TerminalError):
    code = "InvalidRequest"
    status = 400


class InvalidParameter(LifecycleError):
    code = "InvalidParameter"


class InvalidDataFilter(LifecycleError):
    code = "InvalidDataFilter"


class IntegrationAlreadyExists(LifecycleError):
    code = "IntegrationAlreadyExists"
    status = 409


class IntegrationNotFound(LifecycleError):
    code = "IntegrationNotFound"
    status = 404


class TableNotFound(LifecycleError):
    code = "TableNotFound"
    status = 404


class InvalidIntegrationState(LifecycleError):
    code = "InvalidIntegrationState"
    status = 409


class SourceNotAuthorized(LifecycleError):
    """The source is not on the warehouse's list of authorized integration sources."""

    code = "SourceNotAuthorized"
    status = 403


class TargetDatabaseAlreadyExists(LifecycleError):
    code = "TargetDatabaseAlreadyExists"
    status = 409


class TargetDatabaseNotFound(LifecycleError):
    code = "TargetDatabaseNotFound"
    status = 404


class WarehouseInUse(LifecycleError):
    code = "WarehouseInUse"
    status = 409
