"""HTTP statuses live in the API layer only: the catalog's errors carry codes, the API maps them."""

from __future__ import annotations

import inspect

from zeroetl.catalog import errors as domain
from zeroetl.errors import ConfigError, SourceError, ZeroEtlError
from zeroetl.server.api import schemas
from zeroetl.server.api.errors import STATUS, http_status


def _domain_errors() -> list[type[domain.LifecycleError]]:
    return [
        c
        for _, c in inspect.getmembers(domain, inspect.isclass)
        if issubclass(c, domain.LifecycleError)
    ]


def test_domain_errors_carry_no_http_status() -> None:
    for cls in _domain_errors():
        assert not hasattr(cls, "status"), cls


def test_every_domain_error_has_a_status() -> None:
    for cls in _domain_errors():
        assert cls.code in STATUS, cls.code
    assert http_status(domain.IntegrationNotFound("x")) == 404
    assert http_status(domain.WarehouseInUse("x")) == 409
    assert http_status(domain.SourceNotAuthorized("x")) == 403
    assert http_status(SourceError("x")) == 400
    assert http_status(ConfigError("x")) == 400
    assert http_status(ZeroEtlError("x")) == 500


def test_openapi_examples_agree_with_the_statuses() -> None:
    for code, (status, *_rest) in schemas.ERRORS.items():
        if code in STATUS:
            assert STATUS[code] == status, code
