"""Concurrent submissions of the same resource or person leave one row (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.records.conftest import new_idcard, patient, visit_bundle
from yilian.db import make_sessionmaker, session_scope
from yilian.patients.models import Person, PersonIdentifier
from yilian.records import service
from yilian.records.models import FhirResource
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role

THREADS = 6


def _system(org: Organization) -> Principal:
    return Principal(
        subject=f"his-{org.id}", name="his", role=Role.system, organization_id=org.id, kind="client"
    )


def _run_together(engine: Engine, jobs: list[tuple[Principal, dict[str, Any]]]) -> list[Any]:
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def submit(n: int, principal: Principal, bundle: dict[str, Any]) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as s:
                results[n] = service.ingest_bundle(s, principal, bundle)
        except Exception as exc:  # reported by the assertion below
            results[n] = exc

    threads = [
        threading.Thread(target=submit, args=(n, p, copy.deepcopy(b)))
        for n, (p, b) in enumerate(jobs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _count(session: Session, model: Any) -> int:
    session.rollback()
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_the_same_bundle_sent_concurrently_is_stored_once(
    engine: Engine, session: Session, make_org: Callable[..., Organization]
) -> None:
    org = make_org()
    bundle = visit_bundle()
    results = _run_together(engine, [(_system(org), bundle)] * THREADS)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    locations = {
        tuple(e["response"]["location"].split("/_history")[0] for e in r["entry"]) for r in results
    }
    assert len(locations) == 1  # every sender was told the same ids
    assert _count(session, FhirResource) == 4
    assert _count(session, Person) == 1


def test_one_new_person_arriving_from_two_institutions_at_once_is_one_person(
    engine: Engine, session: Session, make_org: Callable[..., Organization]
) -> None:
    id_number = new_idcard()
    jobs = [
        (_system(make_org()), visit_bundle(patient(id_number=id_number, mrn=f"M{n}")))
        for n in range(THREADS)
    ]
    results = _run_together(engine, jobs)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert _count(session, FhirResource) == 4 * THREADS
    assert _count(session, Person) == 1
    reliable = select(func.count()).where(PersonIdentifier.kind == "idcard")
    assert session.execute(reliable).scalar_one() == 1
