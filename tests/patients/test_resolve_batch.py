"""resolve_patients: a batch links exactly as resolve_patient one by one, in few statements."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.fixtures.statements import counting as _counting
from tests.patients.synthetic import dataset
from yilian.kit import idcard
from yilian.patients import service
from yilian.patients.matching import MatchRecord
from yilian.patients.models import (
    LINK_AUTO,
    LINK_REVIEW,
    MatchReview,
    Person,
    PersonBlockingKey,
    PersonIdentifier,
    PersonRecord,
)
from yilian.patients.service import ArrivingPatient
from yilian.registry.models import Organization, Region

Body = dict[str, Any]
Stored = dict[str, Body]


def _fhir(rec: MatchRecord) -> Body:
    """A synthetic record as the Patient an institution sends."""
    idents = [{"system": f"https://his.example/{rec.source_org}/mrn", "value": rec.record_id}]
    for system, value in (
        (service.SID_ID_CARD, rec.id_number),
        (service.SID_INSURANCE_CARD, rec.insurance_no),
        (service.SID_HEALTH_CARD, rec.health_card_no),
    ):
        if value:
            idents.append({"system": system, "value": value})
    name: Body = {"use": "official"}
    if rec.full_name:
        name["text"] = rec.full_name
    if rec.family_name:
        name["family"] = rec.family_name
    if rec.given_name:
        name["given"] = [rec.given_name]
    body: Body = {"resourceType": "Patient", "id": rec.record_id, "identifier": idents}
    body["name"] = [name]
    if rec.sex:
        body["gender"] = {"1": "male", "2": "female"}.get(rec.sex, rec.sex)
    if rec.birth_date:
        body["birthDate"] = rec.birth_date
    if rec.phone:
        body["telecom"] = [{"system": "phone", "value": rec.phone}]
    if rec.address:
        body["address"] = [{"text": rec.address}]
    return body


def _patient(rid: str, name: str, birth: str, *idents: tuple[str, str], **more: Any) -> Body:
    body: Body = {
        "resourceType": "Patient",
        "id": rid,
        "identifier": [{"system": "https://his.example/mrn", "value": rid}]
        + [{"system": s, "value": v} for s, v in idents],
        "name": [{"use": "official", "text": name}],
        "gender": more.pop("gender", "female"),
        "birthDate": birth,
    }
    if "phone" in more:
        body["telecom"] = [{"system": "phone", "value": more.pop("phone")}]
    if "address" in more:
        body["address"] = [{"text": more.pop("address")}]
    assert not more
    return body


def _loader(stored: Stored) -> service.CandidateLoader:
    """Candidates as ingestion loads them: the stored Patients of the persons' records."""

    def load(session: Session, person_ids: list[str]) -> list[tuple[str, Body]]:
        owner = service.record_ids_by_person(session, person_ids)
        found = [(owner[rid], stored[rid]) for rid in owner if rid in stored]
        return sorted(found, key=lambda pair: pair[0])  # grouped by person, as asked

    return load


def _index(session: Session, items: list[ArrivingPatient], stored: Stored) -> list[str]:
    """resolve_patient one item after another, storing each Patient as ingestion does."""
    persons = []
    for item in items:
        persons.append(
            service.resolve_patient(
                session,
                item.patient,
                item.source_org_id,
                load_candidates=_loader(stored),
                new_resource=item.new_resource,
            )
        )
        stored[item.patient["id"]] = item.patient
    return persons


def _snapshot(session: Session, returned: list[str]) -> dict[str, Any]:
    """What the index holds, persons named by their records (generated ids differ per run)."""
    records = session.execute(select(PersonRecord)).scalars().all()
    members: dict[str, set[str]] = defaultdict(set)
    for r in records:
        members[r.person_id].add(r.resource_id)
    persons = set(session.execute(select(Person.id)).scalars())
    assert persons == set(members), "every person has a record"
    name = {pid: min(rids) for pid, rids in members.items()}
    resource_of = {r.id: r.resource_id for r in records}
    reviews = session.execute(select(MatchReview)).scalars().all()
    idents = session.execute(select(PersonIdentifier)).scalars().all()
    keys = session.execute(select(PersonBlockingKey)).scalars().all()
    return {
        "persons": sorted(sorted(rids) for rids in members.values()),
        "links": {r.resource_id: (name[r.person_id], r.link_status, r.score) for r in records},
        "returned": [name[p] for p in returned],
        "reviews": sorted(
            (resource_of[v.record_id], name[v.candidate_person_id], v.probability, v.status)
            for v in reviews
        ),
        "identifiers": sorted(
            (name[i.person_id], i.kind, i.value_hash, i.value_masked) for i in idents
        ),
        "keys": sorted((name[k.person_id], k.key_hash) for k in keys),
    }


@pytest.fixture
def org_ids(
    make_org: Callable[..., Organization], make_region: Callable[..., Region]
) -> Iterator[Callable[[str], str]]:
    """An organization id per synthetic institution code, created on first use."""
    region = make_region()
    made: dict[str, str] = {}

    def org(code: str) -> str:
        if code not in made:
            made[code] = make_org(region=region).id
        return made[code]

    yield org


def _id_number(seq: int) -> str:
    return idcard.make("310118", date(1968, 9, 14), seq, "male")


def _scenario(org: Callable[[str], str]) -> tuple[list[ArrivingPatient], list[ArrivingPatient]]:
    """(indexed before, the batch): a synthetic region's duplicates and one of each case."""
    records, _truth = dataset(70, seed=11)
    random.Random(5).shuffle(records)
    synthetic = [ArrivingPatient(_fhir(r), org(r.source_org or "")) for r in records]
    a, b, c = org("A"), org("B"), org("C")
    ins, sid = service.SID_INSURANCE_CARD, service.SID_ID_CARD
    home = "上海市青浦区朱家角镇新风路12号"
    stored_id = _patient("s-id", "赵国强", "1968-09-14", (sid, _id_number(1)), gender="male")
    resent = _patient("s-resent", "钱玉兰", "1955-01-30", phone="13700001111")
    before = [
        *synthetic[:60],
        ArrivingPatient(_patient("s-ins", "孙丽", "1979-05-06", (ins, "SH77001234")), a),
        ArrivingPatient(stored_id, a),
        ArrivingPatient(_patient("s-card", "周敏", "1982-07-01", (ins, "SH55000001")), a),
        ArrivingPatient(resent, b),
        ArrivingPatient(
            _patient("s-review", "王秀英", "1961-04-12", (ins, "SH20240001"), phone="13812345678"),
            a,
        ),
    ]
    one, id_1 = _id_number(2), _id_number(1)
    in_batch = _patient("b-new", "李建华", "1990-10-10")
    card = {"system": ins, "value": "SH99887766"}
    batch = [
        *synthetic[60:],
        # One 身份证号 from two institutions, the second with a lower-case check letter.
        ArrivingPatient(_patient("b-id-1", "吴志明", "1968-09-14", (sid, one), gender="male"), a),
        ArrivingPatient(
            _patient("b-id-2", "吴志明", "1968-09-14", (sid, one.lower()), gender="male"), b
        ),
        # 医保卡号 of a stored person, written another way.
        ArrivingPatient(_patient("b-ins", "孙丽", "1979-05-06", (ins, "sh 7700 1234")), b),
        # 身份证号 of one stored person, 医保卡号 of another: linked by the first, for review.
        ArrivingPatient(
            _patient("b-conflict", "赵国强", "1968-09-14", (sid, id_1), (ins, "SH55000001")),
            c,
        ),
        # No identifier: matched probabilistically against a person created in this batch.
        ArrivingPatient(
            _patient("b-prob-1", "张建国", "1950-02-03", phone="13912345678", address=home),
            a,
        ),
        ArrivingPatient(
            _patient("b-prob-2", "张建国", "1950-02-03", phone="139 1234 5678", address=home[3:]),
            b,
        ),
        # Day and month digits swapped: probable, not certain, against a stored person.
        ArrivingPatient(_patient("b-review", "王秀英", "1961-04-21"), b),
        # A stored Patient sent again with a new phone, and one this batch created.
        ArrivingPatient({**resent, "telecom": [{"system": "phone", "value": "13700002222"}]}, b),
        # Matched against the stored Patient as re-sent, not as stored before.
        ArrivingPatient(_patient("b-after-resend", "钱玉兰", "1955-01-30", phone="13700002222"), c),
        ArrivingPatient(in_batch, c, new_resource=True),
        ArrivingPatient({**in_batch, "identifier": [*in_batch["identifier"], card]}, c),
        # Not new to the caller, yet not indexed: linked like a new one.
        ArrivingPatient(_patient("b-unindexed", "陈芳", "1988-12-12", (ins, "SH99887766")), c),
    ]
    # Every third synthetic Patient comes without the caller saying it is new: looked up, not found.
    batch = [
        ArrivingPatient(i.patient, i.source_org_id, new_resource=n % 3 != 0)
        if i.patient["id"].startswith("ORG")
        else i
        for n, i in enumerate(batch)
    ]
    return before, batch


@pytest.fixture
def ordered_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Person ids in creation order: persons tied on probability then rank alike in both runs."""
    counter = itertools.count()
    monkeypatch.setattr(service, "new_id", lambda: f"{next(counter):032d}")


@pytest.mark.usefixtures("ordered_ids")
def test_batch_links_exactly_as_one_by_one(session: Session, org_ids: Callable[[str], str]) -> None:
    before, batch = _scenario(org_ids)

    stored: Stored = {}
    _index(session, before, stored)
    one_by_one = _snapshot(session, _index(session, batch, stored))
    session.rollback()

    stored = {}
    _index(session, before, stored)
    persons = service.resolve_patients(session, batch, load_candidates=_loader(stored))
    batched = _snapshot(session, persons)

    assert batched == one_by_one

    # The batch holds every case it claims to.
    links = one_by_one["links"]
    assert links["b-id-1"][0] == links["b-id-2"][0]
    assert links["b-id-2"][1:] == (LINK_AUTO, 1.0)
    assert links["b-ins"][0] == links["s-ins"][0]
    assert links["b-conflict"][0] == links["s-id"][0]
    assert links["b-conflict"][1:] == (LINK_REVIEW, 1.0)
    assert links["b-prob-2"][0] == links["b-prob-1"][0]
    assert links["b-prob-2"][1] == LINK_AUTO and 0.99 <= links["b-prob-2"][2] < 1.0
    assert links["b-review"][0] == "b-review" and links["b-review"][1] == LINK_REVIEW
    assert ("b-review", "s-review") in {r[:2] for r in one_by_one["reviews"]}
    assert links["b-unindexed"][0] == links["b-new"][0]  # by the 医保卡号 its re-send added
    resent = links["s-resent"][0]
    assert links["b-after-resend"][0] == resent
    phones = [i for i in one_by_one["identifiers"] if i[0] == resent and i[1] == "phone"]
    assert len(phones) == 2  # the stored one and the one it was re-sent with
    synthetic = [rid for rid in links if rid.startswith("ORG")]
    batch_ids = {i.patient["id"] for i in batch}
    assert len({links[r][0] for r in synthetic}) < len(synthetic)  # duplicates were found
    probabilistic = [
        r for r in synthetic if r in batch_ids and links[r][2] is not None and links[r][2] < 1.0
    ]
    assert probabilistic, "the synthetic batch has matches only the model makes"


def test_single_patient_goes_the_same_way(session: Session) -> None:
    first = _patient("one", "李娜", "1975-03-08", (service.SID_INSURANCE_CARD, "SH12345678"))
    second = _patient("two", "李娜", "1975-03-08", (service.SID_INSURANCE_CARD, "SH12345678"))
    person = service.resolve_patient(session, first, None, new_resource=True)
    assert service.resolve_patients(session, [ArrivingPatient(second, None)]) == [person]
    assert service.resolve_patients(session, []) == []


def test_a_patient_without_id_fails_the_batch_before_any_change(session: Session) -> None:
    good = _patient("fine", "李娜", "1975-03-08")
    bad = {k: v for k, v in _patient("x", "王芳", "1980-01-01").items() if k != "id"}
    items = [ArrivingPatient(good, None, new_resource=True), ArrivingPatient(bad, None)]
    with pytest.raises(ValueError, match=r"stored Patient's id \(item 1"):
        service.resolve_patients(session, items)
    assert session.execute(select(func.count()).select_from(Person)).scalar_one() == 0


def test_fifty_new_patients_take_a_bounded_number_of_statements(
    session: Session, engine: Engine
) -> None:
    records, _truth = dataset(60, seed=3)
    random.Random(2).shuffle(records)
    bodies = [_fhir(r) for r in records]
    before = [ArrivingPatient(b, None, new_resource=True) for b in bodies[:20]]
    batch = [ArrivingPatient(b, None, new_resource=True) for b in bodies[20:70]]
    assert len(batch) == 50

    stored: Stored = {}
    _index(session, before, stored)
    with _counting(engine) as statements:
        persons = service.resolve_patients(session, batch, load_candidates=_loader(stored))
    assert len(set(persons)) < len(batch)  # some matched a stored or an earlier person
    assert len(statements) < 15, "\n".join(statements)

    session.rollback()
    stored = {}
    _index(session, before, stored)
    with _counting(engine) as one_by_one:
        _index(session, batch, stored)
    assert len(one_by_one) > 15 * 10  # what the bound rules out
