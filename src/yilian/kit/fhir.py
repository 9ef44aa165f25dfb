"""FHIR plumbing every FHIR-facing router shares: the response class and searchset Bundles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request, Response

FHIR_JSON = "application/fhir+json"

# The one namespace of yilian's own identifier systems and code systems. ".example" is
# reserved (RFC 2606), so no real organisation's URIs are claimed by accident.
NAMESPACE = "https://yilian.example/fhir"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # an integer beyond 64 bits (PostgreSQL JSONB turns 1e20 into one)
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _entry(base: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset(
    request: Request,
    matches: Sequence[dict[str, Any]],
    *,
    total: int,
    count: int,
    offset: int,
    included: Sequence[dict[str, Any]] = (),
    outcome: dict[str, Any] | None = None,
) -> FhirResponse:
    """A searchset Bundle of one page, with self/next/previous links for ``_count``/``_offset``.

    ``outcome``: an OperationOutcome about the search (e.g. results left out), sent as
    an entry with ``search.mode = outcome``.
    """
    url = request.url
    links = [{"relation": "self", "url": str(url)}]
    if count and offset + count < total:
        next_url = url.include_query_params(_offset=offset + count, _count=count)
        links.append({"relation": "next", "url": str(next_url)})
    if count and offset > 0:
        prev_url = url.include_query_params(_offset=max(offset - count, 0), _count=count)
        links.append({"relation": "previous", "url": str(prev_url)})
    base = str(request.base_url).rstrip("/") + "/fhir"
    return FhirResponse(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": datetime.now(UTC).isoformat(),
            "total": total,
            "link": links,
            "entry": [_entry(base, r, "match") for r in matches]
            + [_entry(base, r, "include") for r in included]
            + ([{"resource": outcome, "search": {"mode": "outcome"}}] if outcome else []),
        }
    )
