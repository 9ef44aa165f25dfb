"""Structural checks of incoming FHIR resources (R4, validated with the fhir.resources R4B models).

R4B changed none of the elements of the types this store takes: every official
R4 example of them validates unchanged (tests/records/test_hl7_examples.py). A
difference met later is handled here, explicitly, before the R4B model sees it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from yilian.kit.errors import BadRequest, NotFound, Unprocessable
from yilian.records.indexing import REGISTRY_TYPES, SUPPORTED_TYPES

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_ISSUES = 20


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def fhir_path(where: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """FHIRPath of a pydantic error location: ("code", "coding", 0) → where.code.coding[0]."""
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def check_type(resource_type: str, *, field: str | None = None, in_url: bool = False) -> None:
    """Refuse a type this store does not hold: 404 in a URL, 400 in a body."""
    if resource_type in SUPPORTED_TYPES:
        return
    if resource_type in REGISTRY_TYPES:
        message = (
            f"{resource_type} is managed by the registry (区域机构与人员注册): "
            "maintain it through /api/v1/registry; the FHIR store takes no writes of it"
        )
    else:
        message = f"resource type {resource_type!r} is not supported by this FHIR store"
    if in_url:
        raise NotFound(message, field=field)
    raise BadRequest(message, field=field)


def check_resource(resource: Any, where: str, expected_type: str | None = None) -> str:
    """Validate one resource; raise 400/422 naming the failing element; its type."""
    if not isinstance(resource, dict):
        raise BadRequest("a resource must be a JSON object", field=where)
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise BadRequest("resourceType is missing", field=f"{where}.resourceType")
    check_type(rtype, field=f"{where}.resourceType")
    if expected_type is not None and rtype != expected_type:
        raise BadRequest(
            f"resourceType is {rtype} but the request is for {expected_type}",
            field=f"{where}.resourceType",
        )
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_PATTERN.match(rid)):
        raise Unprocessable("id must be 1-64 letters, digits, '-' or '.'", field=f"{where}.id")
    try:
        _model(rtype).model_validate(resource)
    except ValidationError as exc:
        detail = [
            {"field": fhir_path(where, err["loc"]), "message": str(err["msg"])}
            for err in exc.errors()[:MAX_ISSUES]
        ]
        first = detail[0]
        raise Unprocessable(
            f"{rtype} is not valid FHIR R4: {first['field']}: {first['message']}", detail=detail
        ) from None
    return rtype
