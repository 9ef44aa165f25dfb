"""Signed bearer tokens (JWT, HS256) carrying the principal."""

from __future__ import annotations

from datetime import timedelta

import jwt

from yilian.config import Settings
from yilian.db import utcnow
from yilian.kit.errors import Unauthorized
from yilian.security.principal import Principal, Role

ALGORITHM = "HS256"
ISSUER = "yilian"


def issue(principal: Principal, settings: Settings, *, minutes: int | None = None) -> str:
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": principal.subject,
        "name": principal.name,
        "role": principal.role.value,
        "org": principal.organization_id,
        "kind": principal.kind,
        "iat": now,
        "exp": now + timedelta(minutes=minutes or settings.access_token_minutes),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def verify(token: str, settings: Settings) -> Principal:
    """Decode and check a token; raise :class:`Unauthorized` with the reason otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired; sign in again") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token") from exc
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise Unauthorized("invalid token: unknown role") from exc
    return Principal(
        subject=str(claims["sub"]),
        name=str(claims.get("name", "")),
        role=role,
        organization_id=claims.get("org"),
        kind=str(claims.get("kind", "user")),
    )
