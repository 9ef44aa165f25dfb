"""The master patient index (主索引): link each arriving Patient record to one person.

Deterministic first: a 身份证号 whose check digit verifies, a 医保卡号 or an
电子健康卡号 already known makes the record that person's. Otherwise the
probabilistic matcher (``patients.matching``) scores candidates found by
blocking key; without a confident match the record starts a new person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import new_id, utcnow
from yilian.kit import idcard
from yilian.kit.crypto import get_cipher, mask, mask_name
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


def _probabilistic_candidates(
    session: Session,
    record: matching.MatchRecord,
    load_candidates: CandidateLoader | None,
) -> list[tuple[str, float]]:
    """Persons the arriving record may be, with match probability, most probable first.

    The Splink-trained matcher (``patients.matching``) plugs in here: candidates
    are the persons sharing a keyed-hash blocking key (``matching.lookup_keys``),
    and ``matching.match_one`` scores the record against their source Patient
    records, which the caller's ``load_candidates`` supplies (the index itself
    keeps no demographics in clear). Without a loader there is nothing to score
    and the answer is ``[]``: the record starts a new person.
    """
    if load_candidates is None:
        return []
    persons = repo.persons_by_blocking_keys(session, _key_hashes(matching.lookup_keys(record)))
    if not persons:
        return []
    loaded = list(load_candidates(session, sorted(persons)))
    owner = {f"{pid}#{i}": pid for i, (pid, _p) in enumerate(loaded)}
    candidates = [
        match_record(patient, None, record_id=key)
        for key, (_pid, patient) in zip(owner, loaded, strict=True)
    ]
    try:
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
    thresholds = thresholds or configured_thresholds()
    resource_id = patient.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        raise ValueError("resolve_patient needs the stored Patient's id")
    identifiers = patient_identifiers(patient, source_org_id)
    reliable = [i for i in identifiers if i.kind in RELIABLE_KINDS]
    known = repo.persons_by_identifier(session, [(i.kind, i.value_hash) for i in reliable])
    existing = None if new_resource else repo.record_by_resource(session, resource_id)
    if existing is not None:
        linked = repo.survivor(session, existing.person_id)
        _remember(session, linked, identifiers, known, patient, source_org_id)
        return linked

    status: str = LINK_AUTO
    score: float | None = None
    person_id: str | None = None
    review_of: str | None = None
    owners = sorted(
        {
            (_PRIORITY[i.kind], known[key])
            for i in reliable
            if (key := f"{i.kind}:{i.value_hash}") in known
        }
    )
    if owners:
        person_id = repo.survivor(session, owners[0][1])
        score = 1.0
        if len({p for _prio, p in owners}) > 1:
            status = LINK_REVIEW  # its identifiers point at different persons
    else:
        record = match_record(patient, source_org_id)
        candidates = _probabilistic_candidates(session, record, load_candidates)
        if candidates:
            best, probability = candidates[0]
            decision = rules.decide(probability, thresholds)
            if decision == "link":
                person_id, score = repo.survivor(session, best), probability
            elif decision == "review":
                status, score = LINK_REVIEW, probability
                review_of = repo.survivor(session, best)
    fresh = person_id is None
    now = utcnow()
    if person_id is None:
        person_id = new_id()
        repo.insert_person(session, person_id, now)
    record_id = new_id()
    repo.insert_record(
        session,
        {
            "id": record_id,
            "person_id": person_id,
            "resource_id": resource_id,
            "source_org_id": source_org_id,
            "link_status": status,
            "score": score,
            "linked_at": now,
        },
    )
    _remember(session, person_id, identifiers, known, patient, source_org_id, fresh=fresh)
    if review_of is not None and score is not None:
        # Until a person decides, the record stands on its own (a new person).
        session.add(
            MatchReview(record_id=record_id, candidate_person_id=review_of, probability=score)
        )
        session.flush()
    return person_id


def _remember(
    session: Session,
    person_id: str,
    identifiers: list[PatientIdentifier],
    known: dict[str, str],
    patient: dict[str, Any],
    source_org_id: str | None,
    *,
    fresh: bool = False,
) -> None:
    """Store the identifiers and blocking keys of the person that it does not have yet.

    ``fresh``: the person was created in this call and has none yet.
    """
    cipher = get_cipher()
    now = utcnow()
    have = set() if fresh else repo.identifier_hashes(session, person_id)
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
    # Plain inserts, not ORM objects: a new Patient adds some fifteen rows here, and the
    # unit of work's bookkeeping for them cost more than the statements.
    repo.insert_identifiers(session, rows)
    stored = set() if fresh else repo.blocking_key_hashes(session, person_id)
    record = match_record(patient, source_org_id)
    repo.insert_blocking_keys(
        session,
        [
            {"person_id": person_id, "key_hash": key_hash}
            for key_hash in sorted(_key_hashes(matching.blocking_keys(record)) - stored)
        ],
    )


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
    record = match_record(patient, None)
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
    _remember(session, person_id, identifiers, known, patient, source_org_id)
