"""The app factory's cross-cutting behaviour: health, body limit, error shape."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from pytest import MonkeyPatch
from sqlalchemy.orm import Session


def test_health_reports_database_ok(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_oversized_body_is_refused_before_the_handler(client: TestClient) -> None:
    body = b"{" + b" " * (10 * 1024 * 1024 + 10) + b"}"
    r = client.post(
        "/api/v1/organizations", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "exceeds the limit" in r.json()["error"]


def test_oversized_fhir_body_gets_an_operation_outcome(client: TestClient) -> None:
    body = b"x" * (10 * 1024 * 1024 + 1)
    r = client.post("/fhir", content=body, headers={"content-type": "application/fhir+json"})
    assert r.status_code == 413
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"


def test_chunked_oversized_body_is_refused(client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit must count streamed bytes
        for _ in range(11):
            yield b" " * (1024 * 1024)

    r = client.post(
        "/api/v1/organizations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert "error" in r.json()


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"].startswith("yilian")


def test_the_commit_happens_before_the_response_is_sent(
    client: TestClient, auth_headers: Callable[..., dict[str, str]], monkeypatch: MonkeyPatch
) -> None:
    """A client told 200 must find its data committed; a failing commit is the client's error."""
    from yilian import deps

    def failing_commit(session: Session, ok: bool) -> None:
        session.rollback()
        session.close()
        if ok:
            raise RuntimeError("the database went away at commit")

    monkeypatch.setattr(deps, "_finish", failing_commit)
    resp = client.get("/api/v1/regions", headers=auth_headers("admin"))
    assert resp.status_code == 500
    assert "Traceback" not in resp.text
