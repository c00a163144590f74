"""Ingest's HTTP API fuzzed from its own OpenAPI schema (schemathesis): no input gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from tests.support.services import running_services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ingest_url(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    with running_services(["ingest"], bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as s:
        yield s["ingest"].url


def test_no_input_gives_a_server_error(ingest_url: str):
    schema = schemathesis.openapi.from_url(f"{ingest_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path == "/v1/events" for op in operations)
    for operation in operations:
        # About 100 examples in all, most of them for the one endpoint with a body worth fuzzing.
        examples = 60 if operation.path == "/v1/events" else 6

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: Case) -> None:
            # Authenticated as ingest, so generated bodies reach validation and the broker, not only 401.
            response = case.call(base_url=ingest_url, headers={"Authorization": "Bearer dev-ingest-key"}, timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}"
            )

        call()
