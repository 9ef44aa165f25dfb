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

from yilian.kit import idcard
from yilian.kit.crypto import get_cipher, mask
from yilian.kit.fhir import NAMESPACE
from yilian.patients import matching, rules
from yilian.patients import normalise as norm
from yilian.patients import repository as repo
from yilian.patients.models import (
    HEALTHCARD,
    IDCARD,
    INSURANCE,
    LINK_AUTO,
    LINK_REVIEW,
    MRN,
    PHONE,
    RELIABLE_KINDS,
    Person,
    PersonBlockingKey,
    PersonIdentifier,
    PersonRecord,
)

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
) -> str:
    """Link the Patient resource (its ``id`` set) to a person, creating one if needed; the id."""
    resource_id = patient.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        raise ValueError("resolve_patient needs the stored Patient's id")
    identifiers = patient_identifiers(patient, source_org_id)
    reliable = [i for i in identifiers if i.kind in RELIABLE_KINDS]
    known = repo.persons_by_identifier(session, [(i.kind, i.value_hash) for i in reliable])
    existing = repo.record_by_resource(session, resource_id)
    if existing is not None:
        linked = repo.survivor(session, existing.person_id)
        _remember(session, linked, identifiers, known, patient, source_org_id)
        return linked

    status: str = LINK_AUTO
    score: float | None = None
    person_id: str | None = None
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
            decision = rules.decide(probability)
            if decision == "link":
                person_id, score = repo.survivor(session, best), probability
            elif decision == "review":
                status, score = LINK_REVIEW, probability
    if person_id is None:
        person = Person()
        session.add(person)
        session.flush([person])
        person_id = person.id
    session.add(
        PersonRecord(
            person_id=person_id,
            resource_id=resource_id,
            source_org_id=source_org_id,
            link_status=status,
            score=score,
        )
    )
    _remember(session, person_id, identifiers, known, patient, source_org_id)
    return person_id


def _remember(
    session: Session,
    person_id: str,
    identifiers: list[PatientIdentifier],
    known: dict[str, str],
    patient: dict[str, Any],
    source_org_id: str | None,
) -> None:
    """Store the identifiers and blocking keys of the person that it does not have yet."""
    cipher = get_cipher()
    have = repo.identifier_hashes(session, person_id)
    for ident in identifiers:
        pair = (ident.kind, ident.value_hash)
        if pair in have:
            continue
        # A reliable identifier another person holds stays theirs (the link is under review).
        if ident.kind in RELIABLE_KINDS and known.get(f"{ident.kind}:{ident.value_hash}"):
            continue
        have.add(pair)
        session.add(
            PersonIdentifier(
                person_id=person_id,
                kind=ident.kind,
                value_hash=ident.value_hash,
                value_encrypted=cipher.encrypt(ident.value),
                value_masked=mask(ident.value),
            )
        )
    stored = repo.blocking_key_hashes(session, person_id)
    record = match_record(patient, source_org_id)
    for key_hash in sorted(_key_hashes(matching.blocking_keys(record)) - stored):
        session.add(PersonBlockingKey(person_id=person_id, key_hash=key_hash))
    session.flush()


def person_of_record(session: Session, resource_id: str) -> str | None:
    """The (surviving) person a stored Patient resource is linked to."""
    record = repo.record_by_resource(session, resource_id)
    return None if record is None else repo.survivor(session, record.person_id)


def record_ids_of(session: Session, person_id: str) -> list[str]:
    """The Patient resource ids linked to a person."""
    return [r.resource_id for r in repo.records_of(session, [person_id])]
