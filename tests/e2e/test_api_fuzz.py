"""Schemathesis against a real `zeroetl serve`: generated requests for every operation of the
OpenAPI document, valid and invalid, and every answer checked against the document (a
documented status, the documented body, never a 5xx). Sources are restricted to 127.0.0.1, so
no generated request reaches another machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service_support import Serve, without_pytz

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = int(os.environ.get("ZEROETL_TEST_FUZZ_EXAMPLES", "15"))  # per operation: seconds


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    tmp = tmp_path_factory.mktemp("fuzz")
    s = Serve(tmp / "wh", tmp / "serve.log", "--allow-source", "127.0.0.1", env=without_pytz(tmp))
    s.start()
    try:
        yield s
    finally:
        s.kill()


def test_generated_requests_get_documented_answers(svc: Serve, source_url: str) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    # A request that fits the document may still be refused with 400: a source that does not
    # answer, a data filter that does not parse, a name taken... (a JSON schema cannot say
    # those); everything else is checked.
    SEMANTIC = schemathesis.checks.positive_data_acceptance

    # Something to find: one integration waiting for its target database.
    svc.ok("POST", "/v1/integrations", {"name": "fuzz-me", "source": source_url})
    auth = {"Authorization": f"Bearer {svc.token}"}
    schema = schemathesis.openapi.from_dict(svc.ok("GET", "/openapi.json"))
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=svc.url, headers=auth, timeout=30)
            case.validate_response(response, excluded_checks=[SEMANTIC])

        run()
    assert operations >= 20
    assert svc.proc is not None and svc.proc.poll() is None
    assert "Traceback" not in Path(svc.log).read_text()
