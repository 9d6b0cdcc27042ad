"""The OpenAPI document is the real contract: schemathesis drives every operation of a real `priorauth serve`
(embedded SQLite) as each role, with valid and invalid inputs generated from the schema, and checks that no
answer is a 5xx and that every status, content type and body is one the document declares for it.

Bounded and repeatable: a fixed number of examples per operation and mode, derandomized (the same inputs
on every run), no example database, no shrinking.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import cli_client, serve

ROLES = ("provider", "reviewer", "admin")
EXAMPLES = 12  # per operation, role and mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                   phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("contract") / "data") as served:
        yield served


@pytest.fixture(scope="module")
def secrets(server):
    return {"admin": server.secret} | {role: cli_client(server.data_dir, role) for role in ("provider", "reviewer")}


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(f"{server.base}/openapi.json",
                                         headers={"Authorization": f"Bearer {server.secret}"})


def test_the_document_covers_every_route_with_its_errors(schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60
    for operation in operations:
        statuses = set(operation.definition.raw["responses"])
        if operation.path not in ("/health", "/ready"):
            assert {"400", "401", "503"} <= statuses, operation.label


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_is_one_the_document_declares(schema, server, secrets, role):
    auth = {"Authorization": f"Bearer {secrets[role]}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @BOUNDED
            def check(case):
                case.call_and_validate(base_url=server.base, headers=auth, checks=CHECKS, timeout=60)

            try:
                check()
            except Unsatisfiable:  # no invalid input exists for an operation that takes none
                continue
            except Exception as failure:  # noqa: BLE001 (every operation is tried; all failures are listed)
                failures.append(f"{operation.label} ({mode.value}): {str(failure)[:600]}")
    assert not failures, "\n\n".join(failures)
