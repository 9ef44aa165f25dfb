"""Access and sign-in policy as pure functions over plain data.

Everything here is testable without a database; ``access.py`` gathers the facts
and ``service.py`` applies the sign-in rules.

Province tenants (省级租户), seed 000 (长三角区域结核病协同防控): a platform deployed per
province and interconnected. A record a province's tenant owns (a TB case, a sequenced
strain) carries its owner's tenant; a caller acts in the tenant of their organisation's
province, or for the whole region. The tenant rule is weighed before the person-level
rules; a record that carries no tenant is decided exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from yilian.security.principal import Role

# Care relationships (诊疗关系): each one gives the organisation direct access.
TREATING = "treating"  # 诊疗: an encounter or admission
CONTRACT = "contract"  # 家庭医生签约
REFERRAL = "referral"  # 双向转诊: the receiving organisation, while the referral is open
CONSULTATION = "consultation"  # 远程/联合会诊
CARE_KINDS = (TREATING, CONTRACT, REFERRAL, CONSULTATION)
# Consortium consent reaches partners of the organisations that carry the person's care.
CONSORTIUM_ANCHOR_KINDS = frozenset({TREATING, CONTRACT})

# Consent scopes (知情同意): one organisation, the 医联体 it belongs to, or the whole region.
SCOPE_ORGANIZATION = "organization"
SCOPE_CONSORTIUM = "consortium"
SCOPE_REGION = "region"
CONSENT_SCOPES = (SCOPE_ORGANIZATION, SCOPE_CONSORTIUM, SCOPE_REGION)
CONSENT_ACTIVE = "active"
CONSENT_WITHDRAWN = "withdrawn"
# Not a record: the region's default sharing policy standing in for a person's choice.
CONSENT_DEFAULT = "default"
SHARING_DEFAULTS = ("none", SCOPE_CONSORTIUM, SCOPE_REGION)

PURPOSE_TREATMENT = "treatment"
PURPOSE_PUBLIC_HEALTH = "public_health"
# 传染病防治法: disease-control bodies have a statutory duty to collect case data.
PUBLIC_HEALTH_ROLES = frozenset({Role.cdc})

# Break-glass (紧急访问): clinicians only, with a reason worth reviewing afterwards.
BREAK_GLASS_ROLES = frozenset({Role.doctor, Role.specialist})
BREAK_GLASS_MIN_REASON = 10

BASIS_BREAK_GLASS = "break-glass"
BASIS_PUBLIC_HEALTH = "statutory public-health duty (传染病防治法)"
BASIS_DENIED = "no care relationship or consent"
BASIS_NO_PERSON = "the record is about no person"
BASIS_BREAK_GLASS_SHORT = (
    f"break-glass refused: the reason must be at least {BREAK_GLASS_MIN_REASON} characters"
)
BASIS_BREAK_GLASS_ROLE = "break-glass refused: only doctors and specialists may break the glass"

# Province tenants. Without an organisation these roles act for the platform, so for the
# whole region; so do the region's coordination centres (Settings.region_organizations).
TENANT_PLATFORM_ROLES = frozenset({Role.admin, Role.system, Role.commission})
# The label of a region-wide tenant: the region this platform serves (seed 000).
REGION_NAME = "长三角区域"
BASIS_TENANT_NO_PROVINCE = "tenant: the caller's organisation has no province in the registry"

# Accounts.
USER_ROLES = tuple(r for r in Role if r is not Role.system)
# Roles that act for an institution and so must belong to one.
ORGANIZATION_ROLES = frozenset({Role.doctor, Role.specialist, Role.cdc, Role.insurer})
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256
RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Relationship:
    organization_id: str
    kind: str
    valid_from: datetime
    valid_to: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)


@dataclass(frozen=True)
class ConsentGrant:
    scope: str
    organization_id: str | None = None
    status: str = CONSENT_ACTIVE


@dataclass(frozen=True)
class Place:
    """Where an organisation sits: its province (the tenant) and city, from the registry."""

    province_region_id: str | None
    province: str
    city: str


@dataclass(frozen=True)
class Tenant:
    """A province's tenant (省级租户), or the whole region."""

    province_region_id: str | None
    province: str
    region_wide: bool = False

    def covers(self, province_region_id: str | None) -> bool:
        return self.region_wide or (
            province_region_id is not None and province_region_id == self.province_region_id
        )


REGION = Tenant(None, REGION_NAME, region_wide=True)


@dataclass(frozen=True)
class AccessRequest:
    role: Role
    organization_id: str | None
    purpose: str
    break_glass_reason: str | None = None
    # The sharing policy for a person who has recorded no choice (Settings.sharing_default).
    default_scope: str = "none"
    # What the caller does ("read", "write", ...); only the tenant rule weighs it.
    action: str | None = None
    # Tenant facts, given only for a record a province's tenant owns; with no
    # resource_tenant the decision is the person-level one alone.
    # The owner's tenant: the province of the institution that owns the record.
    resource_tenant: Tenant | None = None
    # The caller's tenant; None means their organisation has no province (refused).
    caller_tenant: Tenant | None = None
    # The receiving province of a pending transfer, which may read the record.
    pending_tenant: Tenant | None = None
    # The owning domain's own refusal (e.g. only the managing organisation records for a
    # TB case), weighed once the tenant allows and before the person-level rules.
    domain_refusal: str | None = None


@dataclass(frozen=True)
class PersonFacts:
    """What the platform knows about one person that bears on access."""

    relationships: tuple[Relationship, ...] = ()
    consents: tuple[ConsentGrant, ...] = ()
    # Organisations that share a consortium with the caller's organisation.
    consortium_partners: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    basis: str

    @property
    def break_glass(self) -> bool:
        return self.allowed and self.basis == BASIS_BREAK_GLASS


def active_consents(consents: Iterable[ConsentGrant]) -> list[ConsentGrant]:
    """Withdrawn consents give nothing; only the active ones count."""
    return [c for c in consents if c.status == CONSENT_ACTIVE]


def consents_in_force(request: AccessRequest, facts: PersonFacts) -> list[ConsentGrant]:
    """The person's own active choices; with none on record, the default sharing policy.

    A withdrawal is a choice: someone who withdrew is never shared by default.
    """
    if facts.consents:
        return active_consents(facts.consents)
    if request.default_scope in (SCOPE_CONSORTIUM, SCOPE_REGION):
        return [ConsentGrant(scope=request.default_scope, status=CONSENT_DEFAULT)]
    return []


def _basis(grant: ConsentGrant) -> str:
    origin = "default sharing policy" if grant.status == CONSENT_DEFAULT else "consent"
    return f"{origin}: {grant.scope}"


def consortium_anchors(facts: PersonFacts, now: datetime) -> frozenset[str]:
    """Organisations whose treating/contract relationship a consortium consent extends."""
    return frozenset(
        r.organization_id
        for r in facts.relationships
        if r.kind in CONSORTIUM_ANCHOR_KINDS and r.active_at(now)
    )


def needs_consortium_lookup(request: AccessRequest, facts: PersonFacts, now: datetime) -> bool:
    """Whether the decision depends on consortium membership (so the caller must look it up)."""
    return (
        request.organization_id is not None
        and any(c.scope == SCOPE_CONSORTIUM for c in consents_in_force(request, facts))
        and bool(consortium_anchors(facts, now))
    )


def tenant_rule(
    role: Role,
    organization_id: str | None,
    organization_code: str | None,
    place: Place | None,
    region_codes: Iterable[str],
) -> Tenant | None:
    """The tenant a caller acts in, or None when their organisation has no province."""
    if organization_id is None:
        return REGION if role in TENANT_PLATFORM_ROLES else None
    if role is Role.admin or (organization_code and organization_code in set(region_codes)):
        return REGION
    if place is None or place.province_region_id is None:
        return None
    return Tenant(place.province_region_id, place.province)


def tenant_refusal(request: AccessRequest) -> str | None:
    """Why the caller's tenant does not cover the record's, or None (also without tenant facts)."""
    owner = request.resource_tenant
    if owner is None:
        return None
    caller = request.caller_tenant
    if caller is None:
        return BASIS_TENANT_NO_PROVINCE
    if caller.covers(owner.province_region_id):
        return None
    pending = request.pending_tenant
    # Only reads: the receiving province writes once the transfer is acknowledged.
    pending_covered = pending is not None and caller.covers(pending.province_region_id)
    if pending_covered and request.action == "read":
        return None
    return (
        f"tenant: {caller.province} does not cover {owner.province or 'a record of no province'}; "
        "a record moves to another province's tenant only by an acknowledged transfer"
    )


def decide(request: AccessRequest, facts: PersonFacts | None, now: datetime) -> AccessDecision:
    """Decide whether the caller may touch the record, and on what basis.

    The tenant rule and the domain's own refusal come first; then, for a record about a
    person (``facts``), the person-level rules. A record about no one (``facts`` None)
    needs only the first two.
    """
    refusal = tenant_refusal(request) or request.domain_refusal
    if refusal:
        return AccessDecision(False, refusal)
    if facts is None:
        tenant = request.caller_tenant if request.resource_tenant else None
        return AccessDecision(True, f"tenant: {tenant.province}" if tenant else BASIS_NO_PERSON)
    org = request.organization_id
    if org is not None:
        for kind in CARE_KINDS:
            if any(
                r.organization_id == org and r.kind == kind and r.active_at(now)
                for r in facts.relationships
            ):
                return AccessDecision(True, f"care relationship: {kind}")
        anchors = consortium_anchors(facts, now)
        consents = consents_in_force(request, facts)
        # Narrowest first, so the audit names the most specific basis.
        for c in sorted(consents, key=lambda c: CONSENT_SCOPES.index(c.scope)):
            if c.scope == SCOPE_ORGANIZATION and c.organization_id == org:
                return AccessDecision(True, _basis(c))
            if c.scope == SCOPE_CONSORTIUM and anchors & facts.consortium_partners:
                return AccessDecision(True, _basis(c))
            # The platform serves one region, so every organisation on it is in the region.
            if c.scope == SCOPE_REGION:
                return AccessDecision(True, _basis(c))
    if request.role in PUBLIC_HEALTH_ROLES and request.purpose == PURPOSE_PUBLIC_HEALTH:
        return AccessDecision(True, BASIS_PUBLIC_HEALTH)
    reason = (request.break_glass_reason or "").strip()
    if reason:
        if request.role not in BREAK_GLASS_ROLES:
            return AccessDecision(False, BASIS_BREAK_GLASS_ROLE)
        if len(reason) < BREAK_GLASS_MIN_REASON:
            return AccessDecision(False, BASIS_BREAK_GLASS_SHORT)
        return AccessDecision(True, BASIS_BREAK_GLASS)
    return AccessDecision(False, BASIS_DENIED)


# Sign-in protection.


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def register_failure(
    failed_logins: int, *, now: datetime, max_failures: int, lockout: timedelta
) -> tuple[int, datetime | None]:
    """Count one more consecutive failure; at the limit, lock and start counting afresh."""
    failed = failed_logins + 1
    if failed >= max_failures:
        return 0, now + lockout
    return failed, None


def retry_after(
    attempts: Iterable[datetime], *, now: datetime, limit: int, window: timedelta = RATE_WINDOW
) -> int | None:
    """Seconds until another attempt is allowed, or None when under ``limit`` in the window."""
    recent = sorted(t for t in attempts if now - window < t <= now)
    if len(recent) < limit:
        return None
    # The window frees up when the oldest attempt that keeps it full falls out.
    blocking = recent[len(recent) - limit]
    return max(1, math.ceil((blocking + window - now).total_seconds()))


def lock_message(locked_until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
    return (
        "this account is locked after too many failed sign-ins; "
        f"try again in {minutes} minute(s) or ask an administrator to unlock it"
    )


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"password must be at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"password must be at most {PASSWORD_MAX_LENGTH} characters"
    if password.strip() != password or not password.strip():
        return "password must not start or end with spaces"
    return None


def organization_problem(role: Role, organization_id: str | None) -> str | None:
    """Why a role/organisation pairing is unacceptable for an account, or None."""
    if role is Role.system:
        return "role system is for institution API clients; create a client instead"
    if role in ORGANIZATION_ROLES and not organization_id:
        return f"role {role.value} needs an organization"
    return None
