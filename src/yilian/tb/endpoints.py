"""API of the tb domain: sequenced samples, resistance reports, clusters and alerts."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from yilian.deps import DbSession
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.security.dependencies import CurrentPrincipal, require_roles
from yilian.security.principal import Principal, Role
from yilian.tb import service
from yilian.tb.config import get_tb_settings
from yilian.tb.schemas import AlertRead, CatalogueRead, SampleCreate, SampleRead
from yilian.tb.vcf import VcfError, decode

router = APIRouter(prefix="/api/v1/tb", tags=["tb"])

SampleId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
Writer = Annotated[
    Principal, Depends(require_roles(Role.cdc, Role.specialist, Role.doctor, Role.admin))
]
_FORM_FIELDS = (
    "label",
    "organization_id",
    "province",
    "city",
    "collection_date",
    "lineage",
    "person_id",
)


async def _sample_input(request: Request) -> tuple[SampleCreate, str | None]:
    """JSON body, or a multipart form (metadata fields plus a ``vcf`` file, plain or gzipped)."""
    ctype = request.headers.get("content-type", "")
    limit = get_tb_settings().max_vcf_bytes
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("vcf")
            data: dict[str, Any] = {
                k: form.get(k) for k in _FORM_FIELDS if form.get(k) not in (None, "")
            }
            text: str | None = None
            if isinstance(upload, UploadFile):
                raw = await upload.read(limit + 1)
                if len(raw) > limit:
                    raise PayloadTooLarge(f"the VCF is larger than {limit} bytes", field="vcf")
                text = decode(raw)
                data["vcf"] = ""
            elif isinstance(upload, str) and upload:
                text = upload
                data["vcf"] = ""
            if form.get("variants"):
                data["variants"] = [
                    v for v in str(form.get("variants")).replace(",", "\n").split() if v
                ]
            return SampleCreate.model_validate(data), text
        body = await request.body()
        if len(body) > limit * 2:
            raise PayloadTooLarge(f"the request is larger than {limit * 2} bytes")
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise BadRequest("the body must be a JSON object or a multipart form")
        return SampleCreate.model_validate(payload), None
    except VcfError as exc:
        raise Unprocessable(str(exc), field="vcf") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", "invalid value"))
        raise Unprocessable(f"{where}: {msg}" if where else msg, field=where or None) from exc


@router.post(
    "/samples",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses=error_responses(
        BadRequest, Unauthorized, Forbidden, Conflict, PayloadTooLarge, Unprocessable
    ),
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": SampleCreate.model_json_schema()}}
        }
    },
)
async def create_sample(request: Request, session: DbSession, principal: Writer) -> dict[str, Any]:
    """File a sequenced sample (VCF or variant names) and return its resistance report."""
    data, text = await _sample_input(request)
    sample = service.create_sample(session, principal, data, text)
    return {
        "sample": SampleRead.model_validate(sample).model_dump(mode="json"),
        "report": sample.report,
    }


@router.get(
    "/samples", response_model=list[SampleRead], responses=error_responses(Unauthorized, Forbidden)
)
def list_samples(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Any]:
    """List sequenced samples (a doctor: their organisation's)."""
    return list(service.list_samples(session, principal, limit=limit, offset=offset))


@router.get(
    "/samples/{sample_id}",
    response_model=SampleRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def get_sample(sample_id: SampleId, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Return a sample's metadata."""
    return service.get_sample(session, principal, sample_id)


@router.get(
    "/samples/{sample_id}/report",
    response_model=None,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def get_report(
    sample_id: SampleId, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Return a sample's resistance report (TB-Profiler-like JSON)."""
    return service.get_sample(session, principal, sample_id).report


@router.get(
    "/catalogue",
    response_model=CatalogueRead,
    responses=error_responses(Unauthorized, Unprocessable),
)
def get_catalogue(session: DbSession, principal: CurrentPrincipal) -> Any:
    """Return the active WHO catalogue version."""
    return service.active_catalogue(session)


@router.get(
    "/clusters",
    response_model=None,
    responses=error_responses(Unauthorized, Forbidden, Unprocessable),
)
def get_clusters(
    session: DbSession,
    principal: CurrentPrincipal,
    threshold: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> dict[str, Any]:
    """Transmission clusters at a SNP threshold (default 12), flagged when they cross provinces."""
    return service.cluster_view(session, principal, threshold)


@router.get(
    "/alerts", response_model=list[AlertRead], responses=error_responses(Unauthorized, Forbidden)
)
def get_alerts(
    session: DbSession,
    principal: CurrentPrincipal,
    status_: Annotated[str | None, Query(alias="status", pattern="^(new|acknowledged)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Any]:
    """Cross-border cluster alerts addressed to the caller's CDC (all, for gateways and admins)."""
    return list(service.list_alerts(session, principal, status=status_, limit=limit, offset=offset))


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def acknowledge(alert_id: SampleId, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Mark an alert as seen by its CDC."""
    return service.acknowledge_alert(session, principal, alert_id)
