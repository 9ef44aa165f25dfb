"""Chronic-disease programmes (慢病管理): enrolment, follow-ups, risk scores and indicators.

Services take a Session and never commit. Reads of a person's data go through the
access decision (records.everything / security.access), writes are audited.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any, Literal

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.chronic import inputs, repository, rules
from yilian.chronic.config import ChronicSettings, Programme, get_chronic_settings
from yilian.chronic.models import Enrolment, Followup, ReferralSuggestion
from yilian.chronic.schemas import FACE_TO_FACE_MODES, FollowupIn
from yilian.db import new_id, utcnow
from yilian.kit.errors import Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.records.indexing import LOCAL_TZ
from yilian.records.projectors import StoredResource
from yilian.registry import service as registry
from yilian.security import access
from yilian.security.principal import Principal, Role

log = logging.getLogger("yilian.chronic")

WRITER_ROLES = frozenset({Role.doctor, Role.specialist})
ICD10_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cn"})
_INACTIVE = frozenset({"inactive", "resolved", "remission"})
_NOT_CONFIRMED = frozenset({"refuted", "entered-in-error"})
BACKFILL_PAGE = 2_000  # Conditions enrolled from per statement by the backfill


@dataclass(frozen=True)
class FollowupDue:
    """A follow-up due for a person in a programme (familydoctor's worklist reads these)."""

    person_id: str
    programme: str
    due_date: date
    kind: str  # "routine" | "recheck" | "urgent"
    overdue_days: int


@dataclass(frozen=True)
class RiskProfile:
    scores: list[tuple[rules.Score, str]]  # (score, method)
    screening: list[str]


@dataclass(frozen=True)
class Annual:
    programme: str
    year: int
    face_to_face: int
    required: int
    standard: bool
    last_control: str | None
    annual_check: bool


@dataclass(frozen=True)
class Overview:
    person_id: str
    enrolments: list[Enrolment]
    followups: list[Followup]
    suggestions: list[ReferralSuggestion]
    risk: RiskProfile
    annual: list[Annual]
    facts: inputs.Facts


@dataclass(frozen=True)
class IndicatorRow:
    group: str | None
    group_name: str
    managed: int
    standard: int
    controlled: int

    @property
    def standard_rate(self) -> float | None:
        return rules.rate(self.standard, self.managed)

    @property
    def control_rate(self) -> float | None:
        return rules.rate(self.controlled, self.managed)


def today() -> date:
    """Today in the region's time zone (follow-up dates are local dates)."""
    return utcnow().astimezone(LOCAL_TZ).date()


# --- programmes and enrolment --------------------------------------------------------


def programmes() -> list[Programme]:
    return list(get_chronic_settings().programmes)


def _programme(key: str, field: str = "programme") -> Programme:
    found = get_chronic_settings().programme(key)
    if found is None:
        known = ", ".join(p.key for p in programmes())
        raise Unprocessable(f"unknown programme {key!r}; known: {known}", field=field)
    return found


def enrol(
    session: Session,
    *,
    person_id: str,
    programme: str,
    on: date,
    managing_org_id: str | None,
    source: str,
    condition_id: str | None = None,
    condition_code: str | None = None,
) -> bool:
    """Enrol a person in a programme (idempotent); True when newly enrolled.

    The first follow-up is due on the enrolment day (建档后首次随访).
    """
    values = _enrolment_values(
        person_id=person_id,
        programme=programme,
        on=on,
        managing_org_id=managing_org_id,
        source=source,
        condition_id=condition_id,
        condition_code=condition_code,
    )
    return repository.insert_enrolments(session, [values]) == 1


def _enrolment_values(
    *,
    person_id: str,
    programme: str,
    on: date,
    managing_org_id: str | None,
    source: str,
    condition_id: str | None,
    condition_code: str | None,
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "programme": programme,
        "status": "active",
        "managing_org_id": managing_org_id,
        "enrolled_on": on,
        "source": source,
        "condition_id": condition_id,
        "condition_code": condition_code,
        "next_due": on,
        "next_kind": rules.ROUTINE,
    }


def _condition_date(resource: Mapping[str, Any]) -> date:
    for key in ("recordedDate", "onsetDateTime"):
        value = resource.get(key)
        if isinstance(value, str):
            try:
                day = records_date(value)
            except ValueError:
                continue
            return min(day, today())
    return today()


def records_date(value: str) -> date:
    from yilian.records.indexing import parse_span

    return parse_span(value).start.astimezone(LOCAL_TZ).date()


def condition_codes(resource: Mapping[str, Any]) -> list[str]:
    """ICD-10 codes of an active, not refuted Condition (none otherwise)."""
    clinical = {c.get("code") for c in (resource.get("clinicalStatus") or {}).get("coding") or []}
    verification = {
        c.get("code") for c in (resource.get("verificationStatus") or {}).get("coding") or []
    }
    if clinical & _INACTIVE or verification & _NOT_CONFIRMED:
        return []
    return [
        str(c["code"])
        for c in (resource.get("code") or {}).get("coding") or []
        if isinstance(c, dict) and c.get("code") and c.get("system") in ICD10_SYSTEMS
    ]


def enrol_from_condition(
    session: Session, stored: StoredResource, known: set[tuple[str, str]] | None = None
) -> int:
    """Projector: a hypertension / T2DM (or configured) diagnosis enrols the person.

    ``known`` (person, programme) pairs are skipped without a statement (the backfill).
    """
    return enrol_from_conditions(session, [stored], known)


def enrol_from_conditions(
    session: Session,
    stored: Sequence[StoredResource],
    known: set[tuple[str, str]] | None = None,
) -> int:
    """Enrol from a batch of Conditions as one by one would; the number newly enrolled.

    The first Condition of a person for a programme enrols (its date, code and
    institution); later ones, and persons already in the programme, change nothing.
    One multi-row insert that skips existing (person, programme) pairs does it all.
    """
    cfg = get_chronic_settings()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in stored:
        if s.person_id is None:
            continue
        for code in condition_codes(s.resource):
            for p in rules.programmes_for_code(code, cfg.programmes):
                pair = (s.person_id, p.key)
                if pair in rows or (known is not None and pair in known):
                    continue
                rows[pair] = _enrolment_values(
                    person_id=s.person_id,
                    programme=p.key,
                    on=_condition_date(s.resource),
                    managing_org_id=s.source_org_id,
                    source="condition",
                    condition_id=f"Condition/{s.id}",
                    condition_code=code,
                )
    if known is not None:
        known.update(rows)
    return repository.insert_enrolments(session, list(rows.values()))


def enrolled_programmes(session: Session, person_ids: Collection[str]) -> dict[str, set[str]]:
    """The active programmes of each person (persons in none are left out)."""
    out: dict[str, set[str]] = defaultdict(set)
    for person_id, programme in repository.programmes_of(session, person_ids):
        out[person_id].add(programme)
    return dict(out)


def followups_due(
    session: Session,
    *,
    person_ids: Collection[str] | None,
    on: date,
    within_days: int = 0,
) -> list[FollowupDue]:
    """Follow-ups due on or before ``on`` (+ ``within_days``), most overdue first."""
    until = on + timedelta(days=within_days)
    return [
        FollowupDue(person_id, programme, due_date, kind, max(0, (on - due_date).days))
        for person_id, programme, due_date, kind in repository.due(session, person_ids, until)
    ]


def manual_enrol(
    session: Session, principal: Principal, *, person_id: str, programme: str, on: date | None
) -> Enrolment:
    """Enrol a person by hand (a diagnosis made outside the exchange)."""
    _require_writer(principal)
    _programme(programme)
    day = on or today()
    if day > today():
        raise Unprocessable("enrolled_on must not be in the future", field="enrolled_on")
    _access(session, principal, person_id, "write")
    enrol(
        session,
        person_id=person_id,
        programme=programme,
        on=day,
        managing_org_id=principal.organization_id,
        source="manual",
    )
    row = repository.enrolment(session, person_id, programme)
    assert row is not None
    audit.record(
        session,
        principal,
        action="create",
        resource_type="ChronicEnrolment",
        resource_id=row.id,
        person_id=person_id,
        outcome="success",
        detail={"programme": programme},
    )
    return row


# --- follow-ups ------------------------------------------------------------------------


def _require_writer(principal: Principal) -> None:
    if principal.role not in WRITER_ROLES:
        raise Forbidden("recording follow-ups needs the doctor or specialist role")


def _access(session: Session, principal: Principal, person_id: str, action: str) -> None:
    if not patients.record_ids_of(session, person_id):
        raise NotFound(f"no person {person_id} with a Patient record")
    access.require_person_access(
        session,
        principal,
        person_id=person_id,
        action=action,
        purpose="treatment",
        resource_type="ChronicCare",
    )


def _check_range(name: str, value: float | None, bounds: tuple[float, float], unit: str) -> None:
    if value is None:
        return
    low, high = bounds
    if not low <= value <= high:
        raise Unprocessable(
            f"{name} {value:g} {unit} is not a possible value (expected {low:g}–{high:g})",
            field=name,
        )


def validate_followup(data: FollowupIn, cfg: ChronicSettings, on_day: date) -> None:
    """Refuse impossible readings and future dates, naming the field (nothing is written)."""
    if data.followed_on > on_day:
        raise Unprocessable(
            f"followed_on {data.followed_on.isoformat()} is in the future", field="followed_on"
        )
    if data.followed_on < on_day - timedelta(days=3660):
        raise Unprocessable("followed_on is more than 10 years ago", field="followed_on")
    _check_range("sbp", data.sbp, cfg.sbp_range, "mmHg")
    _check_range("dbp", data.dbp, cfg.dbp_range, "mmHg")
    _check_range("heart_rate", data.heart_rate, cfg.heart_rate_range, "/min")
    _check_range("glucose", data.glucose, cfg.glucose_range, "mmol/L")
    _check_range("temperature", data.temperature, cfg.temperature_range, "°C")
    _check_range("weight_kg", data.weight_kg, cfg.weight_range, "kg")
    _check_range("height_cm", data.height_cm, cfg.height_range, "cm")
    _check_range("waist_cm", data.waist_cm, cfg.waist_range, "cm")
    if (data.sbp is None) != (data.dbp is None):
        missing = "dbp" if data.dbp is None else "sbp"
        raise Unprocessable("blood pressure needs both sbp and dbp", field=missing)
    if data.sbp is not None and data.dbp is not None and data.dbp >= data.sbp:
        raise Unprocessable("dbp must be lower than sbp", field="dbp")
    unknown = [s for s in data.symptoms if s not in rules.URGENT_SYMPTOMS]
    if unknown:
        raise Unprocessable(
            f"unknown symptom {unknown[0]!r}; known: {', '.join(rules.URGENT_SYMPTOMS)}",
            field="symptoms",
        )


def _age(session: Session, principal: Principal, person_id: str, on: date) -> int | None:
    record_ids = patients.record_ids_of(session, person_id)
    resource = records.read(session, records.ReadContext(principal), "Patient", record_ids[0])
    birth = resource.get("birthDate")
    try:
        return rules.age_on(date.fromisoformat(str(birth)[:10]), on) if birth else None
    except ValueError:
        return None


def record_followup(
    session: Session, principal: Principal, *, person_id: str, data: FollowupIn
) -> tuple[list[Followup], list[ReferralSuggestion]]:
    """Record a follow-up for each named programme, classify it and schedule the next one.

    Urgent-referral criteria and two consecutive uncontrolled readings store a
    referral suggestion; nothing is written when any input is refused.
    """
    cfg = get_chronic_settings()
    _require_writer(principal)
    validate_followup(data, cfg, today())
    enrolments = {e.programme: e for e in repository.enrolments_of(session, person_id)}
    wanted = data.programmes or [k for k, e in enrolments.items() if e.status == "active"]
    if not wanted:
        raise Unprocessable("the person is in no programme; enrol first", field="programmes")
    for key in wanted:
        _programme(key, "programmes")
        if key not in enrolments or enrolments[key].status != "active":
            raise Unprocessable(f"the person is not enrolled in {key}", field="programmes")
    _access(session, principal, person_id, "write")
    age = _age(session, principal, person_id, data.followed_on)
    reading = reading_of(data)
    made: list[Followup] = []
    suggested: list[ReferralSuggestion] = []
    for key in dict.fromkeys(wanted):
        fu, suggestion = apply_followup(
            session,
            enrolments[key],
            data,
            reading,
            age=age,
            organization_id=principal.organization_id,
            recorded_by=principal.subject,
        )
        made.append(fu)
        if suggestion is not None:
            suggested.append(suggestion)
        audit.record(
            session,
            principal,
            action="create",
            resource_type="ChronicFollowup",
            resource_id=fu.id,
            person_id=person_id,
            outcome="success",
            detail={
                "programme": key,
                "classification": fu.classification,
                "referral": suggestion.urgency if suggestion else None,
            },
        )
    session.flush()
    return made, suggested


def reading_of(data: FollowupIn) -> rules.Reading:
    return rules.Reading(
        on=data.followed_on,
        sbp=data.sbp,
        dbp=data.dbp,
        heart_rate=data.heart_rate,
        glucose=data.glucose,
        temperature=data.temperature,
        symptoms=tuple(data.symptoms),
        pregnant_or_lactating=data.pregnant_or_lactating,
        adverse_reaction=data.adverse_reaction,
        complication=data.complication,
        cannot_manage=data.cannot_manage,
    )


def apply_followup(
    session: Session,
    enrolment: Enrolment,
    data: FollowupIn,
    reading: rules.Reading,
    *,
    age: int | None,
    organization_id: str | None,
    recorded_by: str | None,
    previous: str | Literal["look-up"] | None = "look-up",
) -> tuple[Followup, ReferralSuggestion | None]:
    """Store one checked follow-up of an enrolment, move its schedule, add any suggestion.

    ``previous`` is the control status of the enrolment's last measured follow-up when
    the caller knows it (a batch); by default it is looked up.
    """
    programme = _programme(enrolment.programme)
    if previous == "look-up":
        previous = repository.latest_control(session, enrolment.id)
    result = rules.assess(
        programme,
        reading,
        previous_uncontrolled=previous == rules.UNCONTROLLED,
        age=age,
        cfg=get_chronic_settings(),
    )
    fu = Followup(
        id=new_id(),
        enrolment_id=enrolment.id,
        person_id=enrolment.person_id,
        programme=enrolment.programme,
        followed_on=data.followed_on,
        mode=data.mode,
        face_to_face=data.mode in FACE_TO_FACE_MODES,
        annual_check=data.annual_check,
        sbp=data.sbp,
        dbp=data.dbp,
        heart_rate=data.heart_rate,
        glucose=data.glucose,
        temperature=data.temperature,
        weight_kg=data.weight_kg,
        height_cm=data.height_cm,
        waist_cm=data.waist_cm,
        smoker=data.smoker,
        findings={
            "symptoms": list(data.symptoms),
            "pregnant_or_lactating": data.pregnant_or_lactating,
            "adverse_reaction": data.adverse_reaction,
            "complication": data.complication,
            "cannot_manage": data.cannot_manage,
            "reasons": list(result.reasons),
        },
        control=result.control,
        classification=result.classification,
        next_due=result.next_due,
        next_kind=result.next_kind,
        organization_id=organization_id,
        recorded_by=recorded_by,
        note=data.note,
    )
    session.add(fu)
    # An older follow-up entered late does not move the schedule back.
    if enrolment.last_followup_on is None or data.followed_on >= enrolment.last_followup_on:
        enrolment.last_followup_on = data.followed_on
        enrolment.next_due = result.next_due
        enrolment.next_kind = result.next_kind
        if result.control in (rules.CONTROLLED, rules.UNCONTROLLED):
            enrolment.last_control = result.control
    if enrolment.managing_org_id is None:
        enrolment.managing_org_id = organization_id
    suggestion = None
    if result.referral is not None:
        suggestion = ReferralSuggestion(
            person_id=enrolment.person_id,
            enrolment_id=enrolment.id,
            followup_id=fu.id,
            programme=enrolment.programme,
            urgency=result.referral,
            reasons=list(result.reasons),
            status="open",
            organization_id=organization_id,
        )
        session.add(suggestion)
    return fu, suggestion


# --- referral suggestions --------------------------------------------------------------


def _suggestion(session: Session, principal: Principal, suggestion_id: str) -> ReferralSuggestion:
    s = repository.get_suggestion(session, suggestion_id)
    if s is None:
        raise NotFound(f"no referral suggestion {suggestion_id}")
    _access(session, principal, s.person_id, "write")
    return s


def request_suggested_referral(
    session: Session,
    principal: Principal,
    *,
    suggestion_id: str,
    to_organization_id: str,
    department: str | None = None,
) -> tuple[ReferralSuggestion, bool, str]:
    """Turn a suggestion into a referral through the referral domain, when it is installed.

    Without the referral domain the suggestion stays open and the caller is told so.
    """
    _require_writer(principal)
    s = _suggestion(session, principal, suggestion_id)
    if s.status != "open":
        raise Unprocessable(f"the suggestion is already {s.status}", field="suggestion")
    registry.get_organization(session, to_organization_id)
    try:
        request_referral = importlib.import_module("yilian.referral.service").request_referral
    except (ImportError, AttributeError):
        return s, False, "referral service not available; the suggestion is kept"
    reasons = "、".join(s.reasons) or s.urgency
    urgent = "紧急转诊" if s.urgency == rules.REFERRAL_URGENT else "建议上转"
    referral = request_referral(
        session,
        principal,
        person_id=s.person_id,
        direction="up",
        to_organization_id=to_organization_id,
        reason=f"{urgent}（慢病随访 {s.programme}）: {reasons}",
        department=department,
        summary=f"chronic follow-up suggestion {s.id}",
    )
    s.status = "requested"
    s.referral_id = str(getattr(referral, "id", "") or "") or None
    s.acted_by = principal.subject
    session.flush([s])
    return s, True, "referral requested"


def dismiss_suggestion(
    session: Session, principal: Principal, *, suggestion_id: str
) -> ReferralSuggestion:
    """Close a suggestion without referring (the doctor decided otherwise)."""
    _require_writer(principal)
    s = _suggestion(session, principal, suggestion_id)
    if s.status != "open":
        raise Unprocessable(f"the suggestion is already {s.status}", field="suggestion")
    s.status = "dismissed"
    s.acted_by = principal.subject
    audit.record(
        session,
        principal,
        action="update",
        resource_type="ChronicReferralSuggestion",
        resource_id=s.id,
        person_id=s.person_id,
        outcome="success",
        detail={"status": "dismissed"},
    )
    session.flush([s])
    return s


# --- the person's chronic-care view ---------------------------------------------------


def _followup_facts(facts: inputs.Facts, followups: Iterable[Followup]) -> None:
    """Add the follow-ups' own readings to the facts from the exchange."""
    for f in followups:
        if f.sbp is not None and f.dbp is not None:
            facts.sbp.append(inputs.Point(f.followed_on, float(f.sbp), "followup"))
            facts.dbp.append(inputs.Point(f.followed_on, float(f.dbp), "followup"))
            inputs_keep(facts, "sbp", float(f.sbp), f.followed_on)
            inputs_keep(facts, "dbp", float(f.dbp), f.followed_on)
        if f.glucose is not None:
            facts.glucose.append(inputs.Point(f.followed_on, f.glucose, "followup"))
            inputs_keep(facts, "glucose", f.glucose, f.followed_on)
        for key in ("weight_kg", "height_cm", "waist_cm"):
            value = getattr(f, key)
            if value is not None:
                inputs_keep(facts, key, float(value), f.followed_on)
        if f.smoker is not None and (facts.smoker is None or f.followed_on >= facts.smoker[1]):
            facts.smoker = (f.smoker, f.followed_on)
    for series in (facts.sbp, facts.dbp, facts.glucose):
        series.sort(key=lambda p: p.when)


def inputs_keep(facts: inputs.Facts, key: str, value: float, when: date) -> None:
    old = facts.latest.get(key)
    if old is None or when >= old[1]:
        facts.latest[key] = (round(value, 2), when)


def risk_profile(
    facts: inputs.Facts,
    enrolled: set[str],
    on: date,
    *,
    family_history_diabetes: bool | None = None,
    family_history_ascvd: bool | None = None,
) -> RiskProfile:
    """CDRS and the 10-year ASCVD risk from the record's facts, with the screening they suggest."""
    cfg = get_chronic_settings()
    latest = {k: v[0] for k, v in facts.latest.items()}
    age = rules.age_on(facts.birth_date, on)
    bmi = latest.get("bmi")
    if "weight_kg" in facts.latest and "height_cm" in facts.latest:
        w, h = facts.latest["weight_kg"], facts.latest["height_cm"]
        if "bmi" not in facts.latest or w[1] >= facts.latest["bmi"][1]:
            bmi = rules.bmi(w[0], h[0])
    sbp = int(latest["sbp"]) if "sbp" in latest else None
    dbp = int(latest["dbp"]) if "dbp" in latest else None
    diabetes = "diabetes" in enrolled or inputs.has_code(facts.diagnoses, inputs.DIABETES_ICD)
    hypertension: bool | None = (
        "hypertension" in enrolled
        or inputs.has_code(facts.diagnoses, inputs.HYPERTENSION_ICD)
        or facts.antihypertensive
    )
    if not hypertension:
        hypertension = (
            None
            if sbp is None or dbp is None
            else (sbp >= cfg.bp_target_sbp or dbp >= cfg.bp_target_dbp)
        )
    cdrs = rules.cdrs(
        age=age,
        sex=facts.sex,
        bmi_value=bmi,
        waist_cm=latest.get("waist_cm"),
        sbp=sbp,
        family_history=family_history_diabetes,
        high_at=cfg.cdrs_high,
    )
    if diabetes:
        cdrs = rules.Score("cdrs", False, None, None, {}, cdrs.inputs, (), "diabetes diagnosed")
    ascvd, ascvd_method = _ascvd(
        cfg,
        facts,
        latest,
        age=age,
        sbp=sbp,
        dbp=dbp,
        bmi_value=bmi,
        hypertension=hypertension,
        diabetes=diabetes,
        family_history_ascvd=family_history_ascvd,
    )
    year_ago = on - timedelta(days=365)
    screening = rules.screening_suggestions(
        age=age,
        enrolled=enrolled,
        cdrs_score=cdrs,
        ascvd_score=ascvd,
        sbp=sbp,
        dbp=dbp,
        bmi_value=bmi,
        bp_measured_within_year=any(p.when >= year_ago for p in facts.sbp),
        glucose_measured_within_year=any(p.when >= year_ago for p in facts.glucose),
    )
    return RiskProfile(
        [
            (cdrs, "CDRS (中国2型糖尿病防治指南 2020)"),
            (ascvd, ascvd_method),
        ],
        screening,
    )


CHINA_PAR_METHOD = "China-PAR (Yang et al., Circulation 2016)"
CHART_METHOD = "危险因素计数法 / risk-factor-count chart"


def _ascvd(
    cfg: ChronicSettings,
    facts: inputs.Facts,
    latest: dict[str, float],
    *,
    age: int | None,
    sbp: int | None,
    dbp: int | None,
    bmi_value: float | None,
    hypertension: bool | None,
    diabetes: bool,
    family_history_ascvd: bool | None,
) -> tuple[rules.Score, str]:
    """The configured 10-year ASCVD model; the chart when China-PAR lacks an input it needs."""
    smoker = facts.smoker[0] if facts.smoker else None
    present = inputs.has_code(facts.diagnoses, inputs.ASCVD_ICD)
    ckd = inputs.has_code(facts.diagnoses, inputs.CKD_3_4_ICD)
    chart = rules.ascvd_chart(
        age=age,
        sex=facts.sex,
        smoker=smoker,
        tc=latest.get("tc"),
        ldl=latest.get("ldl"),
        hdl=latest.get("hdl"),
        hypertension=hypertension,
        diabetes=diabetes,
        ascvd=present,
        ckd_3_4=ckd,
        sbp=sbp,
        dbp=dbp,
        bmi_value=bmi_value,
    )
    if cfg.ascvd_model == rules.ASCVD_CHART:
        return chart, CHART_METHOD
    par = rules.ascvd_china_par(
        age=age,
        sex=facts.sex,
        sbp=sbp,
        treated=facts.antihypertensive,
        tc=latest.get("tc"),
        ldl=latest.get("ldl"),
        hdl=latest.get("hdl"),
        waist_cm=latest.get("waist_cm"),
        smoker=smoker,
        diabetes=diabetes,
        north=cfg.china_par_north,
        urban=cfg.china_par_urban,
        family_history=family_history_ascvd,
        ascvd=present,
        ckd_3_4=ckd,
        medium_at=cfg.ascvd_medium_at,
        high_at=cfg.ascvd_high_at,
    )
    lacks_a_measure = set(par.missing) - {"smoker", "family_history_ascvd"}
    if par.tier is None and lacks_a_measure and cfg.ascvd_fallback_to_chart and chart.tier:
        # The chart decides where China-PAR lacks a measurement; what it needs stays listed.
        lacking = "、".join(par.missing)
        return (
            replace(chart, missing=tuple(dict.fromkeys((*chart.missing, *par.missing)))),
            f"{CHART_METHOD} — China-PAR 缺少 / lacks {lacking}",
        )
    return par, CHINA_PAR_METHOD


def annual_assessment(
    enrolments: Iterable[Enrolment], followups: Iterable[Followup], year: int
) -> list[Annual]:
    """年度评估 per programme: face-to-face count against the spec, control, annual check."""
    by_programme: dict[str, list[Followup]] = defaultdict(list)
    for f in followups:
        if f.followed_on.year == year:
            by_programme[f.programme].append(f)
    out = []
    for e in enrolments:
        p = get_chronic_settings().programme(e.programme)
        if p is None:
            continue
        fs = sorted(by_programme.get(e.programme, []), key=lambda f: f.followed_on)
        n = sum(1 for f in fs if f.face_to_face)
        measured = [f.control for f in fs if f.control in (rules.CONTROLLED, rules.UNCONTROLLED)]
        out.append(
            Annual(
                e.programme,
                year,
                n,
                p.min_followups_per_year,
                rules.is_standard_management(n, p),
                measured[-1] if measured else None,
                any(f.annual_check for f in fs),
            )
        )
    return out


def overview(
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    family_history_diabetes: bool | None = None,
    family_history_ascvd: bool | None = None,
) -> Overview:
    """A person's programmes, follow-ups, suggestions, risk scores and annual assessment."""
    record_ids = patients.record_ids_of(session, person_id)
    if not record_ids:
        raise NotFound(f"no person {person_id} with a Patient record")
    resources = records.everything(session, records.ReadContext(principal), record_ids[0])
    enrolments = repository.enrolments_of(session, person_id)
    followups = repository.followups_of(session, person_id)
    facts = inputs.collect(resources)
    _followup_facts(facts, followups)
    on = today()
    risk = risk_profile(
        facts,
        {e.programme for e in enrolments if e.status == "active"},
        on,
        family_history_diabetes=family_history_diabetes,
        family_history_ascvd=family_history_ascvd,
    )
    return Overview(
        person_id,
        enrolments,
        followups,
        repository.suggestions_of(session, person_id),
        risk,
        annual_assessment(enrolments, followups, on.year),
        facts,
    )


# --- indicators --------------------------------------------------------------------------

GROUPS = ("centre", "street", "team")


def indicators(
    session: Session,
    *,
    programme: str,
    year: int,
    group_by: str = "centre",
    organization_ids: Collection[str] | None = None,
) -> tuple[list[IndicatorRow], IndicatorRow]:
    """规范管理率 and 控制率 of a programme in a year, by centre, street or family-doctor team.

    Denominator: persons managed in the year (enrolled by its end, not ended before
    it starts). 规范管理: ≥ the programme's face-to-face follow-ups in the year.
    控制: controlled at the most recent follow-up of the year that measured it.
    """
    p = _programme(programme)
    if group_by not in GROUPS:
        raise Unprocessable(f"group_by must be one of {', '.join(GROUPS)}", field="group_by")
    rows = repository.indicator_rows(
        session,
        programme=p.key,
        start=date(year, 1, 1),
        end=date(year, 12, 31),
        min_followups=p.min_followups_per_year,
    )
    if organization_ids is not None:
        allowed = set(organization_ids)
        rows = [r for r in rows if r[1] in allowed]
    keys = _group_keys(session, rows, group_by)
    acc: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_person, _org, standard, controlled), key in zip(rows, keys, strict=True):
        a = acc[key[0]]
        a[0] += 1
        a[1] += int(standard)
        a[2] += int(controlled)
    names = {k[0]: k[1] for k in keys}
    out = [
        IndicatorRow(k, names.get(k) or "—", *v)
        for k, v in sorted(acc.items(), key=lambda kv: names.get(kv[0]) or "")
    ]
    total = IndicatorRow(
        None,
        "total",
        sum(r.managed for r in out),
        sum(r.standard for r in out),
        sum(r.controlled for r in out),
    )
    return out, total


def _group_keys(
    session: Session, rows: list[repository.IndicatorRow], group_by: str
) -> list[tuple[str | None, str]]:
    org_ids = {r[1] for r in rows if r[1]}
    orgs = registry.organizations_by_ids(session, org_ids)
    if group_by == "centre":
        return [(r[1], orgs[r[1]].name if r[1] and r[1] in orgs else "") for r in rows]
    if group_by == "street":
        regions = registry.regions_with_ancestors(session, {o.region_id for o in orgs.values()})
        out: list[tuple[str | None, str]] = []
        for r in rows:
            org = orgs.get(r[1]) if r[1] else None
            region = regions.get(org.region_id) if org else None
            out.append((region.id, region.name) if region else (None, ""))
        return out
    try:
        teams_of_persons = importlib.import_module("yilian.familydoctor.service").teams_of_persons
    except (ImportError, AttributeError):
        raise Unprocessable(
            "grouping by team needs the family-doctor domain, which is not installed",
            field="group_by",
        ) from None
    # One set-based query for every person's covering contract and its team (the contract
    # that covers today, as familydoctor.service.active_contract would choose it).
    teams: dict[str, tuple[str, str]] = teams_of_persons(session, {r[0] for r in rows})
    out_teams: list[tuple[str | None, str]] = []
    for r in rows:
        team = teams.get(r[0])
        out_teams.append((team[0], team[1]) if team else (None, ""))
    return out_teams


def backfill_enrolments(session: Session) -> int:
    """Enrol from already-stored Conditions (a no-op when the projector ran at ingestion)."""
    added = 0
    prefixes = sorted({c for p in get_chronic_settings().programmes for c in p.icd10})
    known = repository.enrolled_pairs(session)
    stream = records.iter_stored(session, "Condition", code_prefixes=prefixes)
    while page := list(islice(stream, BACKFILL_PAGE)):
        added += enrol_from_conditions(session, page, known)
    return added


def to_local(value: datetime) -> date:
    return value.astimezone(LOCAL_TZ).date()
