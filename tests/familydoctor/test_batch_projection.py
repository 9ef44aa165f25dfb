"""Set-wise projectors: a write's Patients, Observations and EpisodeOfCare taken in at once.

The result must be the one of taking them one by one, in order, including a person's
contract and its renewal or end in the same batch, a Patient sent twice and an issue
that a later episode of the batch resolves; and the batch must cost a bounded number of
statements where one by one pays several per resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import ADMIN
from tests.fixtures.statements import counting
from yilian.audit import service as audit
from yilian.familydoctor import episodes, service
from yilian.familydoctor.models import AbnormalResult, Contract, EpisodeIssue, Resident, Team
from yilian.familydoctor.schemas import ContractIn
from yilian.kit.crypto import get_cipher
from yilian.patients.models import Person
from yilian.records import projectors
from yilian.records.projectors import StoredResource
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.registry.schemas import PractitionerRoleFilter
from yilian.security.models import CareRelationship
from yilian.synth import fhir, geography

TODAY = service.today()
NOW = datetime.now(UTC)
D = timedelta(days=1)
OneByOne = dict[str, Callable[[Session, StoredResource], None]]
SetWise = dict[str, Callable[[Session, Sequence[StoredResource]], None]]
ONE: OneByOne = {
    "Patient": service.project_patient,
    "Observation": service.project_observation,
    "EpisodeOfCare": episodes.project_episode,
}
MANY: SetWise = {
    "Patient": service.project_patients,
    "Observation": service.project_observations,
    "EpisodeOfCare": episodes.project_episodes,
}


@dataclass
class Area:
    """The synthetic 长宁 registry with family-doctor teams at three centres."""

    orgs: dict[str, Organization]
    gps: dict[str, list[str]]  # centre code → licence numbers of its family doctors
    teams: dict[str, list[Team]]
    streets: dict[str, str]  # street name → region id

    def org(self, code: str) -> Organization:
        return self.orgs[code]


def _area(session: Session) -> Area:
    registry.load_registry(session, **geography.registry_payload())
    codes = ["310105C001", "310105C002", "310105C003", "310105S001", "310105H001", "310000H001"]
    orgs = {c: o for c in codes if (o := registry.get_organization_by_code(session, c))}
    gps: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    for code in codes[:3]:
        roles = registry.list_practitioner_roles(
            session, filters=PractitionerRoleFilter(organization_id=orgs[code].id), limit=500
        ).items
        doctors = sorted(
            r.practitioner_id for r in roles if getattr(r.role, "value", r.role) == "family_doctor"
        )
        ids[code] = doctors[:2]
        gps[code] = [str(registry.get_practitioner(session, p).license_no) for p in doctors[:2]]
    teams: dict[str, list[Team]] = {}
    # C001: a team per family doctor; C002: its only team; C003: two teams.
    for code, n in (("310105C001", 2), ("310105C002", 1), ("310105C003", 2)):
        for k in range(n):
            team = Team(organization_id=orgs[code].id, name=f"{k + 1:02d}团队")
            session.add(team)
            session.flush([team])
            service.add_member(session, team, "family_doctor", "医生", practitioner_id=ids[code][k])
            teams.setdefault(code, []).append(team)
    streets = {r.name: r.id for r in service.streets(session)}
    session.commit()
    return Area(orgs, gps, teams, streets)


def _patient(name: str, *, birth: str | None, street: str | None, phone: str | None) -> dict:
    res: dict[str, Any] = {"resourceType": "Patient", "name": [{"text": name}], "gender": "female"}
    if birth:
        res["birthDate"] = birth
    if street:
        res["address"] = [{"use": "home", "text": f"上海市长宁区{street}愚园路100弄3号"}]
    if phone:
        res["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
    return res


def _obs(value: float, *, interp: str | None = None, status: str = "final") -> dict:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "血糖"}]},
        "effectiveDateTime": f"{(TODAY - 3 * D).isoformat()}T08:00:00+08:00",
        "valueQuantity": {"value": value, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 6.1}}],
    }
    if interp:
        res["interpretation"] = [{"coding": [{"code": interp}]}]
    return res


def _episode(
    area: Area,
    centre: str,
    start: date,
    end: date,
    *,
    doctor: str | None = None,
    status: str = "active",
    combination: tuple[str, ...] = (),
    kind: str = "family-doctor-contract",
) -> dict:
    org = area.org(centre)
    res = fhir.contract_episode(
        org=centre,
        org_name=org.name,
        number=f"{centre}-{start.isoformat()}",
        subject={"reference": "Patient/x"},
        start=start.isoformat(),
        end=end.isoformat(),
        doctor=doctor or "",
        combination=[(c, area.org(c).name) for c in combination],
    )
    if doctor is None:
        del res["careManager"]
    res["status"] = status
    res["type"][0]["coding"][0]["code"] = kind
    return res


class Stream:
    """StoredResources as the store hands them over: ids, versions, who sent them."""

    def __init__(self, sender: Organization) -> None:
        self.sender = sender
        self.versions: dict[str, int] = {}

    def __call__(self, rid: str, person: str | None, res: dict[str, Any]) -> StoredResource:
        version = self.versions[rid] = self.versions.get(rid, 0) + 1
        return StoredResource(
            resource_type=res["resourceType"],
            id=rid,
            version_id=version,
            last_updated=NOW,
            person_id=person,
            source_org_id=self.sender.id,
            resource={**res, "id": rid},
            created=version == 1,
        )


def _sign(session: Session, team: Team, person: str, start: date, end: date | None = None) -> None:
    service.sign(
        session, ADMIN, ContractIn(person_ids=[person], team_id=team.id, start=start, end=end)
    )


def _before(session: Session, area: Area, put: Stream) -> None:
    """What an earlier write left: contracts signed at the centres, episodes, results."""
    for n in range(1, 23):
        session.add(Person(id=f"bp{n:02d}"))
    session.flush()
    c1, c2 = area.teams["310105C001"][0], area.teams["310105C002"][0]
    _sign(session, c2, "bp04", TODAY - 100 * D)  # E04 will find it: active elsewhere
    _sign(session, c1, "bp08", TODAY - 500 * D, TODAY - 136 * D)  # long over, still 'active'
    _sign(session, c1, "bp09", TODAY - 350 * D, TODAY + 14 * D)  # ends soon: E09 renews it
    _sign(session, c1, "bp10", TODAY - 100 * D)  # E10 overlaps it
    _sign(session, c1, "bp11", TODAY - 10 * D)  # E11 is an earlier term arriving late
    _sign(session, c1, "bp17", TODAY - 380 * D, TODAY - 16 * D)  # E17 renews it late
    gp = area.gps["310105C001"][0]
    earlier = [
        put("pat01", "bp01", _patient("张三", birth="1950-02-03", street="新华路街道",
                                      phone="13900000001")),
        put("e14", "bp14", _episode(area, "310105C001", TODAY - 20 * D, TODAY + 344 * D,
                                    doctor=gp)),
        put("e15", "bp15", _episode(area, "310105C001", TODAY - 5 * D, TODAY - 9 * D,
                                    doctor=gp)),  # end before start: an issue
        put("o18", "bp18", _obs(9.9)),
        put("o19", "bp19", _obs(8.8)),
    ]  # fmt: skip
    _one_by_one(session, earlier)
    session.commit()


def _batch(area: Area, put: Stream) -> list[StoredResource]:
    """One write: every path of the three projectors, several persons more than once."""
    c1, c2, c3 = "310105C001", "310105C002", "310105C003"
    gp_a, gp_b = area.gps[c1]
    return [
        put("pat01", "bp01", _patient("张三", birth=None, street="江苏路街道",
                                      phone="13900000002")),
        put("pat01", "bp01", _patient("张叁", birth=None, street=None, phone=None)),  # again
        put("pat02", "bp02", _patient("李四", birth="1960-01-01", street="华阳路街道", phone=None)),
        put("pat16", "bp16", _patient("王五", birth=(TODAY - 10 * D).isoformat(), street=None,
                                      phone="13900000016")),
        put("pat-x", None, _patient("无主", birth="1970-01-01", street=None, phone=None)),
        put("pat22", "bp22", _patient("赵六", birth="1945-03-04", street=None,
                                      phone="13900000022")),
        put("pat22", "bp22", _patient("赵六", birth=None, street="仙霞新村街道", phone=None)),
        put("o01", "bp02", _obs(12.4)),
        put("o02", "bp02", _obs(5.0)),
        put("o03", "bp03", _obs(5.0, interp="LL")),
        put("o04", "bp03", _obs(11.0)),
        put("o04", "bp03", _obs(5.5)),  # corrected in the same write: superseded
        put("o05", "bp05", _obs(15.0, status="entered-in-error")),
        put("o18", "bp18", _obs(5.2)),  # corrected: the earlier item is superseded
        put("o19", "bp19", _obs(18.8)),  # a new value for the earlier item
        put("o20", "bp20", _obs(7.7)),
        put("o20", "bp20", _obs(17.7)),
        put("e01a", "bp01", _episode(area, c1, TODAY - 300 * D, TODAY + 64 * D, doctor=gp_a,
                                     combination=("310105H001", "310000H001"))),
        put("e01b", "bp01", _episode(area, c1, TODAY + 65 * D, TODAY + 429 * D, doctor=gp_a)),
        put("e02", "bp02", _episode(area, c1, TODAY - 10 * D, TODAY + 354 * D, doctor=gp_b)),
        put("e02", "bp02", _episode(area, c1, TODAY - 10 * D, TODAY + 20 * D, doctor=gp_b,
                                    status="finished")),
        put("e03", "bp03", _episode(area, c1, TODAY - 5 * D, TODAY + 359 * D, doctor=gp_a)),
        put("e03", "bp03", _episode(area, c1, TODAY - 5 * D, TODAY + 359 * D,
                                    status="entered-in-error")),
        put("e04", "bp04", _episode(area, c1, TODAY - 5 * D, TODAY + 359 * D, doctor=gp_a)),
        put("e05", "bp05", _episode(area, c3, TODAY - 5 * D, TODAY + 359 * D, doctor="NOPE")),
        put("e06", "bp06", _episode(area, c1, TODAY - 5 * D, TODAY - 6 * D, doctor=gp_a)),
        put("e06", "bp06", _episode(area, c1, TODAY - 5 * D, TODAY + 359 * D, doctor=gp_a)),
        put("e07", "bp07", _episode(area, "310105H001", TODAY, TODAY + 364 * D)),
        put("e08", "bp08", _episode(area, c1, TODAY - 30 * D, TODAY + 334 * D, doctor=gp_b)),
        put("e09", "bp09", _episode(area, c1, TODAY, TODAY + 364 * D, doctor=gp_a)),
        put("e10", "bp10", _episode(area, c1, TODAY - 50 * D, TODAY + 314 * D, doctor=gp_a)),
        put("e11", "bp11", _episode(area, c1, TODAY - 400 * D, TODAY - 36 * D, doctor=gp_a)),
        put("e12", "bp12", _episode(area, "310105S001", TODAY - 7 * D, TODAY + 357 * D,
                                    doctor=gp_a)),
        put("e13", "bp13", _episode(area, c2, TODAY - 7 * D, TODAY + 357 * D)),
        put("e14", "bp14", _episode(area, c1, TODAY - 20 * D, TODAY + 200 * D, doctor=gp_a)),
        put("e15", "bp15", _episode(area, c1, TODAY - 5 * D, TODAY + 359 * D, doctor=gp_a)),
        put("e16", "bp16", _episode(area, c1, TODAY - 30 * D, TODAY + 334 * D, doctor=gp_a)),
        put("e17", "bp17", _episode(area, c1, TODAY - 5 * D, TODAY + 359 * D, doctor=gp_b)),
        put("e18", "bp18", _episode(area, c1, TODAY, TODAY + 364 * D, status="waitlist")),
        put("e19", "bp19", _episode(area, c1, TODAY, TODAY + 30 * D, kind="home-hospital-bed")),
        put("e20a", "bp20", _episode(area, c1, TODAY - 20 * D, TODAY + 344 * D, doctor=gp_b)),
        put("e20b", "bp20", _episode(area, c2, TODAY - 10 * D, TODAY + 354 * D)),
        put("e21", "bp21", _episode(area, c1, TODAY - 3 * D, TODAY + 361 * D, doctor=gp_a)),
        put("e21", "bp21", _episode(area, c1, TODAY - 3 * D, TODAY + 100 * D, doctor=gp_a)),
    ]  # fmt: skip


def _by_type(batch: Sequence[StoredResource]) -> dict[str, list[StoredResource]]:
    """The write's resources type by type, in the order each type first appears (project_all)."""
    out: dict[str, list[StoredResource]] = {}
    for s in batch:
        out.setdefault(s.resource_type, []).append(s)
    return out


def _one_by_one(session: Session, batch: Sequence[StoredResource]) -> None:
    for rtype, items in _by_type(batch).items():
        for s in items:
            ONE[rtype](session, s)


def _set_wise(session: Session, batch: Sequence[StoredResource]) -> None:
    for rtype, items in _by_type(batch).items():
        MANY[rtype](session, items)


def _rows(session: Session) -> dict[str, list[Any]]:
    """What the projectors wrote, without generated ids (contracts are named by source)."""
    session.flush()
    contracts = list(session.scalars(select(Contract)))
    name = {c.id: c.source_ref or f"api:{c.person_id}:{c.start}" for c in contracts}

    def when(t: datetime | None) -> Any:
        # An ended care relationship ends "now": the two runs differ by their duration.
        return "now" if t is not None and abs(t - datetime.now(UTC)) < timedelta(hours=1) else t

    cipher = get_cipher()
    return {
        "contracts": sorted(
            (c.person_id, name[c.id], c.organization_id, c.station_id, c.team_id,
             c.doctor_practitioner_id, c.district_hospital_id, c.city_hospital_id, c.start,
             c.end, c.status, c.ended_reason, name.get(c.renewed_from_id or ""))
            for c in contracts
        ),
        "issues": sorted(
            (i.source_ref, i.person_id, i.organization_id, i.reason_code, i.reason, i.status,
             i.resource.get("period"))
            for i in session.scalars(select(EpisodeIssue))
        ),
        "residents": sorted(
            (r.person_id, r.birth_date, r.gender, r.street_region_id, r.name_masked,
             cipher.decrypt(r.phone_encrypted) if r.phone_encrypted else None, r.phone_masked)
            for r in session.scalars(select(Resident))
        ),
        "abnormal": sorted(
            (a.resource_id, a.person_id, a.source_org_id, a.code, a.display, a.value, a.unit,
             a.flag, a.effective_on, a.status)
            for a in session.scalars(select(AbnormalResult))
        ),
        "relationships": sorted(
            (r.person_id, r.organization_id, r.kind, name[r.source.split(":", 1)[1]],
             r.valid_from, when(r.valid_to))
            for r in session.scalars(select(CareRelationship))
            if r.source.startswith("familydoctor:")
        ),
        "audit": [
            (e.action, e.resource_type, e.person_id, e.outcome) for e in audit.pending(session)
        ],
    }  # fmt: skip


@pytest.fixture
def area(session: Session) -> Area:
    return _area(session)


def test_set_wise_equals_one_by_one(session: Session, area: Area) -> None:
    """Every path, several episodes of one person in one write: the same rows either way."""
    put = Stream(area.org("310105C001"))
    _before(session, area, put)
    batch = _batch(area, put)
    _one_by_one(session, batch)
    expected = _rows(session)
    session.rollback()
    with _counted(session) as statements:
        _set_wise(session, batch)
        got = _rows(session)
    session.rollback()
    for table, rows in expected.items():
        assert got[table] == rows, table
    # Taken in as one set, not by the one-at-a-time fallback that a failed flush triggers.
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 1
    # The batch reaches what it was built for (the comparison is not of two empty sets).
    issues = {i[0].split("/")[1]: (i[3], i[5]) for i in got["issues"]}
    assert issues == {
        "e04": ("active_elsewhere", "open"), "e05": ("no_team", "open"),
        "e06": ("bad_period", "resolved"), "e07": ("no_centre", "open"),
        "e10": ("overlap", "open"), "e15": ("bad_period", "resolved"),
        "e16": ("bad_period", "open"), "e20b": ("active_elsewhere", "open"),
    }  # fmt: skip
    by_source = {c[1].split("/")[-1]: c for c in got["contracts"]}
    assert (by_source["e01a"][10], by_source["e01b"][10], by_source["e01b"][12]) == (
        "renewed", "active", "EpisodeOfCare/e01a")  # fmt: skip
    assert by_source["e01a"][6:8] == (area.org("310105H001").id, area.org("310000H001").id)
    assert (by_source["e02"][9], by_source["e02"][10]) == (TODAY + 20 * D, "ended")
    assert by_source["e03"][11] == "entered-in-error (EpisodeOfCare)"
    assert by_source["e08"][10] == "active" and by_source["e09"][12].startswith("api:bp09")
    assert (by_source["e11"][10], by_source["e12"][3]) == ("renewed", area.org("310105S001").id)
    assert by_source["e13"][4] == area.teams["310105C002"][0].id
    assert by_source["e14"][9] == TODAY + 200 * D and by_source["e17"][12].startswith("api:bp17")
    assert by_source["e21"][9] == TODAY + 100 * D
    residents = {r[0]: r for r in got["residents"]}
    assert residents["bp01"][1:] == (
        date(1950, 2, 3), "female", area.streets["江苏路街道"], "张*", "13900000002",
        "139****0002")  # fmt: skip
    assert residents["bp22"][1:] == (
        date(1945, 3, 4), "female", area.streets["仙霞新村街道"], "赵*", "13900000022",
        "139****0022")  # fmt: skip
    abnormal = {a[0]: (a[5], a[7], a[9]) for a in got["abnormal"]}
    assert abnormal == {
        "Observation/o01": (12.4, "H", "open"), "Observation/o03": (5.0, "LL", "open"),
        "Observation/o04": (11.0, "H", "superseded"), "Observation/o18": (9.9, "H", "superseded"),
        "Observation/o19": (18.8, "H", "open"), "Observation/o20": (17.7, "H", "open"),
    }  # fmt: skip


def test_registered_set_wise() -> None:
    """The store hands the family-doctor types over as sets, not one by one."""
    table = projectors.registered()
    for rtype, fn in MANY.items():
        assert fn in table.get(rtype, []), rtype
        assert ONE[rtype] not in table.get(rtype, []), rtype


def _counted(session: Session) -> AbstractContextManager[list[str]]:
    bind = session.get_bind()
    return counting(bind if isinstance(bind, Engine) else bind.engine)


# A batch of ~100 resources with 12 new contracts: the lookups of the batch (contracts,
# issues, birth dates, organisations, staff, teams), a savepoint, one insert per table
# and the care relationship of each new contract (two statements each, security's API).
STATEMENTS_PER_CONTRACT = 2
BATCH_STATEMENTS = 20


def test_statements_of_a_batch_are_bounded(session: Session, area: Area) -> None:
    """~100 resources cost a bounded number of statements; one by one costs several each."""
    put = Stream(area.org("310105C001"))
    for n in range(40):
        session.add(Person(id=f"sp{n:02d}"))
    session.commit()
    gps = area.gps["310105C001"]
    batch = [
        put(
            f"pat{n}",
            f"sp{n % 30:02d}",
            _patient(f"居民{n}", birth="1955-05-05", street="新华路街道", phone=f"139{n:08d}"),
        )
        for n in range(40)
    ] + [put(f"obs{n}", f"sp{n % 30:02d}", _obs(3.0 + n % 7 * 2)) for n in range(50)]
    batch += [
        put(f"ep{n}", f"sp{n:02d}", _episode(area, "310105C001", TODAY - n * D,
                                             TODAY + (364 - n) * D, doctor=gps[n % 2]))
        for n in range(12)
    ]  # fmt: skip
    with _counted(session) as one:
        _one_by_one(session, batch)
        session.flush()
    contracts = session.scalar(select(Contract.id).where(Contract.person_id == "sp11"))
    session.rollback()
    with _counted(session) as many:
        _set_wise(session, batch)
        session.flush()
    assert contracts is not None and len(batch) == 102
    bound = BATCH_STATEMENTS + STATEMENTS_PER_CONTRACT * 12
    assert len(many) <= bound, "\n".join(many)
    assert len(one) > 3 * bound


def test_a_contract_signed_meanwhile_undoes_only_its_episode(
    session: Session, area: Area, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's flush meets a contract it did not see: taken again one at a time.

    Another transaction signed the person after the batch read the open contracts (here:
    the read misses it). Only that episode becomes an issue; what the failed flush had
    recorded for the others is not audited twice.
    """
    put = Stream(area.org("310105C001"))
    for n in range(3):
        session.add(Person(id=f"rp{n}"))
    session.commit()
    _sign(session, area.teams["310105C002"][0], "rp1", TODAY - 30 * D)
    session.commit()
    gp = area.gps["310105C001"][0]
    batch = [
        put(f"r{n}", f"rp{n}", _episode(area, "310105C001", TODAY - D, TODAY + 363 * D, doctor=gp))
        for n in range(3)
    ]
    real = episodes.repo.open_contracts
    monkeypatch.setattr(
        episodes.repo,
        "open_contracts",
        lambda s, ids: [c for c in real(s, ids) if c.person_id != "rp1"],
    )
    with _counted(session) as statements:
        episodes.project_episodes(session, batch)
        session.flush()
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 1 + len(batch)
    signed = {c.person_id: c.organization_id for c in session.scalars(select(Contract))}
    assert signed == {
        "rp0": area.org("310105C001").id,
        "rp1": area.org("310105C002").id,
        "rp2": area.org("310105C001").id,
    }
    (issue,) = session.scalars(select(EpisodeIssue))
    assert (issue.source_ref, issue.reason_code, issue.status) == (
        "EpisodeOfCare/r1", "active_elsewhere", "open")  # fmt: skip
    assert "just signed by another team" in issue.reason
    audited = [(e.resource_type, e.action, e.person_id) for e in audit.pending(session)]
    assert audited == [
        ("CareRelationship", "create", "rp0"), ("FamilyDoctorContract", "create", "rp0"),
        ("FamilyDoctorEpisodeIssue", "create", "rp1"),
        ("CareRelationship", "create", "rp2"), ("FamilyDoctorContract", "create", "rp2"),
    ]  # fmt: skip
