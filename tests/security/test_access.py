"""The access decision against the database: each basis, denials, break-glass, and their audit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.fixtures.auth import insert_organization, insert_row
from yilian.audit.models import AuditEntry
from yilian.config import get_settings
from yilian.db import make_sessionmaker, utcnow
from yilian.kit.errors import Forbidden, Unprocessable
from yilian.registry.models import Organization, Region
from yilian.security import access, rules, service
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


# Province tenants (省级租户): the caller's is looked up from the registry, the refusal audited.


@pytest.fixture
def provinces(
    make_region: Callable[..., Region], make_org: Callable[..., Organization]
) -> dict[str, Organization]:
    sh = make_region(name="上海市", level="province")
    changning = make_region(
        name="长宁区", level="district", parent=make_region(name="上海市辖区", parent=sh)
    )
    ah = make_region(name="安徽省", level="province")
    return {
        "sh": make_org(name="新华街道社区卫生服务中心", region=changning),
        "ah_cdc": make_org(name="安徽省疾控中心", type="cdc", region=ah),
        "centre": make_org(name="区域协同防控中心", type="cdc", region=sh, code="T-CENTRE"),
        # A region above any province (a cross-province zone): no province of its own.
        "zone": make_org(region=make_region(name="示范区", level="city")),
    }


@pytest.fixture
def no_region_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("YILIAN_REGION_ORGANIZATIONS", raising=False)
    monkeypatch.delenv("YILIAN_TB_REGION_ORGANIZATIONS", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def cdc_of(org: Organization) -> Principal:
    return Principal(subject=f"u-{org.code}", name="cdc", role=Role.cdc, organization_id=org.id)


def test_the_callers_tenant_is_their_organisations_province(
    session: Session, provinces: dict[str, Organization], no_region_settings: pytest.MonkeyPatch
) -> None:
    sh = provinces["sh"]
    tenant = access.tenant_of(session, doctor(sh.id))
    assert tenant is not None and (tenant.province, tenant.region_wide) == ("上海市", False)
    assert service.places_by_ids(session, [sh.id, "missing"]) == {
        sh.id: rules.Place(tenant.province_region_id, "上海市", "上海市辖区")
    }
    assert access.tenant_of(session, cdc_of(provinces["centre"])) == tenant
    assert access.tenant_of(session, doctor(provinces["zone"].id)) is None
    with pytest.raises(Forbidden, match="no province"):
        access.require_tenant(session, doctor(provinces["zone"].id))
    assert access.tenant_of(session, doctor(None, Role.admin)) == rules.REGION


@pytest.mark.parametrize("name", ["YILIAN_REGION_ORGANIZATIONS", "YILIAN_TB_REGION_ORGANIZATIONS"])
def test_the_regions_coordination_centres_act_for_the_region(
    session: Session,
    provinces: dict[str, Organization],
    no_region_settings: pytest.MonkeyPatch,
    name: str,
) -> None:
    """The core setting, and its deprecated TB name while the core one is unset."""
    no_region_settings.setenv(name, '["T-CENTRE"]')
    get_settings.cache_clear()
    assert access.region_organizations() == {"T-CENTRE"}
    assert access.tenant_of(session, cdc_of(provinces["centre"])) == rules.REGION


def test_the_core_setting_wins_over_the_deprecated_name(
    no_region_settings: pytest.MonkeyPatch,
) -> None:
    no_region_settings.setenv("YILIAN_TB_REGION_ORGANIZATIONS", '["OLD"]')
    no_region_settings.setenv("YILIAN_REGION_ORGANIZATIONS", '["NEW"]')
    get_settings.cache_clear()
    assert access.region_organizations() == {"NEW"}


def test_a_tenant_refusal_is_audited_by_the_access_decision_and_outlives_the_rollback(
    session: Session,
    engine: Engine,
    provinces: dict[str, Organization],
    no_region_settings: pytest.MonkeyPatch,
) -> None:
    sh = service.place_of(session, provinces["sh"])
    owner = rules.Tenant(sh.province_region_id, sh.province)
    before = len(entries(session))
    # The 安徽 CDC has a public-health basis for anyone: only the tenant keeps it out.
    with pytest.raises(Forbidden, match="tenant: 安徽省 does not cover 上海市"):
        require_person_access(
            session,
            cdc_of(provinces["ah_cdc"]),
            person_id=PERSON,
            action="read",
            purpose="public_health",
            resource_type="TbCase",
            resource_id="case-1",
            resource_tenant=owner,
        )
    session.rollback()
    with make_sessionmaker(engine)() as fresh:
        kept = entries(fresh)[before:]
    assert [(e.action, e.outcome, e.person_id, e.resource_type) for e in kept] == [
        ("access_denied", "denied", PERSON, "TbCase")
    ]
    assert json.loads(kept[0].detail or "{}") == {
        "basis": "tenant: 安徽省 does not cover 上海市; a record moves to another province's "
        "tenant only by an acknowledged transfer",
        "tenant": "安徽省",
        "requested_action": "read",
    }
    # A 上海 CDC (the centre, with no region setting) passes the tenant, then the person rules.
    decision = decide(
        session,
        cdc_of(provinces["centre"]),
        person_id=PERSON,
        action="read",
        purpose="public_health",
        resource_tenant=owner,
    )
    assert decision == rules.AccessDecision(True, rules.BASIS_PUBLIC_HEALTH)
    last = entries(session)[-1]
    assert (last.action, json.loads(last.detail or "{}")["tenant"]) == ("read", "上海市")
