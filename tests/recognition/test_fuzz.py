"""Property-based fuzzing of the recognition routes: nothing a client sends yields a 5xx.

As an administrator (catalogue edits, statistics) and as a doctor (checks, decisions),
on SQLite and PostgreSQL, with the default catalogue installed.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from tests.fixtures.auth import HeaderFactory
from tests.recognition.conftest import Zone


@pytest.fixture
def api_schema(app: FastAPI, session: Session, zone: Zone) -> schemathesis.BaseSchema:
    return schemathesis.from_asgi("/openapi.json", app)


schemathesis.experimental.OPEN_API_3_1.enable()
schema = schemathesis.from_pytest_fixture("api_schema").include(path_regex="^/api/v1/recognition")


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)  # fmt: skip
def test_no_server_errors(case: schemathesis.Case, auth_headers: HeaderFactory, zone: Zone) -> None:
    doctor = auth_headers("doctor", organization_id=zone.centre.id, subject="fuzz-dr")
    for headers in (auth_headers("admin", subject="fuzzer"), doctor):
        response = case.call_asgi(headers=headers)
        case.validate_response(response, checks=(not_a_server_error,))
