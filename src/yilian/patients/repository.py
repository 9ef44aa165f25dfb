"""Every query of the master patient index."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from yilian.patients.models import Person, PersonBlockingKey, PersonIdentifier, PersonRecord

# A merge chain longer than this is a loop or corruption, not history.
MAX_MERGE_DEPTH = 20


def record_by_resource(session: Session, resource_id: str) -> PersonRecord | None:
    return session.execute(
        select(PersonRecord).where(PersonRecord.resource_id == resource_id)
    ).scalar_one_or_none()


def records_of(session: Session, person_ids: Iterable[str]) -> list[PersonRecord]:
    ids = list(person_ids)
    if not ids:
        return []
    stmt = select(PersonRecord).where(PersonRecord.person_id.in_(ids))
    return list(session.execute(stmt.order_by(PersonRecord.linked_at)).scalars())


def persons_by_identifier(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``kind:hash`` → person id for the (kind, hash) pairs that are known."""
    wanted = list(set(pairs))
    if not wanted:
        return {}
    stmt = select(PersonIdentifier.kind, PersonIdentifier.value_hash, PersonIdentifier.person_id)
    stmt = stmt.where(tuple_(PersonIdentifier.kind, PersonIdentifier.value_hash).in_(wanted))
    return {f"{kind}:{h}": pid for kind, h, pid in session.execute(stmt)}


def identifier_hashes(session: Session, person_id: str) -> set[tuple[str, str]]:
    stmt = select(PersonIdentifier.kind, PersonIdentifier.value_hash).where(
        PersonIdentifier.person_id == person_id
    )
    return {(kind, h) for kind, h in session.execute(stmt)}


def identifiers_of(session: Session, person_id: str) -> list[PersonIdentifier]:
    stmt = select(PersonIdentifier).where(PersonIdentifier.person_id == person_id)
    return list(session.execute(stmt.order_by(PersonIdentifier.created_at)).scalars())


def blocking_key_hashes(session: Session, person_id: str) -> set[str]:
    stmt = select(PersonBlockingKey.key_hash).where(PersonBlockingKey.person_id == person_id)
    return set(session.execute(stmt).scalars())


def persons_by_blocking_keys(session: Session, key_hashes: Iterable[str]) -> set[str]:
    keys = list(set(key_hashes))
    if not keys:
        return set()
    stmt = select(PersonBlockingKey.person_id).where(PersonBlockingKey.key_hash.in_(keys))
    return set(session.execute(stmt.distinct()).scalars())


def survivor(session: Session, person_id: str) -> str:
    """The person a (possibly merged) person id now stands for."""
    current = person_id
    for _ in range(MAX_MERGE_DEPTH):
        merged = session.execute(
            select(Person.merged_into).where(Person.id == current)
        ).scalar_one_or_none()
        if merged is None:
            return current
        current = merged
    raise RuntimeError(f"merge chain of person {person_id} does not end")
