"""The master patient index (主索引): link each arriving Patient record to one person.

Deterministic first: a 身份证号 whose check digit verifies, a 医保卡号 or an
电子健康卡号 already known makes the record that person's. Otherwise the
probabilistic matcher (``patients.matching``) scores candidates found by
blocking key; without a confident match the record starts a new person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import new_id, utcnow
from yilian.kit import idcard
from yilian.kit.crypto import IdentifierCipher, get_cipher, mask, mask_name
from yilian.kit.errors import Conflict, NotFound, Unprocessable
from yilian.kit.fhir import NAMESPACE
from yilian.patients import matching, rules
from yilian.patients import normalise as norm
from yilian.patients import repository as repo
from yilian.patients.models import (
    HEALTHCARD,
    IDCARD,
    INSURANCE,
    LINK_AUTO,
    LINK_MANUAL,
    LINK_REVIEW,
    MRN,
    PHONE,
    RELIABLE_KINDS,
    REVIEW_CONFIRMED,
    REVIEW_OPEN,
    REVIEW_REJECTED,
    MatchReview,
    Person,
    PersonMerge,
    PersonMergeRecord,
    PersonRecord,
)
from yilian.security.principal import Principal

log = logging.getLogger(__name__)

# National identifier systems. yilian's own (the synthetic region and the
# documented interface) first; add a province's OIDs here when one is agreed.
NS = NAMESPACE
SID_ID_CARD = f"{NS}/sid/resident-id-card"  # 居民身份证号 (GB 11643)
SID_INSURANCE_CARD = f"{NS}/sid/social-security-card"  # 社会保障卡号 / 医保卡号
SID_HEALTH_CARD = f"{NS}/sid/health-card"  # 电子健康卡号
IDENTIFIER_SYSTEMS = {
    SID_ID_CARD: IDCARD,
    SID_INSURANCE_CARD: INSURANCE,
    SID_HEALTH_CARD: HEALTHCARD,
}
# HL7 v2 table 0203 type codes that say "national person identifier of China".
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_IDCARD_TYPE_CODES = frozenset({"NNCHN"})
# Deterministic links prefer the strongest identifier when two disagree.
_PRIORITY = {IDCARD: 0, INSURANCE: 1, HEALTHCARD: 2}
_MPI_KEY_KIND = "mpi"

# (person id, a Patient resource of that person) for candidate persons.
CandidateLoader = Callable[[Session, list[str]], Iterable[tuple[str, dict[str, Any]]]]


@dataclass(frozen=True)
class PatientIdentifier:
    """One identifier of an arriving Patient, normalised; ``value`` never leaves this module."""

    kind: str
    value: str
    value_hash: str
    path: str  # FHIRPath of the element it came from, for error messages


def _kind(identifier: dict[str, Any]) -> str | None:
    system = identifier.get("system")
    if isinstance(system, str) and system in IDENTIFIER_SYSTEMS:
        return IDENTIFIER_SYSTEMS[system]
    for coding in (identifier.get("type") or {}).get("coding") or []:
        if coding.get("system") == V2_0203 and coding.get("code") in _IDCARD_TYPE_CODES:
            return IDCARD
    return MRN if system else None


def is_personal_identifier(identifier: dict[str, Any]) -> bool:
    """Whether an identifier is one a person carries everywhere (身份证号, 医保卡号, 健康卡号)."""
    return _kind(identifier) in RELIABLE_KINDS


def unverified_identifiers(patient: dict[str, Any]) -> list[dict[str, str]]:
    """The 身份证号 of a Patient that fail GB 11643: field and reason, value masked."""
    found: list[dict[str, str]] = []
    for i, ident in enumerate(patient.get("identifier") or []):
        raw = ident.get("value") if isinstance(ident, dict) else None
        if not isinstance(raw, str) or not raw.strip() or _kind(ident) != IDCARD:
            continue
        try:
            idcard.parse(norm.halfwidth(raw).replace(" ", ""))
        except idcard.InvalidIdCard as exc:
            found.append(
                {
                    "field": f"Patient.identifier[{i}].value",
                    "message": (
                        f"身份证号 {mask(raw)} is not a valid GB 11643 number ({exc}): stored, "
                        "but it links no one until corrected"
                    ),
                }
            )
    return found


def patient_identifiers(
    patient: dict[str, Any], source_org_id: str | None
) -> list[PatientIdentifier]:
    """The identifiers of a Patient resource that can be matched on.

    A 身份证号 that fails GB 11643 (a typo at registration) is not refused: refusing
    it would fail the institution's whole transaction. It is simply not a reliable
    identifier — it links no one deterministically, and the probabilistic matcher,
    whose id comparison tolerates a wrong digit, still sees it.
    """
    cipher = get_cipher()
    found: list[PatientIdentifier] = []
    for i, ident in enumerate(patient.get("identifier") or []):
        raw = ident.get("value")
        kind = _kind(ident)
        if not isinstance(raw, str) or not raw.strip() or kind is None:
            continue
        path = f"Patient.identifier[{i}].value"
        if kind == IDCARD:
            try:
                value = idcard.parse(norm.halfwidth(raw).replace(" ", "")).number
            except idcard.InvalidIdCard as exc:
                log.info("unverified 身份证号 %s at %s: %s", mask(raw), path, exc)
                continue
            found.append(PatientIdentifier(kind, value, cipher.keyed_hash(value, kind=kind), path))
        elif kind in (INSURANCE, HEALTHCARD):
            card = norm.normalise_card_no(raw)
            if card is not None:  # a placeholder (000000, 无) identifies no one
                found.append(
                    PatientIdentifier(kind, card, cipher.keyed_hash(card, kind=kind), path)
                )
        else:
            # A local record number is unique only within its institution and system.
            value = raw.strip()
            scoped = f"{source_org_id or ''}|{ident.get('system')}|{value}"
            found.append(PatientIdentifier(MRN, value, cipher.keyed_hash(scoped, kind=MRN), path))
    for i, telecom in enumerate(patient.get("telecom") or []):
        if telecom.get("system") != "phone":
            continue
        phone = norm.normalise_phone(telecom.get("value"))
        if phone is not None:
            path = f"Patient.telecom[{i}].value"
            found.append(
                PatientIdentifier(PHONE, phone, cipher.keyed_hash(phone, kind=PHONE), path)
            )
    return found


def match_record(
    patient: dict[str, Any], source_org_id: str | None, record_id: str = ""
) -> matching.MatchRecord:
    """The demographic fields of a Patient resource, as the matcher reads them."""
    names = patient.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = name.get("given") or []
    idents: dict[str, str] = {}
    for ident in patient.get("identifier") or []:
        kind = _kind(ident)
        if kind in RELIABLE_KINDS and isinstance(ident.get("value"), str):
            idents.setdefault(kind, ident["value"])
    phone = next(
        (t.get("value") for t in patient.get("telecom") or [] if t.get("system") == "phone"), None
    )
    addresses = patient.get("address") or []
    address = addresses[0].get("text") if addresses else None
    return matching.MatchRecord(
        record_id=record_id or str(patient.get("id") or ""),
        family_name=name.get("family"),
        given_name="".join(given) if given else None,
        full_name=name.get("text"),
        sex=patient.get("gender"),
        birth_date=patient.get("birthDate"),
        phone=phone,
        address=address,
        id_number=idents.get(IDCARD),
        insurance_no=idents.get(INSURANCE),
        health_card_no=idents.get(HEALTHCARD),
        source_org=source_org_id,
    )


def _key_hashes(keys: Iterable[str]) -> set[str]:
    cipher = get_cipher()
    return {cipher.keyed_hash(k, kind=_MPI_KEY_KIND) for k in keys}


class _CandidateFeatures:
    """The matcher's features of candidate Patients: each body normalised once, scored often."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[dict[str, Any], matching.Features]] = {}

    def __call__(self, patient: dict[str, Any], record_id: str) -> matching.Features:
        hit = self._seen.get(id(patient))
        if hit is None or hit[0] is not patient:
            hit = (patient, matching.features(match_record(patient, None)))
            self._seen[id(patient)] = hit
        return replace(hit[1], record_id=record_id)


def _rank(
    record: matching.MatchRecord | matching.Features,
    loaded: Sequence[tuple[str, dict[str, Any]]],
    features: _CandidateFeatures,
) -> list[tuple[str, float]]:
    """Score a record against candidates' Patients: (person, probability), most probable first.

    The Splink-trained matcher (``patients.matching``) plugs in here: candidates
    are the persons sharing a keyed-hash blocking key (``matching.lookup_keys``),
    and ``matching.match_one`` scores the record against their source Patient
    records, which the caller's ``load_candidates`` supplies (the index itself
    keeps no demographics in clear). Persons tied on probability keep the order
    of ``loaded``.
    """
    owner = {f"{pid}#{i}": pid for i, (pid, _p) in enumerate(loaded)}
    try:
        candidates = [
            features(patient, key) for key, (_pid, patient) in zip(owner, loaded, strict=True)
        ]
        scored = matching.match_one(record, candidates)
    except Exception:
        # A broken or mismatched model must not stop clinical data from arriving: the
        # record starts a new person and batch linking (``yilian link``) can merge it later.
        log.exception("probabilistic matching failed; the record starts a new person")
        return []
    best: dict[str, float] = {}
    for key, probability in scored:
        pid = owner[key]
        best[pid] = max(best.get(pid, 0.0), probability)
    return sorted(best.items(), key=lambda item: -item[1])


def _probabilistic_candidates(
    session: Session,
    record: matching.Features,
    load_candidates: CandidateLoader | None,
) -> list[tuple[str, float]]:
    """Persons the record may be, with match probability, most probable first.

    Without a loader there is nothing to score and the answer is ``[]``.
    """
    if load_candidates is None:
        return []
    owners = repo.persons_by_blocking_keys(session, _key_hashes(matching.lookup_keys(record)))
    persons = sorted(set().union(*owners.values()))
    if not persons:
        return []
    return _rank(record, list(load_candidates(session, persons)), _CandidateFeatures())


@dataclass(frozen=True)
class PreparedPatient:
    """What the index reads of a Patient body, worked out before the write (no database).

    Validation workers of a bulk import prepare it, so that the writer does not.
    """

    identifiers: list[PatientIdentifier]
    features: matching.Features
    key_hashes: frozenset[str]


def prepare_patient(patient: dict[str, Any], source_org_id: str | None) -> PreparedPatient:
    """Identifiers (checked: raises for an invalid one), match features and blocking keys."""
    identifiers = patient_identifiers(patient, source_org_id)
    features = matching.features(match_record(patient, source_org_id))
    return PreparedPatient(
        identifiers, features, frozenset(_key_hashes(matching.blocking_keys(features)))
    )


@dataclass(frozen=True)
class ArrivingPatient:
    """A Patient resource for the index: its stored body (``id`` set) and who sent it.

    ``new_resource``: the caller is storing this Patient for the first time, so no
    record of it can be in the index yet (saves the lookup).
    """

    patient: dict[str, Any]
    source_org_id: str | None
    new_resource: bool = False
    # prepare_patient(patient, source_org_id), when the caller has it already.
    prepared: PreparedPatient | None = None


@dataclass
class _Arrival:
    """An arriving Patient with what the index reads of it, computed once."""

    item: ArrivingPatient
    resource_id: str
    identifiers: list[PatientIdentifier]
    reliable: list[tuple[int, str]]  # (priority, "kind:hash") of its reliable identifiers
    features: matching.Features
    key_hashes: set[str]  # blocking keys its person will hold
    lookup: set[str] = field(default_factory=set)  # keys to find candidates by, if it needs them


@dataclass
class _Link:
    """Where an arrival goes: its person, and the record row when the record is new."""

    arrival: _Arrival
    person_id: str
    known: dict[str, str]  # "kind:hash" → person, of its reliable identifiers already held
    now: datetime
    fresh: bool = False  # the person is created for it
    record: dict[str, Any] | None = None
    review_of: str | None = None


class _Survivors:
    """Survivors of person ids, found in one query for all the ids the batch may ask about."""

    def __init__(self, session: Session, pending: set[str]) -> None:
        self._session = session
        self._pending = pending
        self._found: dict[str, str] = {}

    def created(self, person_id: str) -> None:
        self._found[person_id] = person_id

    def __call__(self, person_id: str) -> str:
        if person_id not in self._found:
            self._found.update(repo.survivors(self._session, self._pending | {person_id}))
            self._pending = set()
        return self._found[person_id]


class _CandidatePatients:
    """The Patient bodies of candidate persons, grouped by person in the order asked.

    Persons already indexed: what ``load_candidates`` answers, asked once per person.
    Records of the batch count as stored from the moment they are linked, with the body
    the batch last sent for them; the loader is never asked about them.
    """

    def __init__(self, session: Session, loader: CandidateLoader, created: set[str]) -> None:
        self._session = session
        self._loader = loader
        self._created = created  # persons created by the batch: nothing stored to load
        self._stored: dict[str, list[dict[str, Any]]] = {}
        self.added: dict[str, list[str]] = {}  # person → resource ids the batch linked to it
        self.latest: dict[str, dict[str, Any]] = {}  # resource id → body the batch last sent

    def load(self, person_ids: Iterable[str]) -> None:
        missing = sorted(set(person_ids) - self._stored.keys() - self._created)
        if not missing:
            return
        for pid in missing:
            self._stored[pid] = []
        for pid, patient in self._loader(self._session, missing):
            self._stored.setdefault(pid, []).append(patient)

    def of(self, person_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        self.load(person_ids)
        found: list[tuple[str, dict[str, Any]]] = []
        for pid in person_ids:
            for patient in self._stored.get(pid, ()):
                found.append((pid, self.latest.get(str(patient.get("id")), patient)))
            found.extend((pid, self.latest[rid]) for rid in self.added.get(pid, ()))
        return found


def _arrival(n: int, item: ArrivingPatient) -> _Arrival:
    patient = item.patient
    resource_id = patient.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        raise ValueError(f"resolve_patient needs the stored Patient's id (item {n} has none)")
    prepared = item.prepared or prepare_patient(patient, item.source_org_id)
    identifiers = prepared.identifiers
    features = replace(prepared.features, record_id=resource_id)
    return _Arrival(
        item=item,
        resource_id=resource_id,
        identifiers=identifiers,
        reliable=[
            (_PRIORITY[i.kind], f"{i.kind}:{i.value_hash}")
            for i in identifiers
            if i.kind in RELIABLE_KINDS
        ],
        features=features,
        key_hashes=set(prepared.key_hashes),
    )


def resolve_patients(
    session: Session,
    items: Sequence[ArrivingPatient],
    *,
    load_candidates: CandidateLoader | None = None,
    thresholds: rules.Thresholds | None = None,
) -> list[str]:
    """Link Patients to persons as :func:`resolve_patient` one after another would; their ids.

    Set-wise: one lookup each of the batch's reliable identifiers, of the records of
    re-sent Patients and of the blocking keys of those left to the matcher; one call
    of ``load_candidates`` for the indexed persons found; multi-row inserts. What an
    item adds (a person, an identifier, a blocking key, a record) is seen by the items
    after it, so one 身份证号 from two institutions in one batch is one person. The
    batch's own Patients count as stored once linked: later items are scored against
    their bodies, and ``load_candidates`` is asked only about persons indexed before
    (it must answer with the person ids it was asked about).
    """
    thresholds = thresholds or configured_thresholds()
    arrivals = [_arrival(n, item) for n, item in enumerate(items)]
    if not arrivals:
        return []
    pairs = {(i.kind, i.value_hash) for a in arrivals for i in a.identifiers}
    in_index = repo.persons_by_identifier(
        session, {(kind, h) for kind, h in pairs if kind in RELIABLE_KINDS}
    )
    indexed = repo.persons_of_records(
        session, [a.resource_id for a in arrivals if not a.item.new_resource]
    )
    if load_candidates is not None:
        # The matcher takes those whose identifiers no one holds and whose record is not
        # indexed. Once an item is linked its reliable identifiers are held, by someone.
        held, seen = set(in_index), set(indexed)
        for a in arrivals:
            keys = {key for _prio, key in a.reliable}
            resent = not a.item.new_resource and a.resource_id in seen
            if not resent and held.isdisjoint(keys):
                a.lookup = _key_hashes(matching.lookup_keys(a.features))
            held |= keys
            seen.add(a.resource_id)
    key_owners = repo.persons_by_blocking_keys(session, set().union(*(a.lookup for a in arrivals)))
    found_by_key: set[str] = set().union(*key_owners.values())
    survivor = _Survivors(session, set(in_index.values()) | set(indexed.values()) | found_by_key)
    created: set[str] = set()
    bodies = None
    if load_candidates is not None:
        bodies = _CandidatePatients(session, load_candidates, created)
        bodies.load(found_by_key)
    features = _CandidateFeatures()

    # What the batch adds, for the items after: "kind:hash" → person of the reliable
    # identifiers, resource id → person of the records, key hash → persons.
    added_known: dict[str, str] = {}
    added_records: dict[str, str] = {}
    added_keys: dict[str, set[str]] = {}

    def ranked(a: _Arrival) -> list[tuple[str, float]]:
        persons: set[str] = set()
        for key_hash in a.lookup:
            persons |= key_owners.get(key_hash, set()) | added_keys.get(key_hash, set())
        if bodies is None or not persons:
            return []
        return _rank(a.features, bodies.of(sorted(persons)), features)

    links: list[_Link] = []
    for a in arrivals:
        known = {
            key: owner
            for _prio, key in a.reliable
            if (owner := in_index.get(key) or added_known.get(key))
        }
        previous = None
        if not a.item.new_resource:
            previous = indexed.get(a.resource_id) or added_records.get(a.resource_id)
        if previous is not None:
            link = _Link(a, survivor(previous), known, utcnow())
        else:
            person_id, status, score, review_of = _decide(a, known, survivor, ranked, thresholds)
            fresh = person_id is None
            if person_id is None:
                person_id = new_id()
                created.add(person_id)
                survivor.created(person_id)
            now = utcnow()
            record = {
                "id": new_id(),
                "person_id": person_id,
                "resource_id": a.resource_id,
                "source_org_id": a.item.source_org_id,
                "link_status": status,
                "score": score,
                "linked_at": now,
            }
            link = _Link(a, person_id, known, now, fresh=fresh, record=record, review_of=review_of)
            added_records[a.resource_id] = person_id
            if bodies is not None:
                bodies.added.setdefault(person_id, []).append(a.resource_id)
        links.append(link)
        if bodies is not None:
            bodies.latest[a.resource_id] = a.item.patient
        for _prio, key in a.reliable:
            if key not in known:  # an identifier someone holds stays theirs
                added_known[key] = link.person_id
        for key_hash in a.key_hashes:
            added_keys.setdefault(key_hash, set()).add(link.person_id)
    _store(session, links, created)
    return [link.person_id for link in links]


def _decide(
    a: _Arrival,
    known: dict[str, str],
    survivor: Callable[[str], str],
    ranked: Callable[[_Arrival], list[tuple[str, float]]],
    thresholds: rules.Thresholds,
) -> tuple[str | None, str, float | None, str | None]:
    """(person or ``None`` for a new one, link status, score, person to review against)."""
    owners = sorted({(prio, known[key]) for prio, key in a.reliable if key in known})
    if owners:
        # Its identifiers pointing at different persons: linked to the strongest's, for review.
        status = LINK_REVIEW if len({p for _prio, p in owners}) > 1 else LINK_AUTO
        return survivor(owners[0][1]), status, 1.0, None
    candidates = ranked(a)
    if candidates:
        best, probability = candidates[0]
        decision = rules.decide(probability, thresholds)
        if decision == "link":
            return survivor(best), LINK_AUTO, probability, None
        if decision == "review":
            # Until a person decides, the record stands on its own (a new person).
            return None, LINK_REVIEW, probability, survivor(best)
    return None, LINK_AUTO, None, None


def _store(session: Session, links: list[_Link], created: set[str]) -> None:
    """Insert what the links add: persons, records, new identifiers and blocking keys, reviews."""
    indexed = sorted({link.person_id for link in links} - created)
    have = repo.identifier_hashes(session, indexed)
    held = repo.blocking_key_hashes(session, indexed)
    cipher = get_cipher()
    persons: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    identifiers: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    for link in links:
        pid, record = link.person_id, link.record
        if link.fresh:
            persons.append({"id": pid, "created_at": link.now})
        if record is not None:
            records.append(record)
            if link.review_of is not None:
                reviews.append(
                    {
                        "id": new_id(),
                        "record_id": record["id"],
                        "candidate_person_id": link.review_of,
                        "probability": record["score"],
                        "status": REVIEW_OPEN,
                        "created_at": link.now,
                    }
                )
        identifiers += _identifier_rows(
            pid, link.arrival.identifiers, link.known, have.setdefault(pid, set()), cipher, link.now
        )
        keys += _key_rows(pid, link.arrival.key_hashes, held.setdefault(pid, set()))
    # Plain inserts, not ORM objects: a new Patient adds some fifteen rows, and the unit
    # of work's bookkeeping for them cost more than the statements.
    repo.insert_persons(session, persons)
    repo.insert_records(session, records)
    repo.insert_identifiers(session, identifiers)
    repo.insert_blocking_keys(session, keys)
    repo.insert_reviews(session, reviews)


def _identifier_rows(
    person_id: str,
    identifiers: list[PatientIdentifier],
    known: dict[str, str],
    have: set[tuple[str, str]],
    cipher: IdentifierCipher,
    now: datetime,
) -> list[dict[str, Any]]:
    """Rows of the identifiers the person does not hold yet; ``have`` gains them."""
    rows: list[dict[str, Any]] = []
    for ident in identifiers:
        pair = (ident.kind, ident.value_hash)
        if pair in have:
            continue
        # A reliable identifier another person holds stays theirs (the link is under review).
        if ident.kind in RELIABLE_KINDS and known.get(f"{ident.kind}:{ident.value_hash}"):
            continue
        have.add(pair)
        rows.append(
            {
                "id": new_id(),
                "person_id": person_id,
                "kind": ident.kind,
                "value_hash": ident.value_hash,
                "value_encrypted": cipher.encrypt(ident.value),
                "value_masked": mask(ident.value),
                "created_at": now,
            }
        )
    return rows


def _key_rows(person_id: str, key_hashes: set[str], held: set[str]) -> list[dict[str, Any]]:
    """Rows of the blocking keys the person does not hold yet; ``held`` gains them."""
    new = sorted(key_hashes - held)
    held.update(new)
    return [{"person_id": person_id, "key_hash": key_hash} for key_hash in new]


def resolve_patient(
    session: Session,
    patient: dict[str, Any],
    source_org_id: str | None,
    *,
    load_candidates: CandidateLoader | None = None,
    thresholds: rules.Thresholds | None = None,
    new_resource: bool = False,
) -> str:
    """Link the Patient resource (its ``id`` set) to a person, creating one if needed; the id.

    ``new_resource``: the caller is storing this Patient for the first time, so no
    record of it can be in the index yet (saves the lookup).
    """
    item = ArrivingPatient(patient, source_org_id, new_resource)
    return resolve_patients(
        session, [item], load_candidates=load_candidates, thresholds=thresholds
    )[0]


def person_of_record(session: Session, resource_id: str) -> str | None:
    """The (surviving) person a stored Patient resource is linked to."""
    record = repo.record_by_resource(session, resource_id)
    return None if record is None else repo.survivor(session, record.person_id)


def persons_of_records(session: Session, resource_ids: Iterable[str]) -> dict[str, str]:
    """Patient resource id → the person it is linked to now (records move on merge/unmerge)."""
    return repo.persons_of_records(session, resource_ids)


def record_ids_by_person(session: Session, person_ids: Iterable[str]) -> dict[str, str]:
    """Patient resource id → person, for every record linked to these persons."""
    wanted = sorted(set(person_ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        part = repo.records_of(session, wanted[start : start + 500])
        found.update((r.resource_id, r.person_id) for r in part)
    return found


def record_ids_of(session: Session, person_id: str) -> list[str]:
    """The Patient resource ids linked to a person."""
    return [r.resource_id for r in repo.records_of(session, [person_id])]


# ------------------------------------------------------------------ persons and merges


def current_person_id(session: Session, person_id: str) -> str:
    """The person id a (possibly merged) person id now stands for; 404 if unknown."""
    if repo.get_person(session, person_id) is None:
        raise NotFound(f"no person {person_id}")
    return repo.survivor(session, person_id)


def _move_records(session: Session, merge: PersonMerge, records: Iterable[PersonRecord]) -> int:
    moved = 0
    for record in records:
        record.person_id = merge.into_person_id
        session.add(PersonMergeRecord(merge_id=merge.id, record_id=record.id))
        moved += 1
    return moved


def merge(
    session: Session, principal: Principal | None, person_id: str, *, into: str, reason: str
) -> PersonMerge:
    """Merge a person into a survivor: its records move, its id redirects there (合并)."""
    if person_id == into:
        raise Unprocessable("a person cannot be merged into itself", field="into")
    persons = repo.lock_persons(session, [person_id, into])
    if person_id not in persons:
        raise NotFound(f"no person {person_id}")
    if into not in persons:
        raise NotFound(f"no person {into}", field="into")
    source, target = persons[person_id], persons[into]
    if source.merged_into is not None:
        raise Conflict(f"person {person_id} is already merged into {source.merged_into}")
    # A survivor that is not itself merged also rules out a merge cycle.
    if target.merged_into is not None:
        raise Conflict(
            f"person {into} is merged into {target.merged_into}: merge into the survivor",
            field="into",
        )
    entry = PersonMerge(
        id=new_id(),
        person_id=person_id,
        into_person_id=into,
        reason=reason,
        merged_by=principal.subject if principal else None,
    )
    session.add(entry)
    session.flush([entry])
    moved = _move_records(session, entry, repo.records_of(session, [person_id]))
    source.merged_into = into
    session.flush()
    audit.record(
        session,
        principal,
        action="mpi.merge",
        resource_type="Person",
        resource_id=person_id,
        person_id=into,
        outcome="success",
        detail={"merge_id": entry.id, "into": into, "records": moved, "reason": reason},
    )
    return entry


def unmerge(
    session: Session, principal: Principal | None, person_id: str, *, reason: str
) -> PersonMerge:
    """Undo the merge of a person: exactly the records it brought go back to it (拆分)."""
    persons = repo.lock_persons(session, [person_id])
    if person_id not in persons:
        raise NotFound(f"no person {person_id}")
    source = persons[person_id]
    entry = repo.active_merge_of(session, person_id)
    if source.merged_into is None or entry is None or entry.into_person_id != source.merged_into:
        raise Conflict(f"person {person_id} is not merged")
    target = repo.lock_persons(session, [entry.into_person_id])[entry.into_person_id]
    if target.merged_into is not None:
        # Its records moved on with the survivor's own merge: undo that one first.
        raise Conflict(
            f"person {target.id} was merged into {target.merged_into} since: unmerge it first"
        )
    records = repo.records_by_ids(session, repo.merged_record_ids(session, entry.id))
    for record in records:
        record.person_id = person_id
    source.merged_into = None
    entry.unmerged_at = utcnow()
    entry.unmerged_by = principal.subject if principal else None
    entry.unmerge_reason = reason
    session.flush()
    audit.record(
        session,
        principal,
        action="mpi.unmerge",
        resource_type="Person",
        resource_id=person_id,
        person_id=person_id,
        outcome="success",
        detail={"merge_id": entry.id, "from": target.id, "records": len(records), "reason": reason},
    )
    return entry


# ---------------------------------------------------------------------- review queue


@dataclass(frozen=True)
class PatientSummary:
    """What a reviewer sees of a Patient record: masked, never an identifier in clear."""

    resource_id: str
    name: str
    gender: str | None
    birth_date: str | None
    identifiers: list[tuple[str, str]]  # (kind, masked value)
    phone: str


@dataclass(frozen=True)
class ReviewView:
    review: MatchReview
    record: PersonRecord
    record_patient: PatientSummary | None
    candidate_person_id: str  # the survivor, when the candidate was merged since
    candidate_patients: list[PatientSummary]


def summarise(patient: dict[str, Any]) -> PatientSummary:
    """The masked demographics of a Patient resource, for display."""
    record = match_record(patient, None)
    name = record.full_name or f"{record.family_name or ''}{record.given_name or ''}"
    idents = [
        (kind, mask(value))
        for kind, value in (
            (IDCARD, record.id_number),
            (INSURANCE, record.insurance_no),
            (HEALTHCARD, record.health_card_no),
        )
        if value
    ]
    birth = patient.get("birthDate")
    return PatientSummary(
        resource_id=str(patient.get("id") or ""),
        name=mask_name(name),
        gender=record.sex,
        birth_date=birth if isinstance(birth, str) else None,
        identifiers=idents,
        phone=mask(record.phone),
    )


def open_reviews(
    session: Session, load_patients: CandidateLoader, *, limit: int, offset: int
) -> tuple[list[ReviewView], int]:
    """The undecided match reviews, with both sides' masked demographics."""
    reviews, total = repo.open_reviews(session, limit, offset)
    records = {r.id: r for r in repo.records_by_ids(session, [v.record_id for v in reviews])}
    candidates = {v.id: repo.survivor(session, v.candidate_person_id) for v in reviews}
    wanted = {r.person_id for r in records.values()} | set(candidates.values())
    wanted |= {v.candidate_person_id for v in reviews}
    by_person: dict[str, list[dict[str, Any]]] = {}
    by_resource: dict[str, dict[str, Any]] = {}
    for pid, patient in load_patients(session, sorted(wanted)):
        by_person.setdefault(repo.survivor(session, pid), []).append(patient)
        by_resource[str(patient.get("id"))] = patient
    views = []
    for review in reviews:
        record = records[review.record_id]
        own = by_resource.get(record.resource_id)
        candidate = candidates[review.id]
        views.append(
            ReviewView(
                review=review,
                record=record,
                record_patient=summarise(own) if own is not None else None,
                candidate_person_id=candidate,
                candidate_patients=[summarise(p) for p in by_person.get(candidate, [])],
            )
        )
    return views, total


def decide_review(
    session: Session,
    principal: Principal | None,
    review_id: str,
    *,
    confirm: bool,
    reason: str | None = None,
) -> MatchReview:
    """Confirm (the record is the candidate person's) or reject (it stays apart) a review."""
    review = repo.get_review(session, review_id, for_update=True)
    if review is None:
        raise NotFound(f"no match review {review_id}")
    if review.status != REVIEW_OPEN:
        raise Conflict(f"match review {review_id} is already {review.status}")
    record = repo.get_record(session, review.record_id)
    if record is None:  # the foreign key forbids it; a guard for the type checker
        raise NotFound(f"no record of match review {review_id}")
    detail: dict[str, object] = {"record_id": record.id, "probability": review.probability}
    person_id = record.person_id
    if confirm:
        target = repo.survivor(session, review.candidate_person_id)
        own = repo.survivor(session, record.person_id)
        if own != target:
            if repo.count_records(session, own) == 1:
                # The record's provisional person holds nothing else: merging it keeps its
                # id (and whatever already refers to it) pointing at the right person.
                merged = merge(session, principal, own, into=target, reason="match review")
                detail["merge_id"] = merged.id
            else:
                record.person_id = target
        person_id = target
    record.link_status = LINK_MANUAL
    review.status = REVIEW_CONFIRMED if confirm else REVIEW_REJECTED
    review.decided_by = principal.subject if principal else None
    review.decided_at = utcnow()
    review.reason = reason
    session.flush()
    if reason:
        detail["reason"] = reason
    audit.record(
        session,
        principal,
        action="mpi.review.confirm" if confirm else "mpi.review.reject",
        resource_type="MatchReview",
        resource_id=review.id,
        person_id=person_id,
        outcome="success",
        detail=detail,
    )
    return review


# ------------------------------------------------------------------------- $match

MATCH_GRADES = ("certain", "probable", "possible")


@dataclass(frozen=True)
class MatchCandidate:
    person_id: str
    probability: float
    grade: str  # certain | probable | possible (FHIR match-grade)
    patient: dict[str, Any]  # one stored Patient of the person, identifiers masked


def configured_thresholds() -> rules.Thresholds:
    """The link and review thresholds of this installation (YILIAN_MPI_*_THRESHOLD)."""
    settings = get_settings()
    return rules.Thresholds(link=settings.mpi_link_threshold, review=settings.mpi_review_threshold)


def match_grade(probability: float, thresholds: rules.Thresholds) -> str:
    """The FHIR match-grade of a probability: link → certain, review → probable, else possible."""
    decision = rules.decide(probability, thresholds)
    return {"link": "certain", "review": "probable"}.get(decision, "possible")


def _masked_patient(patient: dict[str, Any]) -> dict[str, Any]:
    out = dict(patient)
    out["identifier"] = [
        {**i, "value": mask(i["value"])} if isinstance(i.get("value"), str) else i
        for i in patient.get("identifier") or []
    ]
    if patient.get("telecom"):
        out["telecom"] = [
            {**t, "value": mask(t["value"])} if isinstance(t.get("value"), str) else t
            for t in patient["telecom"]
        ]
    return out


def find_matches(
    session: Session,
    principal: Principal | None,
    patient: dict[str, Any],
    load_patients: CandidateLoader,
    *,
    thresholds: rules.Thresholds | None = None,
    only_certain: bool = False,
    count: int | None = None,
) -> list[MatchCandidate]:
    """The persons a Patient may be, most probable first; creates and links nothing ($match)."""
    thresholds = thresholds or configured_thresholds()
    identifiers = patient_identifiers(patient, None)
    reliable = [i for i in identifiers if i.kind in RELIABLE_KINDS]
    known = repo.persons_by_identifier(session, [(i.kind, i.value_hash) for i in reliable])
    best: dict[str, float] = dict.fromkeys(known.values(), 1.0)
    record = matching.features(match_record(patient, None))
    for pid, probability in _probabilistic_candidates(session, record, load_patients):
        best[pid] = max(best.get(pid, 0.0), probability)
    by_survivor: dict[str, float] = {}
    for pid, probability in best.items():
        current = repo.survivor(session, pid)
        by_survivor[current] = max(by_survivor.get(current, 0.0), probability)
    raw = sorted(best)
    shown: dict[str, dict[str, Any]] = {}
    for pid, body in load_patients(session, raw):
        shown.setdefault(repo.survivor(session, pid), body)
    found = [
        MatchCandidate(pid, p, match_grade(p, thresholds), _masked_patient(shown[pid]))
        for pid, p in sorted(by_survivor.items(), key=lambda item: (-item[1], item[0]))
        if pid in shown
    ]
    if only_certain:
        found = [c for c in found if c.grade == "certain"]
    found = found[:count] if count is not None else found
    audit.record(
        session,
        principal,
        action="match",
        resource_type="Patient",
        outcome="success",
        detail={"candidates": len(found), "certain": sum(c.grade == "certain" for c in found)},
    )
    return found


# ----------------------------------------------------------------------- batch link


@dataclass(frozen=True)
class RelinkSummary:
    records: int
    persons: int  # persons the store's records form after the re-link
    new_persons: int
    moved: int  # records now linked to a different person
    retired: int  # persons left without records, merged into where their records went
    reviews: int  # new match reviews
    dry_run: bool

    def line(self) -> str:
        prefix = "dry run: would re-link" if self.dry_run else "re-linked"
        return (
            f"{prefix} {self.records} records into {self.persons} persons: "
            f"{self.moved} moved, {self.new_persons} new persons, "
            f"{self.retired} persons merged, {self.reviews} new reviews"
        )


def relink(
    session: Session,
    principal: Principal | None,
    load_patients: CandidateLoader,
    *,
    thresholds: rules.Thresholds | None = None,
    dry_run: bool = False,
    model: dict[str, Any] | None = None,
) -> RelinkSummary:
    """Re-link the whole store in one batch, keeping each person id with most of its records.

    Records a person linked by hand (``manual``) stay where they are. A person left
    with no record is merged (logged, so ``unmerge`` undoes it) into the person that
    received most of its records, so that its id keeps resolving.
    """
    thresholds = thresholds or configured_thresholds()
    records = repo.all_records(session)
    bodies = {
        str(body.get("id")): body
        for _pid, body in load_patients(session, repo.all_person_ids(session))
    }
    indexed = [r for r in records if r.resource_id in bodies]
    result = matching.link_batch(
        [match_record(bodies[r.resource_id], r.source_org_id, r.resource_id) for r in indexed],
        model=model,
        thresholds=thresholds,
    )
    person_of = {r.resource_id: r.person_id for r in indexed}
    keep = matching.stable_person_ids(result.cluster_of, person_of)
    new_ids = {cid: new_id() for cid, pid in keep.items() if pid is None}
    target = {cid: pid or new_ids[cid] for cid, pid in keep.items()}
    moves = [
        (r, target[result.cluster_of[r.resource_id]])
        for r in indexed
        if r.link_status != LINK_MANUAL and r.person_id != target[result.cluster_of[r.resource_id]]
    ]
    final = {r.resource_id: r.person_id for r in indexed} | {r.resource_id: t for r, t in moves}
    holding = set(final.values())
    # Where the records of each person that ends up with none went, most first.
    went: dict[str, dict[str, int]] = {}
    for record, dest in moves:
        if record.person_id not in holding:
            counts = went.setdefault(record.person_id, {})
            counts[dest] = counts.get(dest, 0) + 1
    by_resource = {r.resource_id: r for r in indexed}
    pairs = []
    for pair in result.review:
        a, b = by_resource[pair.record_a], by_resource[pair.record_b]
        if final[a.resource_id] != final[b.resource_id]:
            pairs.append((b, final[a.resource_id], pair.probability))
    reviews = 0
    if not dry_run:
        for pid in new_ids.values():
            session.add(Person(id=pid))
        session.flush()
        retiring: dict[str, list[PersonRecord]] = {}
        for record, dest in moves:
            if record.person_id in went:
                retiring.setdefault(record.person_id, []).append(record)
            record.person_id, record.link_status = dest, LINK_AUTO
        session.flush()
        for record, dest in moves:
            _relearn(session, dest, bodies[record.resource_id], record.source_org_id)
        for old, counts in sorted(went.items()):
            dest = min(counts, key=lambda p: (-counts[p], p))
            entry = PersonMerge(
                id=new_id(), person_id=old, into_person_id=dest, reason="yilian link"
            )
            session.add(entry)
            session.flush([entry])
            for record in retiring[old]:
                session.add(PersonMergeRecord(merge_id=entry.id, record_id=record.id))
            person = repo.get_person(session, old)
            if person is not None:
                person.merged_into = dest
        for record, candidate, probability in pairs:
            if repo.open_review_of_record(session, record.id) is None:
                session.add(
                    MatchReview(
                        record_id=record.id, candidate_person_id=candidate, probability=probability
                    )
                )
                reviews += 1
        session.flush()
    else:
        reviews = len({record.id for record, _c, _p in pairs})
    summary = RelinkSummary(
        records=len(indexed),
        persons=len(set(final.values())),
        new_persons=len(new_ids),
        moved=len(moves),
        retired=len(went),
        reviews=reviews,
        dry_run=dry_run,
    )
    if not dry_run:
        audit.record(
            session,
            principal,
            action="mpi.relink",
            resource_type="Person",
            outcome="success",
            detail={k: v for k, v in summary.__dict__.items() if k != "dry_run"},
        )
    return summary


def _relearn(
    session: Session, person_id: str, patient: dict[str, Any], source_org_id: str | None
) -> None:
    """Give a person the identifiers and blocking keys of a record it received."""
    identifiers = patient_identifiers(patient, source_org_id)
    reliable = [(i.kind, i.value_hash) for i in identifiers if i.kind in RELIABLE_KINDS]
    known = repo.persons_by_identifier(session, reliable)
    have = repo.identifier_hashes(session, [person_id]).get(person_id, set())
    held = repo.blocking_key_hashes(session, [person_id]).get(person_id, set())
    rows = _identifier_rows(person_id, identifiers, known, have, get_cipher(), utcnow())
    repo.insert_identifiers(session, rows)
    keys = _key_hashes(matching.blocking_keys(match_record(patient, source_org_id)))
    repo.insert_blocking_keys(session, _key_rows(person_id, keys, held))
