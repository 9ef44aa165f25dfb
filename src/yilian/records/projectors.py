"""Projectors (订阅发布): functions other domains register to see each stored resource.

A projector runs in the transaction that stores the resource, after the row is
written; if it raises, the whole bundle rolls back. Projectors never call HTTP:
slow work goes to a durable job table of the registering domain.

A write hands all it stored to :func:`project_all` at once. Resources are taken type
by type, in the order each type first appears; a projector registered with
:func:`register` sees them one at a time, in order, and one registered with
:func:`register_many` sees all of its type at once (a bulk import writes many
bundles together, so a domain can look up and insert in sets instead of row by
row). A projector must not assume that resources of another type in the same write
were, or were not, projected before its own: data arrives in any order across
bundles anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
ManyProjector = Callable[[Session, Sequence[StoredResource]], None]

_PROJECTORS: dict[str, list[Projector]] = {}
_MANY: dict[str, list[ManyProjector]] = {}


def register(resource_type: str, fn: Projector) -> Projector:
    """Run ``fn`` for every stored resource of ``resource_type`` (``"*"`` for all types)."""
    handlers = _PROJECTORS.setdefault(resource_type, [])
    if fn not in handlers:
        handlers.append(fn)
    return fn


def register_many(resource_type: str, fn: ManyProjector) -> ManyProjector:
    """Run ``fn`` once per write with all the stored resources of ``resource_type``."""
    handlers = _MANY.setdefault(resource_type, [])
    if fn not in handlers:
        handlers.append(fn)
    return fn


def unregister(resource_type: str, fn: Projector | ManyProjector) -> None:
    """Stop running ``fn`` (tests, and domains that are switched off)."""
    for table in (_PROJECTORS, _MANY):
        handlers: list[Any] = table.get(resource_type, [])
        if fn in handlers:
            handlers.remove(fn)


def project(session: Session, stored: StoredResource) -> None:
    """Hand one stored resource to its type's projectors, then to the catch-all ones."""
    project_all(session, [stored])


def project_all(session: Session, stored: Sequence[StoredResource]) -> None:
    """Hand a write's stored resources to the projectors, type by type (first appearance)."""
    by_type: dict[str, list[StoredResource]] = {}
    for s in stored:
        by_type.setdefault(s.resource_type, []).append(s)
    for rtype, items in by_type.items():
        for fn in _PROJECTORS.get(rtype, ()):
            for s in items:
                fn(session, s)
        for many in _MANY.get(rtype, ()):
            many(session, items)
    if stored:
        for fn in _PROJECTORS.get("*", ()):
            for s in stored:
                fn(session, s)
        for many in _MANY.get("*", ()):
            many(session, stored)


def registered() -> dict[str, list[Projector | ManyProjector]]:
    """Resource type → the projectors registered for it, one by one or many (a copy)."""
    out: dict[str, list[Projector | ManyProjector]] = {}
    for table in (_PROJECTORS, _MANY):
        for rtype, fns in table.items():
            if fns:
                out.setdefault(rtype, []).extend(fns)
    return out


def has_projectors() -> bool:
    return any(_PROJECTORS.values()) or any(_MANY.values())
