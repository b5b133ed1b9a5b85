"""The HTTP status of each error the API answers: the one place a domain error meets HTTP.

The catalog and the service raise domain errors (catalog/errors.py) with a stable `code` and no
notion of HTTP; the API maps them here. Errors the API layer defines itself (Unauthorized,
ServiceBusy, ConsoleFileNotFound) are listed by code too, so one table holds every status.
"""

from __future__ import annotations

from zeroetl.catalog.errors import LifecycleError
from zeroetl.errors import ConfigError, SourceError, ZeroEtlError

# code -> HTTP status; a LifecycleError whose code is not listed is a bad request (400)
STATUS: dict[str, int] = {
    "InvalidRequest": 400,
    "InvalidParameter": 400,
    "InvalidDataFilter": 400,
    "Unauthorized": 401,
    "SourceNotAuthorized": 403,
    "IntegrationNotFound": 404,
    "TableNotFound": 404,
    "TargetDatabaseNotFound": 404,
    "NotFound": 404,  # console.py: no such console or docs file
    "IntegrationAlreadyExists": 409,
    "InvalidIntegrationState": 409,
    "TargetDatabaseAlreadyExists": 409,
    "WarehouseInUse": 409,
    "ServiceBusy": 503,
}


def http_status(exc: ZeroEtlError) -> int:
    """The status the API answers `exc` with."""
    if isinstance(exc, LifecycleError):
        return STATUS.get(exc.code, 400)
    if isinstance(exc, SourceError | ConfigError):
        return 400  # the request names a source that cannot be used as it is
    return 500
