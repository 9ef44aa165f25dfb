"""API of the chronic domain (慢病管理)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from yilian.chronic import rules, service
from yilian.chronic.models import Enrolment, Followup, ReferralSuggestion
from yilian.chronic.schemas import (
    AnnualOut,
    EnrolIn,
    EnrolmentOut,
    FollowupIn,
    FollowupOut,
    IndicatorOut,
    IndicatorsOut,
    OverviewOut,
    ProgrammeOut,
    RecordFollowupOut,
    ReferIn,
    ReferOut,
    ScoreOut,
    SuggestionOut,
)
from yilian.deps import DbSession
from yilian.kit.errors import Forbidden, NotFound, Unauthorized, Unprocessable, error_responses
from yilian.security.dependencies import CurrentPrincipal, require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(prefix="/api/v1/chronic", tags=["chronic"])

PersonId = Annotated[str, Path(min_length=1, max_length=32, description="master patient index id")]
SuggestionId = Annotated[str, Path(min_length=1, max_length=32)]
Clinician = Annotated[Principal, Depends(require_roles(Role.doctor, Role.specialist))]
IndicatorReader = Annotated[
    Principal,
    Depends(require_roles(Role.admin, Role.commission, Role.cdc, Role.doctor, Role.specialist)),
]
_AUTH = (Unauthorized, Forbidden)


def enrolment_out(e: Enrolment) -> EnrolmentOut:
    return EnrolmentOut(
        id=e.id,
        programme=e.programme,
        status=e.status,
        managing_org_id=e.managing_org_id,
        enrolled_on=e.enrolled_on,
        next_due=e.next_due,
        next_kind=e.next_kind,
        last_followup_on=e.last_followup_on,
        last_control=e.last_control,
    )


def followup_out(f: Followup) -> FollowupOut:
    return FollowupOut(
        id=f.id,
        programme=f.programme,
        followed_on=f.followed_on,
        mode=f.mode,
        sbp=f.sbp,
        dbp=f.dbp,
        heart_rate=f.heart_rate,
        glucose=f.glucose,
        bmi=rules.bmi(f.weight_kg, f.height_cm),
        control=f.control,
        classification=f.classification,
        next_due=f.next_due,
        next_kind=f.next_kind,
    )


def suggestion_out(s: ReferralSuggestion) -> SuggestionOut:
    return SuggestionOut(
        id=s.id,
        programme=s.programme,
        urgency=s.urgency,
        reasons=list(s.reasons),
        status=s.status,
        referral_id=s.referral_id,
    )


def score_out(score: rules.Score, method: str) -> ScoreOut:
    return ScoreOut(
        name=score.name,
        applicable=score.applicable,
        total=score.total,
        tier=score.tier,
        points=score.points,
        inputs=score.inputs,
        missing=list(score.missing),
        note=score.note,
        method=method,
        model=score.model or None,
    )


@router.get("/programmes", response_model=list[ProgrammeOut], responses=error_responses(*_AUTH))
def list_programmes(principal: CurrentPrincipal) -> list[ProgrammeOut]:
    """List the configured chronic-disease programmes."""
    return [
        ProgrammeOut(
            key=p.key,
            name_zh=p.name_zh,
            name_en=p.name_en,
            icd10=list(p.icd10),
            control=p.control,
            interval_days=p.interval_days,
            min_followups_per_year=p.min_followups_per_year,
        )
        for p in service.programmes()
    ]


@router.get(
    "/persons/{person_id}",
    response_model=OverviewOut,
    responses=error_responses(*_AUTH, NotFound),
)
def person_overview(
    person_id: PersonId,
    session: DbSession,
    principal: CurrentPrincipal,
    family_history_diabetes: Annotated[bool | None, Query()] = None,
    family_history_ascvd: Annotated[bool | None, Query()] = None,
) -> OverviewOut:
    """Return a person's programmes, follow-ups, referral suggestions and risk scores."""
    o = service.overview(
        session,
        principal,
        person_id,
        family_history_diabetes=family_history_diabetes,
        family_history_ascvd=family_history_ascvd,
    )
    return OverviewOut(
        person_id=o.person_id,
        enrolments=[enrolment_out(e) for e in o.enrolments],
        followups=[followup_out(f) for f in o.followups],
        suggestions=[suggestion_out(s) for s in o.suggestions],
        risk=[score_out(s, m) for s, m in o.risk.scores],
        screening=o.risk.screening,
        annual=[AnnualOut(**a.__dict__) for a in o.annual],
    )


@router.post(
    "/persons/{person_id}/enrolments",
    response_model=EnrolmentOut,
    status_code=201,
    responses=error_responses(*_AUTH, NotFound, Unprocessable),
)
def enrol_person(
    person_id: PersonId, body: EnrolIn, session: DbSession, principal: Clinician
) -> EnrolmentOut:
    """Enrol a person in a programme by hand (idempotent)."""
    return enrolment_out(
        service.manual_enrol(
            session, principal, person_id=person_id, programme=body.programme, on=body.enrolled_on
        )
    )


@router.post(
    "/persons/{person_id}/followups",
    response_model=RecordFollowupOut,
    status_code=201,
    responses=error_responses(*_AUTH, NotFound, Unprocessable),
)
def record_followup(
    person_id: PersonId, body: FollowupIn, session: DbSession, principal: Clinician
) -> RecordFollowupOut:
    """Record a follow-up; urgent-referral criteria open a referral suggestion."""
    made, suggested = service.record_followup(session, principal, person_id=person_id, data=body)
    return RecordFollowupOut(
        followups=[followup_out(f) for f in made],
        suggestions=[suggestion_out(s) for s in suggested],
    )


@router.post(
    "/suggestions/{suggestion_id}/referral",
    response_model=ReferOut,
    responses=error_responses(*_AUTH, NotFound, Unprocessable),
)
def refer_suggestion(
    suggestion_id: SuggestionId, body: ReferIn, session: DbSession, principal: Clinician
) -> ReferOut:
    """Request the suggested referral through the referral service (kept open without it)."""
    s, requested, message = service.request_suggested_referral(
        session,
        principal,
        suggestion_id=suggestion_id,
        to_organization_id=body.to_organization_id,
        department=body.department,
    )
    return ReferOut(suggestion=suggestion_out(s), referral_requested=requested, message=message)


@router.post(
    "/suggestions/{suggestion_id}/dismiss",
    response_model=SuggestionOut,
    responses=error_responses(*_AUTH, NotFound, Unprocessable),
)
def dismiss_suggestion(
    suggestion_id: SuggestionId, session: DbSession, principal: Clinician
) -> SuggestionOut:
    """Close a referral suggestion without referring."""
    return suggestion_out(
        service.dismiss_suggestion(session, principal, suggestion_id=suggestion_id)
    )


def indicator_scope(principal: Principal) -> list[str] | None:
    """Doctors see their own centre's figures; authorities see every centre."""
    if principal.role in (Role.doctor, Role.specialist):
        return [principal.organization_id] if principal.organization_id else []
    return None


@router.get(
    "/indicators",
    response_model=IndicatorsOut,
    responses=error_responses(*_AUTH, Unprocessable),
)
def get_indicators(
    session: DbSession,
    principal: IndicatorReader,
    programme: Annotated[str, Query(max_length=32)] = "hypertension",
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    group_by: Annotated[str, Query(max_length=16)] = "centre",
) -> IndicatorsOut:
    """Return 规范管理率 and 控制率 of a programme by centre, street or team."""
    y = year or service.today().year
    rows, total = service.indicators(
        session,
        programme=programme,
        year=y,
        group_by=group_by,
        organization_ids=indicator_scope(principal),
    )

    def out(r: service.IndicatorRow) -> IndicatorOut:
        return IndicatorOut(
            group=r.group,
            group_name=r.group_name,
            managed=r.managed,
            standard=r.standard,
            controlled=r.controlled,
            standard_rate=r.standard_rate,
            control_rate=r.control_rate,
        )

    return IndicatorsOut(
        programme=programme,
        year=y,
        group_by=group_by,
        rows=[out(r) for r in rows],
        total=out(total),
    )
