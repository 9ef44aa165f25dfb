"""Field-level encryption of personal identifiers inside stored FHIR JSON.

A Patient's 身份证号, 医保卡号, 电子健康卡号 and phone numbers are kept in the
``fhir_resources`` row as ciphertext (AES-GCM, the installation's data key) and
revealed only when the store hands a resource to an authorised reader. The
index searches them through keyed hashes (``fhir_tokens``, ``person_identifiers``),
never through the stored text, so a copy of the database alone does not disclose them.
"""

from __future__ import annotations

import copy
from typing import Any

from yilian.kit.crypto import get_cipher
from yilian.patients import service as patients

PREFIX = "yl-enc:v1:"
PROTECTED_TYPES = frozenset({"Patient"})


def _is_protected_identifier(identifier: Any) -> bool:
    return isinstance(identifier, dict) and patients.is_personal_identifier(identifier)


def _transform(body: dict[str, Any], fn: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for ident in out.get("identifier") or []:
        if _is_protected_identifier(ident) and isinstance(ident.get("value"), str):
            ident["value"] = fn(ident["value"])
    holders = [out, *[c for c in out.get("contact") or [] if isinstance(c, dict)]]
    for holder in holders:
        for telecom in holder.get("telecom") or []:
            if (
                isinstance(telecom, dict)
                and telecom.get("system") in ("phone", "sms")
                and isinstance(telecom.get("value"), str)
            ):
                telecom["value"] = fn(telecom["value"])
    return out


def protect(resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as stored: personal identifiers and phone numbers encrypted."""
    if resource_type not in PROTECTED_TYPES:
        return body
    cipher = get_cipher()
    return _transform(body, lambda v: v if v.startswith(PREFIX) else PREFIX + cipher.encrypt(v))


def reveal(resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as sent: what :func:`protect` encrypted, decrypted."""
    if resource_type not in PROTECTED_TYPES:
        return body
    cipher = get_cipher()
    return _transform(
        body, lambda v: cipher.decrypt(v[len(PREFIX) :]) if v.startswith(PREFIX) else v
    )
