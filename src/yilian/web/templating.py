"""Jinja2 environment and the context every page gets (language, principal, navigation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from yilian.security.principal import ROLE_LABELS_ZH, Principal
from yilian.web import nav
from yilian.web.i18n import LANG_COOKIE, pick_language, translate

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

ROLE_LABELS_EN = {
    "admin": "Administrator",
    "commission": "Health commission",
    "doctor": "Doctor",
    "specialist": "Specialist",
    "cdc": "CDC",
    "insurer": "Insurance bureau",
    "system": "Institution system",
}


def language(request: Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE))


def forbidden_page(request: Request, principal: Principal) -> HTMLResponse:
    """The 403 page for a signed-in user whose role may not open the page."""
    message = translate(language(request), "forbidden")
    return render(request, "error.html", principal, status_code=403, message=message)


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    role_label = ""
    if principal is not None:
        role_label = (
            ROLE_LABELS_ZH[principal.role] if lang == "zh-CN" else ROLE_LABELS_EN[principal.role]
        )
    return templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": lambda key, **params: translate(lang, key, **params),
            "principal": principal,
            "role_label": role_label,
            "nav": nav.for_role(principal.role) if principal else [],
            **context,
        },
        status_code=status_code,
    )
