"""Property-based fuzzing of every route in the OpenAPI spec: nothing a client sends yields a 5xx.

Runs as an administrator (the widest surface), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.fixtures.auth import HeaderFactory


@pytest.fixture
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.from_asgi("/openapi.json", app)


# FastAPI emits OpenAPI 3.1, which schemathesis 3 supports behind this switch.
schemathesis.experimental.OPEN_API_3_1.enable()
schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case, auth_headers: HeaderFactory) -> None:
    response = case.call_asgi(headers=auth_headers("admin", subject="fuzzer"))
    case.validate_response(response, checks=(not_a_server_error,))
