"""Accounts, API clients, sign-in, care relationships, consents and organisations' provinces.

Services flush, never commit: the request or command owns the transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import Settings
from yilian.db import utcnow
from yilian.kit.crypto import mask
from yilian.kit.errors import (
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    YilianError,
)
from yilian.patients import service as patients
from yilian.registry.models import Organization
from yilian.security import access, passwords, repository, rules
from yilian.security.models import (
    ApiClient,
    CareRelationship,
    Consent,
    LoginAttempt,
    LoginGuard,
    User,
)
from yilian.security.principal import Principal, Role

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.@-]{2,63}$")
INVALID_USER_CREDENTIALS = "invalid username or password"
INVALID_CLIENT_CREDENTIALS = "invalid client credentials"
# Unknown names are forgotten after a day without failures.
GUARD_RETENTION = timedelta(days=1)


class AccountLocked(YilianError):
    status_code = 423
    code = "locked"


class LoginThrottled(TooManyRequests):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many sign-in attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


# Accounts.


def normalise_username(username: str) -> str:
    return username.strip().lower()


def _check_organization(session: Session, role: Role, organization_id: str | None) -> None:
    problem = rules.organization_problem(role, organization_id)
    if problem:
        raise Unprocessable(
            problem, field="organization_id" if "organization" in problem else "role"
        )
    if organization_id and not repository.organization_exists(session, organization_id):
        raise Unprocessable(f"no organization with id {organization_id}", field="organization_id")


def _check_password(password: str) -> None:
    problem = rules.password_problem(password)
    if problem:
        raise Unprocessable(problem, field="password")


def create_user(
    session: Session,
    actor: Principal | None,
    *,
    username: str,
    password: str,
    role: Role,
    organization_id: str | None = None,
    display_name: str = "",
) -> User:
    """Create a sign-in account."""
    name = normalise_username(username)
    if not USERNAME_PATTERN.match(name):
        raise Unprocessable(
            "username must be 3-64 characters: letters, digits, and _ . @ -", field="username"
        )
    _check_password(password)
    _check_organization(session, role, organization_id)
    if repository.user_by_username(session, name) is not None:
        raise Conflict(f"username {name} is taken", field="username")
    user = User(
        username=name,
        display_name=display_name.strip() or name,
        password_hash=passwords.hash_secret(password),
        role=role.value,
        organization_id=organization_id,
        is_active=True,
        failed_logins=0,
    )
    session.add(user)
    try:
        session.flush([user])
    except IntegrityError as exc:  # a concurrent create won; the request rolls back
        raise Conflict(f"username {name} is taken", field="username") from exc
    audit.record(
        session,
        actor,
        action="create",
        resource_type="User",
        resource_id=user.id,
        outcome="success",
        detail={"username": name, "role": role.value, "organization_id": organization_id},
    )
    return user


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def list_users(
    session: Session,
    *,
    role: Role | None = None,
    organization_id: str | None = None,
    active: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    """Accounts matching the filters, by username, with the total count."""
    stmt = repository.users_query(
        role=role.value if role else None, organization_id=organization_id, active=active
    )
    return repository.page(session, stmt, limit=limit, offset=offset)


def update_user(
    session: Session, actor: Principal | None, user_id: str, changes: dict[str, Any]
) -> User:
    """Apply an administrator's changes: name, role, organisation, active, password, unlock."""
    user = get_user(session, user_id)
    role = Role(changes.get("role", user.role))
    org = changes.get("organization_id", user.organization_id)
    if "role" in changes or "organization_id" in changes:
        _check_organization(session, role, org)
        user.role, user.organization_id = role.value, org
    if changes.get("display_name") is not None:
        user.display_name = str(changes["display_name"]).strip() or user.username
    if changes.get("is_active") is not None:
        user.is_active = bool(changes["is_active"])
    if changes.get("password") is not None:
        _check_password(changes["password"])
        user.password_hash = passwords.hash_secret(changes["password"])
    if changes.get("unlock"):
        user.failed_logins, user.locked_until = 0, None
    session.flush([user])
    audit.record(
        session,
        actor,
        action="update",
        resource_type="User",
        resource_id=user.id,
        outcome="success",
        detail={"changed": sorted(changes)},
    )
    return user


def deactivate_user(session: Session, actor: Principal | None, user_id: str) -> User:
    """Stop an account from signing in; its tokens stop working on their next use."""
    return update_user(session, actor, user_id, {"is_active": False})


def create_client(
    session: Session, actor: Principal | None, *, name: str, organization_id: str
) -> tuple[ApiClient, str]:
    """Register an institution system; the secret is returned once and stored only hashed."""
    if not name.strip():
        raise Unprocessable("name must not be empty", field="name")
    if not repository.organization_exists(session, organization_id):
        raise Unprocessable(f"no organization with id {organization_id}", field="organization_id")
    secret = passwords.new_client_secret()
    client = ApiClient(
        client_id=f"yl_{secrets.token_hex(12)}",
        secret_hash=passwords.hash_secret(secret),
        name=name.strip(),
        organization_id=organization_id,
        active=True,
        failed_logins=0,
    )
    session.add(client)
    session.flush([client])
    audit.record(
        session,
        actor,
        action="create",
        resource_type="ApiClient",
        resource_id=client.client_id,
        outcome="success",
        detail={"name": client.name, "organization_id": organization_id},
    )
    return client, secret


def get_client(session: Session, client_id: str) -> ApiClient:
    client = repository.client_by_client_id(session, client_id)
    if client is None:
        raise NotFound(f"no API client with client_id {client_id}")
    return client


def list_clients(
    session: Session, *, organization_id: str | None = None, limit: int, offset: int
) -> tuple[list[ApiClient], int]:
    stmt = repository.clients_query(organization_id=organization_id)
    return repository.page(session, stmt, limit=limit, offset=offset)


def deactivate_client(session: Session, actor: Principal | None, client_id: str) -> ApiClient:
    """Stop an institution system from signing in; its tokens stop working on their next use."""
    client = get_client(session, client_id)
    client.active = False
    session.flush([client])
    audit.record(
        session,
        actor,
        action="update",
        resource_type="ApiClient",
        resource_id=client.client_id,
        outcome="success",
        detail={"changed": ["active"]},
    )
    return client


# Sign-in.


class _Guarded(Protocol):
    failed_logins: int
    locked_until: datetime | None


def _key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _prune(session: Session, model: type[LoginAttempt] | type[LoginGuard], *where: Any) -> None:
    """Delete expired rows, skipping those a concurrent sign-in holds (no waits, no deadlock)."""
    doomed = select(model.id).where(*where).limit(500).with_for_update(skip_locked=True)
    session.execute(delete(model).where(model.id.in_(doomed)))


def _throttle(session: Session, settings: Settings, key: str, now: datetime) -> None:
    """Allow ``login_rate_per_minute`` attempts per address and name; count this one."""
    _prune(session, LoginAttempt, LoginAttempt.at <= now - rules.RATE_WINDOW)
    times = session.execute(select(LoginAttempt.at).where(LoginAttempt.key == key)).scalars()
    wait = rules.retry_after(list(times), now=now, limit=settings.login_rate_per_minute)
    if wait is not None:
        raise LoginThrottled(wait)
    session.add(LoginAttempt(key=key, at=now))
    session.flush()


def _unknown_guard(session: Session, key: str, now: datetime) -> LoginGuard:
    """The failure counter of a name without an account, created on first use."""
    _prune(
        session,
        LoginGuard,
        LoginGuard.updated_at < now - GUARD_RETENTION,
        LoginGuard.locked_until.is_(None) | (LoginGuard.locked_until < now),
    )
    guard = repository.guard_by_key(session, key)
    if guard is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(LoginGuard).values(
                        id=secrets.token_hex(16), key=key, failed_logins=0, updated_at=now
                    )
                )
        except IntegrityError:
            pass  # a concurrent attempt created it
        guard = repository.guard_by_key(session, key)
    assert guard is not None
    return guard


def _sign_in(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    name: str,
    secret: str,
    address: str,
    account: User | ApiClient | None,
    invalid: str,
) -> None:
    """Check one secret against an account (or a stand-in for a missing one) and keep score."""
    now = utcnow()
    guard: _Guarded = (
        account if account is not None else _unknown_guard(session, _key(kind, name), now)
    )
    resource_type = "User" if kind == "user" else "ApiClient"
    who = (
        {"account_id": account.id}
        if account is not None
        else {"name": mask(name, keep_start=2, keep_end=1)}
    )

    def refuse(reason: str, error: YilianError) -> YilianError:
        audit.record(
            session,
            None,
            action="login",
            resource_type=resource_type,
            resource_id=account.id if account is not None else None,
            outcome="failure",
            detail={**who, "reason": reason, "address": address},
        )
        return error

    if guard.locked_until is not None and rules.is_locked(guard.locked_until, now):
        raise refuse("locked", AccountLocked(rules.lock_message(guard.locked_until, now)))
    stored = None
    if account is not None:
        stored = account.password_hash if isinstance(account, User) else account.secret_hash
    if not passwords.verify_secret(stored, secret):
        guard.failed_logins, guard.locked_until = rules.register_failure(
            guard.failed_logins,
            now=now,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
        if isinstance(guard, LoginGuard):
            guard.updated_at = now
        session.flush()
        if guard.locked_until is not None:
            raise refuse("locked", AccountLocked(rules.lock_message(guard.locked_until, now)))
        raise refuse("bad credentials", Unauthorized(invalid))
    assert account is not None and stored is not None
    active = account.is_active if isinstance(account, User) else account.active
    if not active:
        raise refuse(
            "deactivated", Unauthorized("this account is deactivated; ask an administrator")
        )
    account.failed_logins, account.locked_until, account.last_login_at = 0, None, now
    if passwords.needs_rehash(stored):
        if isinstance(account, User):
            account.password_hash = passwords.hash_secret(secret)
        else:
            account.secret_hash = passwords.hash_secret(secret)
    session.flush()


def sign_in_user(
    session: Session, settings: Settings, *, username: str, password: str, address: str
) -> Principal:
    """Check a username and password; count failures, lock after too many, never say which is wrong.

    Raises :class:`LoginThrottled`, :class:`AccountLocked` or ``Unauthorized``; the
    caller must commit before passing the error on so the count survives.
    """
    name = normalise_username(username)
    _throttle(session, settings, _key("user", address, name), utcnow())
    # A name PostgreSQL cannot even compare (NUL) belongs to no account.
    user = None if "\x00" in name else repository.user_by_username(session, name, lock=True)
    _sign_in(
        session,
        settings,
        kind="user",
        name=name,
        secret=password,
        address=address,
        account=user,
        invalid=INVALID_USER_CREDENTIALS,
    )
    assert user is not None
    principal = user_principal(user)
    audit.record(
        session,
        principal,
        action="login",
        resource_type="User",
        resource_id=user.id,
        outcome="success",
        detail={"address": address},
    )
    return principal


def sign_in_client(
    session: Session, settings: Settings, *, client_id: str, client_secret: str, address: str
) -> Principal:
    """Check client credentials with the same throttling and lock-out as passwords."""
    name = client_id.strip()
    _throttle(session, settings, _key("client", address, name), utcnow())
    client = None if "\x00" in name else repository.client_by_client_id(session, name, lock=True)
    _sign_in(
        session,
        settings,
        kind="client",
        name=name,
        secret=client_secret,
        address=address,
        account=client,
        invalid=INVALID_CLIENT_CREDENTIALS,
    )
    assert client is not None
    principal = client_principal(client)
    audit.record(
        session,
        principal,
        action="login",
        resource_type="ApiClient",
        resource_id=client.client_id,
        outcome="success",
        detail={"address": address},
    )
    return principal


def user_principal(user: User) -> Principal:
    return Principal(
        subject=user.id,
        name=user.username,
        role=Role(user.role),
        organization_id=user.organization_id,
        kind="user",
    )


def client_principal(client: ApiClient) -> Principal:
    return Principal(
        subject=client.client_id,
        name=client.name,
        role=Role.system,
        organization_id=client.organization_id,
        kind="client",
    )


def stale_token_reason(session: Session, principal: Principal) -> str | None:
    """Why a signed token no longer speaks for its account (deactivated, role or org changed)."""
    # Runs on every authenticated request: read three columns, not the whole account.
    if principal.kind == "client":
        crow = repository.client_state(session, principal.subject)
        if crow is None:
            return None
        if not crow.active:
            return "this API client is deactivated"
        role, org = Role.system, crow.organization_id
    else:
        urow = repository.user_state(session, principal.subject)
        if urow is None:
            return None
        if not urow.is_active:
            return "this account is deactivated; ask an administrator"
        role, org = Role(urow.role), urow.organization_id
    if (role, org) != (principal.role, principal.organization_id):
        return "your role or organization changed; sign in again"
    return None


# Care relationships and consent.


def grant_relationships(
    session: Session,
    *,
    person_ids: Iterable[str],
    organization_id: str,
    kind: str,
    source: str = "",
    principal: Principal | None = None,
) -> int:
    """:func:`grant_relationship` (open-ended, from now) for many persons; how many were new."""
    return grant_relationships_by_org(
        session, {organization_id: (principal, person_ids)}, kind=kind, source=source
    )


def grant_relationships_by_org(
    session: Session,
    grants: Mapping[str, tuple[Principal | None, Iterable[str]]],
    *,
    kind: str,
    source: str = "",
) -> int:
    """Open-ended relationships from now: organisation → (who grants, persons); how many new.

    One query finds the open relationships already there and one flush adds the rest,
    each audited as a single grant is, as the organisation's granting principal: the
    exchange grants "treating" for every person a write touched this way.
    """
    if kind not in rules.CARE_KINDS:
        raise Unprocessable(f"kind must be one of {', '.join(rules.CARE_KINDS)}", field="kind")
    wanted = {org: sorted(set(persons)) for org, (_p, persons) in grants.items()}
    everyone = sorted({p for persons in wanted.values() for p in persons})
    if not everyone:
        return 0
    now = utcnow()
    have = repository.open_relationships(
        session,
        person_ids=everyone,
        organization_ids=sorted(wanted),
        kind=kind,
        source=source,
        current_at=now,
    )
    new = [
        CareRelationship(
            person_id=person_id,
            organization_id=org,
            kind=kind,
            source=source,
            valid_from=now,
            valid_to=None,
            created_at=now,
        )
        for org, persons in sorted(wanted.items())
        for person_id in persons
        if (org, person_id) not in have
    ]
    if not new:
        return 0
    session.add_all(new)
    session.flush(new)
    for rel in new:
        _audit_grant(session, grants[rel.organization_id][0], rel)
    return len(new)


def _audit_grant(session: Session, principal: Principal | None, rel: CareRelationship) -> None:
    audit.record(
        session,
        principal,
        action="create",
        resource_type="CareRelationship",
        resource_id=rel.id,
        person_id=rel.person_id,
        outcome="success",
        detail={"kind": rel.kind, "organization_id": rel.organization_id, "source": rel.source},
    )


def grant_relationship(
    session: Session,
    *,
    person_id: str,
    organization_id: str,
    kind: str,
    source: str = "",
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    principal: Principal | None = None,
) -> CareRelationship:
    """Record that an organisation treats / has a contract, referral or consultation with a person.

    Idempotent: an open relationship with the same person, organisation, kind and
    source is returned (its end moved to ``valid_to`` when given).
    """
    if kind not in rules.CARE_KINDS:
        raise Unprocessable(f"kind must be one of {', '.join(rules.CARE_KINDS)}", field="kind")
    now = utcnow()
    start = valid_from or now
    if valid_to is not None and valid_to <= start:
        raise Unprocessable("valid_to must be after valid_from", field="valid_to")
    for existing in repository.relationships(
        session,
        person_id=person_id,
        organization_id=organization_id,
        kind=kind,
        source=source,
        current_at=now,
    ):
        if valid_to is not None:
            existing.valid_to = valid_to
        return existing
    rel = CareRelationship(
        person_id=person_id,
        organization_id=organization_id,
        kind=kind,
        source=source,
        valid_from=start,
        valid_to=valid_to,
        created_at=now,
    )
    session.add(rel)
    session.flush([rel])
    _audit_grant(session, principal, rel)
    return rel


def end_relationship(
    session: Session,
    *,
    person_id: str,
    organization_id: str,
    kind: str | None = None,
    source: str | None = None,
    at: datetime | None = None,
    principal: Principal | None = None,
) -> int:
    """End the open relationships that match (all kinds/sources when not given); return how many."""
    end = at or utcnow()
    ended = 0
    for rel in repository.relationships(
        session,
        person_id=person_id,
        organization_id=organization_id,
        kind=kind,
        source=source,
        current_at=end,
    ):
        rel.valid_to = max(end, rel.valid_from)
        ended += 1
        audit.record(
            session,
            principal,
            action="update",
            resource_type="CareRelationship",
            resource_id=rel.id,
            person_id=person_id,
            outcome="success",
            detail={"kind": rel.kind, "organization_id": organization_id, "ended": True},
        )
    session.flush()
    return ended


def _check_scope(scope: str, organization_id: str | None) -> None:
    if scope not in rules.CONSENT_SCOPES:
        raise Unprocessable(
            f"scope must be one of {', '.join(rules.CONSENT_SCOPES)}", field="scope"
        )
    if scope == rules.SCOPE_ORGANIZATION and not organization_id:
        raise Unprocessable("scope organization needs an organization_id", field="organization_id")


def record_consent(
    session: Session,
    principal: Principal | None,
    *,
    person_id: str,
    scope: str,
    organization_id: str | None = None,
) -> Consent:
    """Record a person's consent (知情同意) to share their record; idempotent while active."""
    _check_scope(scope, organization_id)
    org = organization_id if scope == rules.SCOPE_ORGANIZATION else None
    for existing in repository.consents(
        session, person_id=person_id, scope=scope, organization_id=org, status=rules.CONSENT_ACTIVE
    ):
        if existing.organization_id == org:
            return existing
    consent = Consent(
        person_id=person_id,
        scope=scope,
        organization_id=org,
        status=rules.CONSENT_ACTIVE,
        granted_at=utcnow(),
        recorded_by=principal.subject if principal else "",
    )
    session.add(consent)
    session.flush([consent])
    audit.record(
        session,
        principal,
        action="create",
        resource_type="Consent",
        resource_id=consent.id,
        person_id=person_id,
        outcome="success",
        detail={"scope": scope, "organization_id": org},
    )
    return consent


def withdraw_consent(
    session: Session,
    principal: Principal | None,
    *,
    person_id: str,
    scope: str,
    organization_id: str | None = None,
) -> int:
    """Withdraw a person's active consents of ``scope``; return how many were withdrawn."""
    _check_scope(scope, organization_id)
    org = organization_id if scope == rules.SCOPE_ORGANIZATION else None
    now = utcnow()
    withdrawn = 0
    for consent in repository.consents(
        session, person_id=person_id, scope=scope, organization_id=org, status=rules.CONSENT_ACTIVE
    ):
        if consent.organization_id != org:
            continue
        consent.status, consent.withdrawn_at = rules.CONSENT_WITHDRAWN, now
        withdrawn += 1
        audit.record(
            session,
            principal,
            action="update",
            resource_type="Consent",
            resource_id=consent.id,
            person_id=person_id,
            outcome="success",
            detail={"scope": scope, "organization_id": org, "status": rules.CONSENT_WITHDRAWN},
        )
    session.flush()
    return withdrawn


def require_consent_manager(session: Session, principal: Principal, *, person_id: str) -> str:
    """Check that ``principal`` may see and record the person's consents; audited.

    Clinicians must have access to the person already — through care or an earlier
    consent — so nobody can grant their own organisation access to a stranger.
    """
    if not patients.record_ids_of(session, person_id):
        raise NotFound(f"no person {person_id} with a Patient record")
    if principal.role is not Role.admin:
        access.require_person_access(
            session,
            principal,
            person_id=person_id,
            action="consent",
            purpose=rules.PURPOSE_TREATMENT,
            resource_type="Consent",
        )
    return person_id


def list_consents(session: Session, *, person_id: str) -> list[Consent]:
    """Every consent of a person, active and withdrawn, oldest first."""
    return list(repository.consents(session, person_id=person_id))


# Province tenants (省级租户): the caller's is ``access.tenant_of`` (the decision needs it);
# these give any organisation's province and city, e.g. for a record's owner.


def places_of(session: Session, organizations: Iterable[Organization]) -> dict[str, rules.Place]:
    """Province and city of each organisation, from its region ancestry (one query)."""
    return repository.places_of(session, organizations)


def place_of(session: Session, organization: Organization) -> rules.Place:
    """Province and city of one organisation."""
    return repository.places_of(session, [organization])[organization.id]


def places_by_ids(session: Session, organization_ids: Iterable[str]) -> dict[str, rules.Place]:
    """Province and city of each existing organisation among ``organization_ids``."""
    orgs = repository.organizations_by_ids(session, organization_ids)
    return repository.places_of(session, orgs.values())
