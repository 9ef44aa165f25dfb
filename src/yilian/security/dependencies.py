"""FastAPI dependencies: the current principal, and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from yilian.config import Settings
from yilian.deps import DbSession
from yilian.kit.errors import Forbidden, Unauthorized
from yilian.security import service, tokens
from yilian.security.principal import Principal, Role

COOKIE_NAME = "yilian_token"
_bearer = HTTPBearer(auto_error=False, description="Bearer token from /api/v1/auth/token")


def current_principal(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller, from the Authorization header or the web session cookie."""
    settings: Settings = request.app.state.settings
    token = credentials.credentials if credentials else request.cookies.get(COOKIE_NAME)
    if not token:
        raise Unauthorized("authentication required: send a bearer token")
    principal = tokens.verify(token, settings)
    # Deactivation or a role change must not wait for the token to expire.
    stale = service.stale_token_reason(session, principal)
    if stale:
        raise Unauthorized(stale)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must hold one of ``roles``."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this action needs one of the roles: {allowed}")
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.admin))]
