"""The access and sign-in rules as pure functions: every branch, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from yilian.security import rules
from yilian.security.principal import Role
from yilian.security.rules import (
    AccessRequest,
    ConsentGrant,
    PersonFacts,
    Relationship,
)

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ORG, OTHER, PARTNER = "org-a", "org-b", "org-c"


def ask(
    role: Role = Role.doctor,
    org: str | None = ORG,
    purpose: str = "treatment",
    reason: str | None = None,
) -> AccessRequest:
    return AccessRequest(role=role, organization_id=org, purpose=purpose, break_glass_reason=reason)


def rel(org: str = ORG, kind: str = rules.TREATING, start: int = -10, end: int | None = None):  # type: ignore[no-untyped-def]
    return Relationship(org, kind, NOW + start * DAY, None if end is None else NOW + end * DAY)


@pytest.mark.parametrize("kind", rules.CARE_KINDS)
def test_each_care_relationship_kind_allows_its_organisation(kind: str) -> None:
    decision = rules.decide(ask(), PersonFacts(relationships=(rel(kind=kind),)), NOW)
    assert decision.allowed
    assert decision.basis == f"care relationship: {kind}"


def test_care_relationship_of_another_organisation_does_not_count() -> None:
    decision = rules.decide(ask(), PersonFacts(relationships=(rel(org=OTHER),)), NOW)
    assert not decision.allowed
    assert decision.basis == rules.BASIS_DENIED


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [(-10, None, True), (-10, 1, True), (-10, 0, False), (-10, -1, False), (1, None, False)],
)
def test_relationship_counts_only_while_valid(start: int, end: int | None, allowed: bool) -> None:
    facts = PersonFacts(relationships=(rel(start=start, end=end),))
    assert rules.decide(ask(), facts, NOW).allowed is allowed


def test_organisation_consent_allows_that_organisation_only() -> None:
    facts = PersonFacts(consents=(ConsentGrant(rules.SCOPE_ORGANIZATION, ORG),))
    assert rules.decide(ask(), facts, NOW).basis == "consent: organization"
    assert not rules.decide(ask(org=OTHER), facts, NOW).allowed


def test_withdrawn_consent_gives_nothing() -> None:
    for scope in rules.CONSENT_SCOPES:
        grant = ConsentGrant(scope, ORG, status=rules.CONSENT_WITHDRAWN)
        facts = PersonFacts(
            relationships=(rel(org=PARTNER),),
            consents=(grant,),
            consortium_partners=frozenset({PARTNER}),
        )
        assert not rules.decide(ask(), facts, NOW).allowed, scope


def test_withdrawn_consent_leaves_the_care_relationship() -> None:
    facts = PersonFacts(
        relationships=(rel(),),
        consents=(ConsentGrant(rules.SCOPE_REGION, status=rules.CONSENT_WITHDRAWN),),
    )
    assert rules.decide(ask(), facts, NOW).basis == "care relationship: treating"


@pytest.mark.parametrize("anchor_kind", sorted(rules.CONSORTIUM_ANCHOR_KINDS))
def test_consortium_consent_reaches_partners_of_treating_or_contract_org(anchor_kind: str) -> None:
    facts = PersonFacts(
        relationships=(rel(org=PARTNER, kind=anchor_kind),),
        consents=(ConsentGrant(rules.SCOPE_CONSORTIUM),),
        consortium_partners=frozenset({PARTNER}),
    )
    decision = rules.decide(ask(), facts, NOW)
    assert decision.allowed and decision.basis == "consent: consortium"


def test_consortium_consent_needs_a_shared_consortium() -> None:
    facts = PersonFacts(
        relationships=(rel(org=PARTNER),),
        consents=(ConsentGrant(rules.SCOPE_CONSORTIUM),),
        consortium_partners=frozenset(),
    )
    assert not rules.decide(ask(), facts, NOW).allowed


@pytest.mark.parametrize("kind", [rules.REFERRAL, rules.CONSULTATION])
def test_consortium_consent_is_not_anchored_by_referral_or_consultation(kind: str) -> None:
    facts = PersonFacts(
        relationships=(rel(org=PARTNER, kind=kind),),
        consents=(ConsentGrant(rules.SCOPE_CONSORTIUM),),
        consortium_partners=frozenset({PARTNER}),
    )
    assert not rules.decide(ask(), facts, NOW).allowed


def test_consortium_consent_is_not_anchored_by_an_ended_relationship() -> None:
    facts = PersonFacts(
        relationships=(rel(org=PARTNER, end=-1),),
        consents=(ConsentGrant(rules.SCOPE_CONSORTIUM),),
        consortium_partners=frozenset({PARTNER}),
    )
    assert not rules.decide(ask(), facts, NOW).allowed


def test_needs_consortium_lookup_only_when_it_can_matter() -> None:
    consortium = ConsentGrant(rules.SCOPE_CONSORTIUM)
    with_anchor = PersonFacts(relationships=(rel(org=PARTNER),), consents=(consortium,))
    assert rules.needs_consortium_lookup(ask(), with_anchor, NOW)
    assert not rules.needs_consortium_lookup(ask(org=None), with_anchor, NOW)
    assert not rules.needs_consortium_lookup(
        ask(), PersonFacts(relationships=(rel(org=PARTNER),)), NOW
    )
    assert not rules.needs_consortium_lookup(ask(), PersonFacts(consents=(consortium,)), NOW)


def test_region_consent_allows_any_organisation_but_not_an_unaffiliated_caller() -> None:
    facts = PersonFacts(consents=(ConsentGrant(rules.SCOPE_REGION),))
    assert rules.decide(ask(org=OTHER), facts, NOW).basis == "consent: region"
    assert not rules.decide(ask(role=Role.commission, org=None), facts, NOW).allowed


def test_cdc_has_statutory_access_for_public_health_only() -> None:
    decision = rules.decide(ask(role=Role.cdc, purpose="public_health"), PersonFacts(), NOW)
    assert decision.allowed
    assert "传染病防治法" in decision.basis
    assert not rules.decide(ask(role=Role.cdc, purpose="treatment"), PersonFacts(), NOW).allowed


@pytest.mark.parametrize("role", [Role.doctor, Role.insurer, Role.commission, Role.admin])
def test_public_health_purpose_gives_other_roles_nothing(role: Role) -> None:
    assert not rules.decide(ask(role=role, purpose="public_health"), PersonFacts(), NOW).allowed


@pytest.mark.parametrize("role", sorted(rules.BREAK_GLASS_ROLES))
def test_break_glass_by_clinician_with_a_reason(role: Role) -> None:
    decision = rules.decide(
        ask(role=role, reason="unconscious in ED, allergy?"), PersonFacts(), NOW
    )
    assert decision.allowed and decision.basis == "break-glass" and decision.break_glass


@pytest.mark.parametrize("reason", ["too short", "   short    ", "123456789"])
def test_break_glass_needs_ten_characters(reason: str) -> None:
    decision = rules.decide(ask(reason=reason), PersonFacts(), NOW)
    assert not decision.allowed
    assert decision.basis == rules.BASIS_BREAK_GLASS_SHORT


def test_break_glass_reason_of_exactly_ten_characters_is_enough() -> None:
    assert rules.decide(ask(reason="0123456789"), PersonFacts(), NOW).break_glass


@pytest.mark.parametrize("role", [Role.insurer, Role.cdc, Role.commission, Role.admin, Role.system])
def test_break_glass_is_for_clinical_roles_only(role: Role) -> None:
    decision = rules.decide(
        ask(role=role, reason="emergency, patient unconscious"), PersonFacts(), NOW
    )
    assert not decision.allowed
    assert decision.basis == rules.BASIS_BREAK_GLASS_ROLE


def test_empty_break_glass_reason_is_an_ordinary_denial() -> None:
    assert rules.decide(ask(reason="   "), PersonFacts(), NOW).basis == rules.BASIS_DENIED


def test_break_glass_not_used_when_another_basis_applies() -> None:
    facts = PersonFacts(relationships=(rel(),))
    decision = rules.decide(ask(reason="emergency, patient unconscious"), facts, NOW)
    assert decision.basis == "care relationship: treating"
    assert not decision.break_glass


def test_nothing_means_denied() -> None:
    decision = rules.decide(ask(), PersonFacts(), NOW)
    assert decision == rules.AccessDecision(False, rules.BASIS_DENIED)


# Sign-in rules.


def test_register_failure_locks_at_the_limit_and_restarts_the_count() -> None:
    lockout = timedelta(minutes=15)
    count, until = 0, None
    for _ in range(4):
        count, until = rules.register_failure(count, now=NOW, max_failures=5, lockout=lockout)
        assert until is None
    count, until = rules.register_failure(count, now=NOW, max_failures=5, lockout=lockout)
    assert (count, until) == (0, NOW + lockout)


def test_is_locked() -> None:
    assert not rules.is_locked(None, NOW)
    assert rules.is_locked(NOW + DAY, NOW)
    assert not rules.is_locked(NOW, NOW)


def test_retry_after_counts_only_the_last_minute() -> None:
    s = timedelta(seconds=1)
    assert rules.retry_after([], now=NOW, limit=3) is None
    assert rules.retry_after([NOW - 50 * s, NOW - 10 * s], now=NOW, limit=3) is None
    full = [NOW - 50 * s, NOW - 20 * s, NOW - 10 * s]
    assert rules.retry_after(full, now=NOW, limit=3) == 10
    assert rules.retry_after([NOW - 70 * s, *full[1:]], now=NOW, limit=3) is None
    assert rules.retry_after([*full, NOW - 5 * s], now=NOW, limit=3) == 40
    assert rules.retry_after([NOW, NOW], now=NOW, limit=1) == 60


def test_password_policy() -> None:
    assert rules.password_problem("short") is not None
    assert rules.password_problem(" leading space ok?") is not None
    assert rules.password_problem("x" * 257) is not None
    assert rules.password_problem("long enough password") is None


def test_organisation_roles() -> None:
    assert rules.organization_problem(Role.doctor, None)
    assert rules.organization_problem(Role.system, "org")
    assert rules.organization_problem(Role.doctor, "org") is None
    assert rules.organization_problem(Role.admin, None) is None
    assert rules.organization_problem(Role.commission, None) is None


def test_default_sharing_policy_applies_only_to_a_person_without_a_choice() -> None:
    """Settings.sharing_default stands in for consent until the person records a choice."""
    facts = PersonFacts(relationships=(rel(org=PARTNER),), consortium_partners=frozenset({PARTNER}))
    assert not rules.decide(ask(), facts, NOW).allowed  # "none": care relationships only
    by_default = replace(ask(), default_scope=rules.SCOPE_CONSORTIUM)
    decision = rules.decide(by_default, facts, NOW)
    assert decision.allowed and decision.basis == "default sharing policy: consortium"
    assert rules.needs_consortium_lookup(by_default, facts, NOW)
    region = replace(ask(org=OTHER), default_scope=rules.SCOPE_REGION)
    assert rules.decide(region, PersonFacts(), NOW).basis == "default sharing policy: region"
    # A withdrawal is a choice: the default no longer speaks for this person.
    withdrawn = replace(
        facts, consents=(ConsentGrant(rules.SCOPE_CONSORTIUM, status=rules.CONSENT_WITHDRAWN),)
    )
    assert not rules.decide(by_default, withdrawn, NOW).allowed
    assert not rules.decide(region, replace(withdrawn, relationships=()), NOW).allowed


# Province tenants (省级租户): a record a province owns is decided on its tenant first.

AH, SH = rules.Tenant("p-ah", "安徽省"), rules.Tenant("p-sh", "上海市")
CARED = PersonFacts(relationships=(rel(),))


def owned(
    caller: rules.Tenant | None,
    owner: rules.Tenant = SH,
    *,
    action: str = "read",
    pending: rules.Tenant | None = None,
    role: Role = Role.doctor,
) -> AccessRequest:
    return replace(
        ask(role=role, purpose="public_health" if role is Role.cdc else "treatment"),
        action=action,
        resource_tenant=owner,
        caller_tenant=caller,
        pending_tenant=pending,
    )


def test_a_tenant_covers_its_own_province_and_the_person_rules_then_decide() -> None:
    decision = rules.decide(owned(SH, action="write"), CARED, NOW)
    assert decision == rules.AccessDecision(True, "care relationship: treating")
    # Covered by the tenant, refused by the person-level rules.
    assert rules.decide(owned(SH), PersonFacts(), NOW).basis == rules.BASIS_DENIED


def test_another_provinces_tenant_is_refused_before_the_person_rules() -> None:
    # The 安徽 CDC has a statutory public-health basis for anyone; the tenant keeps it out.
    request = owned(AH, role=Role.cdc)
    assert rules.decide(replace(request, resource_tenant=None), CARED, NOW).allowed
    decision = rules.decide(request, CARED, NOW)
    assert not decision.allowed
    assert decision.basis.startswith("tenant: 安徽省 does not cover 上海市")
    assert "transfer" in decision.basis
    # A record whose owner has no province is covered by the region only.
    nowhere = rules.Tenant(None, "")
    assert not rules.decide(owned(AH, nowhere), CARED, NOW).allowed
    assert rules.decide(owned(rules.REGION, nowhere), CARED, NOW).allowed


def test_a_caller_without_a_province_is_refused() -> None:
    decision = rules.decide(owned(None), CARED, NOW)
    assert decision == rules.AccessDecision(False, rules.BASIS_TENANT_NO_PROVINCE)


def test_the_region_covers_every_province() -> None:
    for owner in (AH, SH):
        assert rules.decide(owned(rules.REGION, owner, action="write"), CARED, NOW).allowed


def test_a_pending_transfer_lets_the_receiving_province_read_not_write() -> None:
    assert rules.decide(owned(AH, pending=AH), CARED, NOW).allowed
    assert not rules.decide(owned(AH, pending=AH, action="write"), CARED, NOW).allowed
    assert not rules.decide(owned(AH, pending=rules.Tenant("p-js", "江苏省")), CARED, NOW).allowed
    # Without an action the pending transfer gives nothing.
    assert not rules.decide(replace(owned(AH, pending=AH), action=None), CARED, NOW).allowed


def test_the_domains_refusal_comes_after_the_tenant_and_before_the_person() -> None:
    refusal = "only the managing organisation records for this case"
    request = replace(owned(SH, action="write"), domain_refusal=refusal)
    assert rules.decide(request, CARED, NOW) == rules.AccessDecision(False, refusal)
    other = replace(request, caller_tenant=AH)
    assert rules.decide(other, CARED, NOW).basis.startswith("tenant:")


def test_a_record_about_no_person_is_decided_on_its_tenant() -> None:
    assert rules.decide(owned(SH), None, NOW) == rules.AccessDecision(True, "tenant: 上海市")
    assert not rules.decide(owned(AH), None, NOW).allowed
    assert rules.decide(ask(), None, NOW) == rules.AccessDecision(True, rules.BASIS_NO_PERSON)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("reason", [None, "cardiac arrest, no records on site"])
def test_without_tenant_facts_the_decision_is_unchanged(role: Role, reason: str | None) -> None:
    """No resource tenant: the caller's or a pending tenant changes nothing."""
    for facts in (PersonFacts(), CARED):
        plain = ask(role=role, reason=reason)
        stray = replace(plain, action="write", caller_tenant=AH, pending_tenant=SH)
        assert rules.decide(stray, facts, NOW) == rules.decide(plain, facts, NOW)


def test_tenant_rule() -> None:
    sh = rules.Place("p-sh", "上海市", "上海市辖区")
    rule = rules.tenant_rule
    assert rule(Role.cdc, "o1", "X", sh, []) == SH
    assert rule(Role.cdc, "o1", "X", sh, ["X"]) == rules.REGION
    assert rule(Role.doctor, "o1", "X", sh, ["Y"]) == SH
    assert rule(Role.admin, "o1", "X", sh, []) == rules.REGION
    for platform in (Role.admin, Role.system, Role.commission):
        assert rule(platform, None, None, None, []) == rules.REGION
    assert rule(Role.doctor, None, None, None, []) is None
    assert rule(Role.cdc, "o1", "X", None, []) is None
    assert rule(Role.doctor, "o1", "X", rules.Place(None, "", ""), []) is None
