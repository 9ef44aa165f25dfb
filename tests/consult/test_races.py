"""Concurrent signatures and opinions: one conclusion, one document, nothing half-written."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.consult.conftest import World
from yilian.consult import service
from yilian.consult.models import ConsultCase, ConsultOpinion
from yilian.consult.rules import CaseStatus, CaseType
from yilian.consult.schemas import CaseCreate, InvitationIn
from yilian.db import make_sessionmaker, session_scope
from yilian.kit.errors import Conflict
from yilian.records.models import FhirResource
from yilian.security.principal import Principal


def _race(engine: Engine, jobs: list[Callable[[Session], object]]) -> list[BaseException | None]:
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(len(jobs))
    results: list[BaseException | None] = [None] * len(jobs)

    def run(n: int) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as s:
                jobs[n](s)
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _case(session: Session, w: World) -> str:
    case = service.open_case(
        session,
        w.principal(w.requester),
        CaseCreate(
            case_type=CaseType.joint,
            title="联合会诊",
            person_id=w.person,
            items=w.items[1:2],
            questions=["方案？"],
            invitations=[
                InvitationIn(organization_id=w.suzhou.id, user_id=w.expert.id),
                InvitationIn(organization_id=w.jiashan.id, user_id=w.lead.id, is_lead=True),
            ],
            submit=True,
        ),
    )
    service.record_opinion(session, w.principal(w.expert), case.id, "意见")
    session.commit()
    return case.id


def _documents(session: Session) -> int:
    session.expire_all()
    stmt = select(func.count()).where(FhirResource.resource_type == "DocumentReference")
    return session.scalar(stmt) or 0


def test_two_concurrent_signatures_make_one_conclusion(
    session: Session, engine: Engine, world: World
) -> None:
    w = world
    cid = _case(session, w)
    signers: list[tuple[Principal, str]] = [
        (w.principal(w.requester), "申请方结论"),
        (w.principal(w.lead), "主持专家结论"),
    ]
    results = _race(
        engine,
        [lambda s, p=p, t=t: service.sign_conclusion(s, p, cid, t) for p, t in signers],
    )
    failures = [r for r in results if r is not None]
    assert len(failures) == 1 and isinstance(failures[0], Conflict), results
    session.expire_all()
    case = session.get(ConsultCase, cid)
    assert case is not None and case.status is CaseStatus.concluded
    assert case.conclusion in ("申请方结论", "主持专家结论")
    assert _documents(session) == 1


def test_opinion_racing_the_signature_is_either_in_or_refused(
    session: Session, engine: Engine, world: World
) -> None:
    w = world
    cid = _case(session, w)
    results = _race(
        engine,
        [
            lambda s: service.sign_conclusion(s, w.principal(w.requester), cid, "结论"),
            lambda s: service.record_opinion(s, w.principal(w.lead), cid, "并发意见"),
        ],
    )
    session.expire_all()
    opinions = session.scalar(select(func.count()).select_from(ConsultOpinion))
    assert results[0] is None  # the signature always goes through (an opinion exists)
    if results[1] is None:
        assert opinions == 2
    else:
        assert isinstance(results[1], Conflict) and opinions == 1
