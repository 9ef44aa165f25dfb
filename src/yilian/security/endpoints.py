"""Sign-in (OAuth2 token endpoint), the caller's identity, accounts, and consents."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response, status
from fastapi.exceptions import HTTPException

from yilian.deps import AppSettings, DbSession, Paging
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    YilianError,
    error_responses,
)
from yilian.security import service
from yilian.security.dependencies import AdminPrincipal, CurrentPrincipal, require_roles
from yilian.security.principal import ROLE_LABELS_ZH, Principal, Role
from yilian.security.schemas import (
    ClientCreate,
    ClientCreated,
    ClientOut,
    ClientPage,
    ConsentCreate,
    ConsentList,
    ConsentOut,
    ConsentWithdrawn,
    MeOut,
    Text,
    TokenOut,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from yilian.security.tokens import issue

router = APIRouter(prefix="/api/v1")

UserId = Annotated[Text, Path(max_length=32)]
ClientId = Annotated[Text, Path(max_length=64)]
OrgFilter = Annotated[Text | None, Query(max_length=32)]
PersonId = Annotated[Text, Path(min_length=1, max_length=32, description="master patient index id")]
ConsentRecorder = Annotated[
    Principal, Depends(require_roles(Role.doctor, Role.specialist, Role.admin))
]

_ADMIN_ERRORS = (Unauthorized, Forbidden)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """client_id and secret from an ``Authorization: Basic`` header (RFC 6749 §2.3.1)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("malformed Basic credentials", field="Authorization") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise BadRequest("malformed Basic credentials", field="Authorization")
    return client_id, secret


def _required(value: str | None, field: str, grant_type: str) -> str:
    if not value:
        raise BadRequest(f"{field} is required for grant_type={grant_type}", field=field)
    return value


@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    summary="Sign in: password or client-credentials grant",
    responses=error_responses(BadRequest, Unauthorized, TooManyRequests)
    | {423: {"description": "AccountLocked"}},
)
def token(
    request: Request,
    response: Response,
    session: DbSession,
    settings: AppSettings,
    grant_type: Annotated[Text, Form(max_length=64)],
    username: Annotated[Text | None, Form(max_length=200)] = None,
    password: Annotated[Text | None, Form(max_length=1024)] = None,
    client_id: Annotated[Text | None, Form(max_length=200)] = None,
    client_secret: Annotated[Text | None, Form(max_length=1024)] = None,
    scope: Annotated[Text | None, Form(max_length=1000)] = None,
) -> TokenOut:
    """Exchange a username/password or client credentials for a bearer token."""
    address = request.client.host if request.client else "unknown"
    try:
        if grant_type == "password":
            principal = service.sign_in_user(
                session,
                settings,
                username=_required(username, "username", grant_type),
                password=_required(password, "password", grant_type),
                address=address,
            )
        elif grant_type == "client_credentials":
            basic = _basic_credentials(request)
            if basic and not client_id:
                client_id, client_secret = basic
            principal = service.sign_in_client(
                session,
                settings,
                client_id=_required(client_id, "client_id", grant_type),
                client_secret=_required(client_secret, "client_secret", grant_type),
                address=address,
            )
        else:
            raise BadRequest(
                "grant_type must be password or client_credentials", field="grant_type"
            )
    except service.LoginThrottled as exc:
        session.commit()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            exc.message,
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    except YilianError:
        # The failure count, the lock and the audit entry must outlive the refusal.
        session.commit()
        raise
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return TokenOut(
        access_token=issue(principal, settings),
        expires_in=settings.access_token_minutes * 60,
        role=principal.role,
        organization_id=principal.organization_id,
    )


@router.get(
    "/auth/me",
    response_model=MeOut,
    tags=["auth"],
    responses=error_responses(Unauthorized),
)
def me(principal: CurrentPrincipal) -> MeOut:
    """Return who the bearer token speaks for."""
    return MeOut(
        subject=principal.subject,
        name=principal.name,
        kind=principal.kind,
        role=principal.role,
        role_label=ROLE_LABELS_ZH[principal.role],
        organization_id=principal.organization_id,
    )


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS, Conflict, Unprocessable),
)
def create_user(body: UserCreate, session: DbSession, admin: AdminPrincipal) -> UserOut:
    """Create a sign-in account (administrators only)."""
    user = service.create_user(
        session,
        admin,
        username=body.username,
        password=body.password,
        role=body.role,
        organization_id=body.organization_id,
        display_name=body.display_name,
    )
    return UserOut.model_validate(user)


@router.get(
    "/users",
    response_model=UserPage,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS),
)
def list_users(
    session: DbSession,
    admin: AdminPrincipal,
    page: Paging,
    role: Role | None = None,
    organization_id: OrgFilter = None,
    active: bool | None = None,
) -> UserPage:
    """List accounts, filtered by role, organisation or active flag (administrators only)."""
    users, total = service.list_users(
        session,
        role=role,
        organization_id=organization_id,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )
    return UserPage(
        items=[UserOut.model_validate(u) for u in users],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS, NotFound),
)
def get_user(user_id: UserId, session: DbSession, admin: AdminPrincipal) -> UserOut:
    """Show one account (administrators only)."""
    return UserOut.model_validate(service.get_user(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS, NotFound, Unprocessable),
)
def update_user(
    user_id: UserId, body: UserUpdate, session: DbSession, admin: AdminPrincipal
) -> UserOut:
    """Change an account's name, role, organisation, active flag or password, or unlock it."""
    changes = body.model_dump(exclude_unset=True)
    for field in ("role", "is_active", "display_name"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null", field=field)
    user = service.update_user(session, admin, user_id, changes)
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/deactivate",
    response_model=UserOut,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS, NotFound),
)
def deactivate_user(user_id: UserId, session: DbSession, admin: AdminPrincipal) -> UserOut:
    """Stop an account from signing in; its tokens stop working at once."""
    return UserOut.model_validate(service.deactivate_user(session, admin, user_id))


@router.post(
    "/clients",
    response_model=ClientCreated,
    status_code=201,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS, Unprocessable),
)
def create_client(body: ClientCreate, session: DbSession, admin: AdminPrincipal) -> ClientCreated:
    """Register an institution system; the response carries its secret, shown only this once."""
    client, secret = service.create_client(
        session, admin, name=body.name, organization_id=body.organization_id
    )
    return ClientCreated(**ClientOut.model_validate(client).model_dump(), client_secret=secret)


@router.get(
    "/clients",
    response_model=ClientPage,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS),
)
def list_clients(
    session: DbSession, admin: AdminPrincipal, page: Paging, organization_id: OrgFilter = None
) -> ClientPage:
    """List institution API clients (administrators only)."""
    clients, total = service.list_clients(
        session, organization_id=organization_id, limit=page.limit, offset=page.offset
    )
    return ClientPage(
        items=[ClientOut.model_validate(c) for c in clients],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/clients/{client_id}/deactivate",
    response_model=ClientOut,
    tags=["users"],
    responses=error_responses(*_ADMIN_ERRORS, NotFound),
)
def deactivate_client(client_id: ClientId, session: DbSession, admin: AdminPrincipal) -> ClientOut:
    """Stop an institution system from signing in; its tokens stop working at once."""
    return ClientOut.model_validate(service.deactivate_client(session, admin, client_id))


def consents_of(session: DbSession, person_id: str) -> list[ConsentOut]:
    """Every consent of a person, active and withdrawn, oldest first, as the API shows them."""
    return [
        ConsentOut.model_validate(c) for c in service.list_consents(session, person_id=person_id)
    ]


_CONSENT_ERRORS = (Unauthorized, Forbidden, NotFound)


@router.get(
    "/persons/{person_id}/consents",
    response_model=ConsentList,
    tags=["consents"],
    responses=error_responses(*_CONSENT_ERRORS),
)
def list_consents(
    person_id: PersonId, session: DbSession, principal: ConsentRecorder
) -> ConsentList:
    """List a person's consents to share their record (知情同意), active and withdrawn."""
    person_id = service.require_consent_manager(session, principal, person_id=person_id)
    return ConsentList(items=consents_of(session, person_id))


@router.post(
    "/persons/{person_id}/consents",
    response_model=ConsentOut,
    status_code=201,
    tags=["consents"],
    responses=error_responses(*_CONSENT_ERRORS, Unprocessable),
)
def record_consent(
    person_id: PersonId, body: ConsentCreate, session: DbSession, principal: ConsentRecorder
) -> ConsentOut:
    """Record a person's consent on their behalf; an identical active consent is returned."""
    person_id = service.require_consent_manager(session, principal, person_id=person_id)
    consent = service.record_consent(
        session,
        principal,
        person_id=person_id,
        scope=body.scope,
        organization_id=body.organization_id,
    )
    return ConsentOut.model_validate(consent)


@router.post(
    "/persons/{person_id}/consents/withdraw",
    response_model=ConsentWithdrawn,
    tags=["consents"],
    responses=error_responses(*_CONSENT_ERRORS, Unprocessable),
)
def withdraw_consent(
    person_id: PersonId, body: ConsentCreate, session: DbSession, principal: ConsentRecorder
) -> ConsentWithdrawn:
    """Withdraw a person's active consents of a scope (and organisation) on their behalf."""
    person_id = service.require_consent_manager(session, principal, person_id=person_id)
    n = service.withdraw_consent(
        session,
        principal,
        person_id=person_id,
        scope=body.scope,
        organization_id=body.organization_id,
    )
    return ConsentWithdrawn(withdrawn=n)
