"""The master patient index: deterministic links on reliable identifiers, nothing in clear."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.kit import idcard
from yilian.kit.crypto import get_cipher
from yilian.patients import service
from yilian.patients.models import (
    LINK_AUTO,
    LINK_REVIEW,
    PersonBlockingKey,
    PersonIdentifier,
    PersonRecord,
)
from yilian.registry.models import Organization

SID_ID = service.SID_ID_CARD
SID_INS = service.SID_INSURANCE_CARD
SID_HC = service.SID_HEALTH_CARD


def _patient(
    *identifiers: tuple[str, str], name: str = "李娜", phone: str | None = None
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": uuid.uuid4().hex,
        "identifier": [{"system": s, "value": v} for s, v in identifiers],
        "name": [{"text": name, "family": name[0], "given": [name[1:]]}],
        "gender": "female",
        "birthDate": "1975-03-08",
    }
    if phone:
        res["telecom"] = [{"system": "phone", "value": phone}]
    return res


def _id_number(seq: int = 7) -> str:
    return idcard.make("320509", date(1975, 3, 8), seq, "female")


@pytest.fixture
def two_orgs(make_org: Callable[..., Organization]) -> tuple[str, str]:
    return make_org().id, make_org().id


def test_same_idcard_from_two_institutions_is_one_person(
    session: Session, two_orgs: tuple[str, str]
) -> None:
    a, b = two_orgs
    number = _id_number()
    first = service.resolve_patient(session, _patient((SID_ID, number), ("https://a/mrn", "1")), a)
    second = service.resolve_patient(
        session, _patient((SID_ID, number.lower()), ("https://b/mrn", "1")), b
    )
    assert first == second
    records = session.execute(select(PersonRecord)).scalars().all()
    assert {r.link_status for r in records} == {LINK_AUTO}
    assert {r.score for r in records} == {None, 1.0}


@pytest.mark.parametrize("system", [SID_INS, SID_HC])
def test_insurance_or_health_card_links(
    session: Session, two_orgs: tuple[str, str], system: str
) -> None:
    a, b = two_orgs
    first = service.resolve_patient(session, _patient((system, "SH12345678")), a)
    second = service.resolve_patient(session, _patient((system, "sh 1234 5678")), b)
    assert first == second


def test_no_reliable_identifier_starts_a_new_person(
    session: Session, two_orgs: tuple[str, str]
) -> None:
    a, b = two_orgs
    first = service.resolve_patient(session, _patient(("https://a/mrn", "1")), a)
    # The same local number at another institution is someone else's record number.
    second = service.resolve_patient(session, _patient(("https://a/mrn", "1"), name="王芳"), b)
    assert first != second


def test_resolving_the_same_record_again_keeps_its_person(
    session: Session, two_orgs: tuple[str, str]
) -> None:
    pat = _patient(("https://a/mrn", "9"))
    first = service.resolve_patient(session, pat, two_orgs[0])
    pat["identifier"].append({"system": SID_ID, "value": _id_number(9)})
    assert service.resolve_patient(session, pat, two_orgs[0]) == first
    assert service.person_of_record(session, pat["id"]) == first
    assert service.record_ids_of(session, first) == [pat["id"]]


def test_invalid_check_digit_is_kept_but_links_no_one(session: Session) -> None:
    number = _id_number()
    wrong = number[:17] + ("1" if number[17] != "1" else "2")
    kinds = [
        i.kind
        for i in service.patient_identifiers(
            _patient(("https://a/mrn", "1"), (SID_ID, wrong)), None
        )
    ]
    assert "idcard" not in kinds  # unverified: not an identifier to link on
    assert kinds  # the local record number still is
    valid = [i.kind for i in service.patient_identifiers(_patient((SID_ID, number)), None)]
    assert valid == ["idcard"]


def test_identifiers_that_point_at_two_persons_link_for_review(
    session: Session, two_orgs: tuple[str, str]
) -> None:
    a, b = two_orgs
    by_id = service.resolve_patient(session, _patient((SID_ID, _id_number(1))), a)
    by_card = service.resolve_patient(session, _patient((SID_INS, "CARD000123")), a)
    assert by_id != by_card
    both = _patient((SID_ID, _id_number(1)), (SID_INS, "CARD000123"))
    assert service.resolve_patient(session, both, b) == by_id  # 身份证号 wins
    record = session.execute(
        select(PersonRecord).where(PersonRecord.resource_id == both["id"])
    ).scalar_one()
    assert record.link_status == LINK_REVIEW


def test_identifiers_are_never_stored_in_clear(session: Session) -> None:
    number = _id_number(3)
    phone = "13800138000"
    person = service.resolve_patient(
        session, _patient((SID_ID, number), ("https://a/mrn", "M-77"), phone=phone), None
    )
    rows = (
        session.execute(select(PersonIdentifier).where(PersonIdentifier.person_id == person))
        .scalars()
        .all()
    )
    assert {r.kind for r in rows} == {"idcard", "mrn", "phone"}
    cipher = get_cipher()
    for row in rows:
        for text in (row.value_hash, row.value_encrypted, row.value_masked):
            assert number not in text and phone not in text
    idc = next(r for r in rows if r.kind == "idcard")
    assert cipher.decrypt(idc.value_encrypted) == number
    assert idc.value_masked == number[:3] + "*" * 11 + number[-4:]
    assert idc.value_hash == cipher.keyed_hash(number, kind="idcard")
    keys = session.execute(select(PersonBlockingKey.key_hash)).scalars().all()
    assert keys and all(len(k) == 64 and "李" not in k for k in keys)
