"""医技预约中心 on both databases: 基层开单 → 中心检查 → 中心诊断, report back in the record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.referral.conftest import World
from yilian.db import utcnow
from yilian.kit.errors import Conflict, Forbidden, Unprocessable
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.referral import exams, service
from yilian.referral.models import ExamOrder, Slot
from yilian.referral.rules import ExamStatus, SlotKind, SlotStatus


def _ct_slot(session: Session, world: World, modality: str = "CT") -> Slot:
    start = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    schedule = service.publish_schedule(
        session,
        world.specialist,
        kind=SlotKind.exam,
        service=modality,
        start=start,
        end=start + timedelta(hours=2),
        capacity=8,
    )
    session.commit()
    return next(
        s
        for s in session.scalars(select(Slot).where(Slot.schedule_id == schedule.id))
        if s.reserved
    )


def test_order_book_examine_report_and_the_report_reaches_the_record(
    session: Session, world: World
) -> None:
    order = exams.order_exam(
        session,
        world.doctor,
        person_id=world.person_id,
        centre_organization_id=world.hospital.id,
        modality="CT",
        body_site="胸部",
        clinical_info="咳嗽 3 周，排除肺部占位",
    )
    session.commit()
    slot = _ct_slot(session, world)
    exams.book_exam(session, world.doctor, order.id, slot_id=slot.id)
    session.commit()
    assert order.status is ExamStatus.scheduled and order.appointment_at == slot.start
    with pytest.raises(Forbidden):
        exams.examine(session, world.doctor, order.id)
    exams.examine(session, world.specialist, order.id)
    exams.report(
        session,
        world.specialist,
        order.id,
        conclusion="双肺未见明显占位",
        findings="双肺纹理清晰。",
    )
    session.commit()
    assert order.status is ExamStatus.reported and order.report_resource_id
    # The ordering centre sees the report in its worklist …
    (row,) = exams.exam_worklist(session, world.doctor, side="ordering")
    assert row.status is ExamStatus.reported and row.conclusion == "双肺未见明显占位"
    assert row.centre_organization_name == "同仁医院"
    # … and it is in the person's longitudinal record, filed by the centre.
    ctx = records.ReadContext(world.doctor)
    patient_id = patients.record_ids_of(session, world.person_id)[0]
    found = [
        r
        for r in records.everything(session, ctx, patient_id)
        if r["resourceType"] == "DiagnosticReport"
    ]
    assert [r["conclusion"] for r in found] == ["双肺未见明显占位"]
    assert records.sources_of(session, found) == {
        f"DiagnosticReport/{found[0]['id']}": world.hospital.id
    }


def test_exam_refusals_leave_nothing_behind(session: Session, world: World) -> None:
    with pytest.raises(Unprocessable, match="modality"):
        exams.order_exam(
            session,
            world.doctor,
            person_id=world.person_id,
            centre_organization_id=world.hospital.id,
            modality="XR",
        )
    order = exams.order_exam(
        session,
        world.doctor,
        person_id=world.person_id,
        centre_organization_id=world.hospital.id,
        modality="MR",
    )
    session.commit()
    ct = _ct_slot(session, world, "CT")
    with pytest.raises(Unprocessable, match="CT slot"):
        exams.book_exam(session, world.doctor, order.id, slot_id=ct.id)
    with pytest.raises(Conflict, match="cannot report"):
        exams.report(session, world.specialist, order.id, conclusion="x")
    session.rollback()
    session.refresh(order)
    assert order.status is ExamStatus.ordered and order.report_resource_id is None
    mr = _ct_slot(session, world, "MR")
    exams.book_exam(session, world.doctor, order.id, slot_id=mr.id)
    exams.cancel_exam(session, world.doctor, order.id)
    session.commit()
    session.refresh(mr)
    assert mr.status is SlotStatus.open and order.status is ExamStatus.cancelled
    assert session.scalars(select(ExamOrder)).all() == [order]
