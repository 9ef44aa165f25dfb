"""The access decision against the database: each basis, denials, break-glass, and their audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.fixtures.auth import insert_organization, insert_row
from yilian.audit.models import AuditEntry
from yilian.db import make_sessionmaker, utcnow
from yilian.kit.errors import Forbidden, Unprocessable
from yilian.security import rules, service
from yilian.security.access import decide, require_person_access
from yilian.security.principal import Principal, Role

PERSON = "p" * 32


@pytest.fixture
def orgs(session: Session) -> tuple[str, str, str]:
    """Three organisations: ours, a consortium partner of ours, and an outsider."""
    ours, partner, outsider = (insert_organization(session) for _ in range(3))
    consortium = insert_row(session, "consortia", lead_organization_id=partner)
    for org in (ours, partner):
        insert_row(session, "consortium_members", consortium_id=consortium, organization_id=org)
    session.commit()
    return ours, partner, outsider


def doctor(org: str | None, role: Role = Role.doctor) -> Principal:
    return Principal(subject="u-doc", name="doc", role=role, organization_id=org)


def entries(session: Session) -> list[AuditEntry]:
    session.commit()  # entries join the chain at the commit
    return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def check(session: Session, who: Principal, **kw: str) -> rules.AccessDecision:
    return decide(session, who, person_id=PERSON, action="read", purpose="treatment", **kw)


@pytest.mark.parametrize("kind", rules.CARE_KINDS)
def test_care_relationship_allows_and_is_audited(
    session: Session, orgs: tuple[str, str, str], kind: str
) -> None:
    ours = orgs[0]
    service.grant_relationship(
        session, person_id=PERSON, organization_id=ours, kind=kind, source="encounter:1"
    )
    decision = check(session, doctor(ours))
    assert decision == rules.AccessDecision(True, f"care relationship: {kind}")
    last = entries(session)[-1]
    assert (last.action, last.outcome, last.person_id, last.actor_id) == (
        "read",
        "allowed",
        PERSON,
        "u-doc",
    )
    assert last.organization_id == ours and last.purpose == "treatment"
    assert json.loads(last.detail or "{}")["basis"] == f"care relationship: {kind}"


def test_no_basis_is_denied_and_the_denial_is_audited(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    service.grant_relationship(
        session, person_id=PERSON, organization_id=orgs[2], kind=rules.TREATING
    )
    decision = check(session, doctor(orgs[0]))
    assert not decision.allowed
    last = entries(session)[-1]
    assert (last.action, last.outcome) == ("access_denied", "denied")
    assert json.loads(last.detail or "{}") == {
        "basis": rules.BASIS_DENIED,
        "requested_action": "read",
    }


def test_ended_or_future_relationship_gives_nothing(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    ours = orgs[0]
    service.grant_relationship(
        session,
        person_id=PERSON,
        organization_id=ours,
        kind=rules.REFERRAL,
        source="referral:9",
        valid_from=utcnow() + timedelta(days=1),
    )
    assert not check(session, doctor(ours)).allowed
    service.grant_relationship(
        session, person_id=PERSON, organization_id=ours, kind=rules.TREATING, source="enc:1"
    )
    assert check(session, doctor(ours)).allowed
    assert (
        service.end_relationship(
            session, person_id=PERSON, organization_id=ours, kind=rules.TREATING
        )
        == 1
    )
    assert not check(session, doctor(ours)).allowed


def test_grant_relationship_is_idempotent_and_validated(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    args = {"person_id": PERSON, "organization_id": orgs[0], "kind": rules.CONTRACT}
    first = service.grant_relationship(session, source="contract:1", **args)
    again = service.grant_relationship(session, source="contract:1", **args)
    other = service.grant_relationship(session, source="contract:2", **args)
    assert first.id == again.id != other.id
    with pytest.raises(Unprocessable):
        service.grant_relationship(session, person_id=PERSON, organization_id=orgs[0], kind="x")
    # ending by kind ends both sources
    assert service.end_relationship(session, person_id=PERSON, organization_id=orgs[0]) == 2


def test_organisation_consent(session: Session, orgs: tuple[str, str, str]) -> None:
    ours, _, outsider = orgs
    service.record_consent(
        session, None, person_id=PERSON, scope=rules.SCOPE_ORGANIZATION, organization_id=ours
    )
    assert check(session, doctor(ours)).basis == "consent: organization"
    assert not check(session, doctor(outsider)).allowed


def test_consortium_consent_reaches_partners_of_the_treating_org(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    ours, partner, outsider = orgs
    service.record_consent(session, None, person_id=PERSON, scope=rules.SCOPE_CONSORTIUM)
    # consent alone, no treating organisation in our consortium yet
    assert not check(session, doctor(ours)).allowed
    service.grant_relationship(
        session, person_id=PERSON, organization_id=partner, kind=rules.TREATING
    )
    assert check(session, doctor(ours)).basis == "consent: consortium"
    assert not check(session, doctor(outsider)).allowed


def test_consortium_consent_is_not_anchored_by_a_referral(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    ours, partner, _ = orgs
    service.record_consent(session, None, person_id=PERSON, scope=rules.SCOPE_CONSORTIUM)
    service.grant_relationship(
        session, person_id=PERSON, organization_id=partner, kind=rules.REFERRAL
    )
    assert not check(session, doctor(ours)).allowed


def test_region_consent_and_its_withdrawal(session: Session, orgs: tuple[str, str, str]) -> None:
    ours, _, outsider = orgs
    service.grant_relationship(session, person_id=PERSON, organization_id=ours, kind=rules.CONTRACT)
    service.record_consent(session, None, person_id=PERSON, scope=rules.SCOPE_REGION)
    again = service.record_consent(session, None, person_id=PERSON, scope=rules.SCOPE_REGION)
    assert check(session, doctor(outsider)).basis == "consent: region"
    assert service.withdraw_consent(session, None, person_id=PERSON, scope=rules.SCOPE_REGION) == 1
    assert again.status == rules.CONSENT_WITHDRAWN and again.withdrawn_at is not None
    assert not check(session, doctor(outsider)).allowed
    # withdrawal cancels consent-based access, not the direct care relationship
    assert check(session, doctor(ours)).basis == "care relationship: contract"


def test_consent_scope_is_validated(session: Session) -> None:
    with pytest.raises(Unprocessable):
        service.record_consent(session, None, person_id=PERSON, scope="world")
    with pytest.raises(Unprocessable):
        service.record_consent(session, None, person_id=PERSON, scope=rules.SCOPE_ORGANIZATION)


def test_cdc_public_health(session: Session, orgs: tuple[str, str, str]) -> None:
    cdc = doctor(orgs[2], role=Role.cdc)
    decision = decide(session, cdc, person_id=PERSON, action="read", purpose="public_health")
    assert decision.allowed and "传染病防治法" in decision.basis
    assert entries(session)[-1].purpose == "public_health"
    assert not check(session, cdc).allowed


def test_break_glass_is_allowed_and_flagged(session: Session, orgs: tuple[str, str, str]) -> None:
    reason = "unconscious patient in ED, need allergy history"
    decision = check(session, doctor(orgs[2]), break_glass_reason=reason)
    assert decision.allowed and decision.basis == "break-glass"
    last = entries(session)[-1]
    assert (last.action, last.outcome) == ("break_glass", "allowed")
    detail = json.loads(last.detail or "{}")
    assert detail["break_glass"] is True
    assert detail["break_glass_reason"] == reason
    assert detail["requested_action"] == "read"


def test_break_glass_refused_for_short_reason_or_non_clinical_role(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    short = check(session, doctor(orgs[2]), break_glass_reason="urgent")
    insurer = check(
        session, doctor(orgs[2], Role.insurer), break_glass_reason="need this for a claim now"
    )
    assert not short.allowed and not insurer.allowed
    assert [e.action for e in entries(session)] == ["access_denied", "access_denied"]


def test_require_person_access_raises_and_the_denial_outlives_the_rollback(
    session: Session, engine: Engine, orgs: tuple[str, str, str]
) -> None:
    with pytest.raises(Forbidden):
        require_person_access(
            session, doctor(orgs[0]), person_id=PERSON, action="update", purpose="treatment"
        )
    session.rollback()
    with make_sessionmaker(engine)() as fresh:
        kept = entries(fresh)
    assert [(e.action, e.outcome, e.person_id) for e in kept] == [
        ("access_denied", "denied", PERSON)
    ]


def test_break_glass_entry_outlives_a_rollback(
    session: Session, engine: Engine, orgs: tuple[str, str, str]
) -> None:
    check(session, doctor(orgs[0]), break_glass_reason="cardiac arrest, no records on site")
    session.rollback()
    with make_sessionmaker(engine)() as fresh:
        assert [e.action for e in entries(fresh)] == ["break_glass"]


def test_allowed_read_rolls_back_with_the_request(
    session: Session, orgs: tuple[str, str, str]
) -> None:
    service.grant_relationship(
        session, person_id=PERSON, organization_id=orgs[0], kind=rules.TREATING
    )
    session.commit()
    before = len(entries(session))
    require_person_access(
        session, doctor(orgs[0]), person_id=PERSON, action="read", purpose="treatment"
    )
    session.rollback()
    assert len(entries(session)) == before


def test_empty_purpose_is_refused(session: Session) -> None:
    with pytest.raises(Unprocessable):
        decide(session, doctor("x"), person_id=PERSON, action="read", purpose="  ")
