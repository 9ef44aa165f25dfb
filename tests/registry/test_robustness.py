"""No 5xx for anything a client can send to a registry route.

A hand-rolled sweep rather than schemathesis: for every registry operation in the
OpenAPI document, each body field, query parameter and path id in turn gets each
hostile value below, next to otherwise valid input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from yilian.registry.models import Consortium, Organization, Practitioner

from ..fixtures.auth import HeaderFactory

HOSTILE: list[Any] = [
    None,
    "",
    "a\x00b",
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
    "x" * 5000,
    2**63,
    -(2**63) - 1,
    1e308,
    -1.5,
    True,
    [],
    {"nested": "object"},
    "😀" * 40,
    "' OR 1=1 --",
]
RAW_BODIES = [b"", b"null", b"[]", b"NaN", b'{"name": Infinity}', b"\xff\xfe", b'{"a":' * 2000]
HOSTILE_QUERY = ["", "\x00", "a\x00b", "x" * 5000, "-1", "99999999999999999999", "true", "%", "_"]
HOSTILE_IDS = ["%00", "a" * 65, "..", "%20", "ä"]
PREFIXES = ("/api/v1/regions", "/api/v1/organizations", "/api/v1/consortia", "/api/v1/practitioner")
FHIR = ("/fhir/Organization", "/fhir/Practitioner", "/fhir/Location")


def _body_fields(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
    return list(spec["components"]["schemas"][ref]["properties"])


def _sweep(
    client: TestClient, headers: dict[str, str], ids: dict[str, str], valid: dict[str, Any]
) -> list[str]:
    spec = client.get("/openapi.json").json()
    failures: list[str] = []

    def call(method: str, url: str, **kwargs: Any) -> None:
        r = client.request(method, url, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)
        if r.status_code >= 500:
            failures.append(f"{method} {url} {kwargs} -> {r.status_code} {r.text[:200]}")

    for path, ops in spec["paths"].items():
        if not path.startswith(PREFIXES + FHIR):
            continue
        for method, op in ops.items():
            params = op.get("parameters", [])
            path_names = [p["name"] for p in params if p["in"] == "path"]
            url = path
            for name in path_names:
                url = url.replace("{" + name + "}", ids.get(name, ids["any"]))
            for bad in HOSTILE_IDS:
                bad_url = path
                for name in path_names:
                    bad_url = bad_url.replace("{" + name + "}", bad)
                if path_names:
                    call(method, bad_url, json={})
            for p in params:
                if p["in"] == "query":
                    for bad in HOSTILE_QUERY:
                        call(method, url, params={p["name"]: bad})
            fields = _body_fields(spec, op)
            if not fields:
                continue
            base = valid.get(
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[
                    -1
                ],
                {},
            )
            for field in fields:
                for bad in HOSTILE:
                    call(
                        method,
                        url,
                        content=json.dumps({**base, field: bad}),
                        headers={"content-type": "application/json"},
                    )
            for raw in RAW_BODIES:
                call(method, url, content=raw, headers={"content-type": "application/json"})
    return failures


def test_no_route_answers_5xx(
    app: FastAPI,
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_consortium: Callable[..., Consortium],
    make_practitioner: Callable[..., Practitioner],
) -> None:
    org = make_org()
    consortium = make_consortium(members=[make_org(region=org.region_id)])
    practitioner = make_practitioner(roles=[(org, "doctor")])
    ids = {
        "any": org.id,
        "region_id": org.region_id,
        "organization_id": org.id,
        "consortium_id": consortium.id,
        "practitioner_id": practitioner.id,
        "id": org.id,
    }
    valid = {
        "RegionCreate": {"code": "R1", "name": "区", "level": "district"},
        "OrganizationCreate": {
            "code": "O1",
            "name": "机构",
            "type": "other",
            "region_id": org.region_id,
        },
        "ConsortiumCreate": {
            "code": "C1",
            "name": "联盟",
            "kind": "specialty",
            "lead_organization_id": org.id,
        },
        "MemberCreate": {"organization_id": org.id},
        "PractitionerCreate": {"name": "医生"},
        "PractitionerRoleCreate": {
            "practitioner_id": practitioner.id,
            "organization_id": org.id,
            "role": "nurse",
        },
    }
    failures = _sweep(client, auth_headers(), ids, valid)
    assert failures == [], "\n".join(failures[:20])
