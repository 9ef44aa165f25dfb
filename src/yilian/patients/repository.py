"""Every query of the master patient index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from yilian.db import chunks, insert_rows
from yilian.patients.models import (
    REVIEW_OPEN,
    MatchReview,
    Person,
    PersonBlockingKey,
    PersonIdentifier,
    PersonMerge,
    PersonMergeRecord,
    PersonRecord,
)

_PERSONS: Table = Person.__table__  # type: ignore[assignment]
_RECORDS: Table = PersonRecord.__table__  # type: ignore[assignment]
_IDENTIFIERS: Table = PersonIdentifier.__table__  # type: ignore[assignment]
_BLOCKING_KEYS: Table = PersonBlockingKey.__table__  # type: ignore[assignment]
_REVIEWS: Table = MatchReview.__table__  # type: ignore[assignment]

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


def persons_of_records(session: Session, resource_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(resource_ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(PersonRecord.resource_id, PersonRecord.person_id).where(
            PersonRecord.resource_id.in_(wanted[start : start + 500])
        )
        found.update((r, p) for r, p in session.execute(stmt))
    return found


def persons_by_identifier(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``kind:hash`` → person id for the (kind, hash) pairs that are known."""
    wanted = set(pairs)
    if not wanted:
        return {}
    # Two plain INs: the index (kind, value_hash) serves both, the statement is built and
    # cached once (a row-value IN makes SQLite scan the table; one OR branch per kind
    # costs more to build than to run). Pairs that only cross-match are dropped below.
    kinds = sorted({k for k, _h in wanted})
    found: dict[str, str] = {}
    for part in chunks(sorted({h for _k, h in wanted})):
        stmt = select(
            PersonIdentifier.kind, PersonIdentifier.value_hash, PersonIdentifier.person_id
        ).where(PersonIdentifier.kind.in_(kinds), PersonIdentifier.value_hash.in_(part))
        found.update(
            (f"{kind}:{h}", pid) for kind, h, pid in session.execute(stmt) if (kind, h) in wanted
        )
    return found


def identifier_hashes(
    session: Session, person_ids: Iterable[str]
) -> dict[str, set[tuple[str, str]]]:
    """Person id → the (kind, hash) pairs it holds, for persons holding any."""
    found: dict[str, set[tuple[str, str]]] = {}
    for part in chunks(sorted(set(person_ids))):
        stmt = select(
            PersonIdentifier.person_id, PersonIdentifier.kind, PersonIdentifier.value_hash
        ).where(PersonIdentifier.person_id.in_(part))
        for pid, kind, h in session.execute(stmt):
            found.setdefault(pid, set()).add((kind, h))
    return found


def identifiers_of(session: Session, person_id: str) -> list[PersonIdentifier]:
    stmt = select(PersonIdentifier).where(PersonIdentifier.person_id == person_id)
    return list(session.execute(stmt.order_by(PersonIdentifier.created_at)).scalars())


def _blocking_pairs(
    session: Session, by: Any, other: Any, values: Iterable[str]
) -> dict[str, set[str]]:
    """``by`` value → the ``other`` values of the blocking keys holding it (one IN list each)."""
    found: dict[str, set[str]] = {}
    for part in chunks(sorted(set(values))):
        for key, value in session.execute(select(by, other).where(by.in_(part))):
            found.setdefault(key, set()).add(value)
    return found


def blocking_key_hashes(session: Session, person_ids: Iterable[str]) -> dict[str, set[str]]:
    """Person id → the blocking-key hashes it holds, for persons holding any."""
    return _blocking_pairs(
        session, PersonBlockingKey.person_id, PersonBlockingKey.key_hash, person_ids
    )


def persons_by_blocking_keys(session: Session, key_hashes: Iterable[str]) -> dict[str, set[str]]:
    """Key hash → the persons holding it, for the keys some person holds."""
    return _blocking_pairs(
        session, PersonBlockingKey.key_hash, PersonBlockingKey.person_id, key_hashes
    )


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


def survivors(session: Session, person_ids: Iterable[str]) -> dict[str, str]:
    """:func:`survivor` of many person ids: one query per step of the longest merge chain."""
    now = {pid: pid for pid in set(person_ids)}
    todo = set(now)
    for _ in range(MAX_MERGE_DEPTH):
        moved: dict[str, str] = {}
        for part in chunks(sorted(todo)):
            stmt = select(Person.id, Person.merged_into).where(
                Person.id.in_(part), Person.merged_into.is_not(None)
            )
            moved.update((pid, into) for pid, into in session.execute(stmt) if into is not None)
        if not moved:
            return now
        now = {asked: moved.get(current, current) for asked, current in now.items()}
        todo = set(moved.values())
    stuck = sorted(asked for asked, current in now.items() if current in todo)
    raise RuntimeError(f"merge chain of person {stuck[0]} does not end")


def get_person(session: Session, person_id: str) -> Person | None:
    return session.get(Person, person_id)


def get_record(session: Session, record_id: str) -> PersonRecord | None:
    return session.get(PersonRecord, record_id)


def count_records(session: Session, person_id: str) -> int:
    stmt = select(func.count()).select_from(PersonRecord).where(PersonRecord.person_id == person_id)
    return int(session.execute(stmt).scalar_one())


def all_records(session: Session) -> list[PersonRecord]:
    return list(session.execute(select(PersonRecord).order_by(PersonRecord.id)).scalars())


def get_review(session: Session, review_id: str, *, for_update: bool = False) -> MatchReview | None:
    stmt = select(MatchReview).where(MatchReview.id == review_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def open_reviews(session: Session, limit: int, offset: int) -> tuple[list[MatchReview], int]:
    where = MatchReview.status == REVIEW_OPEN
    total = session.execute(select(func.count()).select_from(MatchReview).where(where))
    stmt = select(MatchReview).where(where).order_by(MatchReview.created_at, MatchReview.id)
    rows = session.execute(stmt.limit(limit).offset(offset)).scalars()
    return list(rows), int(total.scalar_one())


def open_review_of_record(session: Session, record_id: str) -> MatchReview | None:
    stmt = select(MatchReview).where(
        MatchReview.record_id == record_id, MatchReview.status == REVIEW_OPEN
    )
    return session.execute(stmt.limit(1)).scalar_one_or_none()


def lock_persons(session: Session, person_ids: Iterable[str]) -> dict[str, Person]:
    """The persons, locked against a concurrent merge (a no-op lock on SQLite)."""
    stmt = select(Person).where(Person.id.in_(sorted(set(person_ids)))).with_for_update()
    return {p.id: p for p in session.execute(stmt.order_by(Person.id)).scalars()}


def active_merge_of(session: Session, person_id: str) -> PersonMerge | None:
    stmt = select(PersonMerge).where(
        PersonMerge.person_id == person_id, PersonMerge.unmerged_at.is_(None)
    )
    stmt = stmt.order_by(PersonMerge.merged_at.desc()).limit(1)
    return session.execute(stmt).scalar_one_or_none()


def merged_record_ids(session: Session, merge_id: str) -> list[str]:
    stmt = select(PersonMergeRecord.record_id).where(PersonMergeRecord.merge_id == merge_id)
    return sorted(session.execute(stmt).scalars())


def records_by_ids(session: Session, record_ids: Iterable[str]) -> list[PersonRecord]:
    ids = sorted(set(record_ids))
    if not ids:
        return []
    stmt = select(PersonRecord).where(PersonRecord.id.in_(ids))
    return list(session.execute(stmt).scalars())


def all_person_ids(session: Session) -> list[str]:
    return list(session.execute(select(Person.id).order_by(Person.id)).scalars())


# Plain multi-row inserts (one executemany each) for the ingestion path: many small
# rows per arriving Patient, and many Patients per call.


def insert_persons(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, _PERSONS, rows)


def insert_records(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, _RECORDS, rows)


def insert_identifiers(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, _IDENTIFIERS, rows)


def insert_blocking_keys(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, _BLOCKING_KEYS, rows)


def insert_reviews(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, _REVIEWS, rows)
