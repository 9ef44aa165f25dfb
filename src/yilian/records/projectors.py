"""Projectors (订阅发布): functions other domains register to see each stored resource.

A projector runs in the transaction that stores the resource, after the row is
written; if it raises, the whole bundle rolls back. Projectors never call HTTP:
slow work goes to a durable job table of the registering domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class StoredResource:
    """A resource as the store now holds it (``resource`` has its server id)."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    person_id: str | None
    source_org_id: str | None
    resource: dict[str, Any]
    created: bool  # False when this was an update of an existing resource
    patient_id: str | None = None  # the Patient it is about (itself, for a Patient)


Projector = Callable[[Session, StoredResource], None]

_PROJECTORS: dict[str, list[Projector]] = {}


def register(resource_type: str, fn: Projector) -> Projector:
    """Run ``fn`` for every stored resource of ``resource_type`` (``"*"`` for all types)."""
    handlers = _PROJECTORS.setdefault(resource_type, [])
    if fn not in handlers:
        handlers.append(fn)
    return fn


def unregister(resource_type: str, fn: Projector) -> None:
    """Stop running ``fn`` (tests, and domains that are switched off)."""
    handlers = _PROJECTORS.get(resource_type, [])
    if fn in handlers:
        handlers.remove(fn)


def project(session: Session, stored: StoredResource) -> None:
    """Hand a stored resource to its type's projectors, then to the catch-all ones."""
    for fn in (*_PROJECTORS.get(stored.resource_type, ()), *_PROJECTORS.get("*", ())):
        fn(session, stored)


def registered() -> dict[str, list[Projector]]:
    """Resource type → the projectors registered for it (a copy)."""
    return {rtype: list(fns) for rtype, fns in _PROJECTORS.items() if fns}


def has_projectors() -> bool:
    return any(_PROJECTORS.values())
