"""The FHIR store (健康档案存储与调阅): ingest bundles and resources, read, search, $everything.

Ingestion validates everything first, then takes the write transaction, looks
up what already exists in a few set-wise queries, links patients through the
master patient index, writes rows and search tokens in bulk and hands each
stored resource to the projectors — all in the caller's transaction. A unique
collision with a concurrent submission rolls back to a savepoint and runs the
write again, which then finds the other submission's rows and updates them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from sqlalchemy import ColumnElement, false
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import new_id, utcnow
from yilian.kit.crypto import get_cipher
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    YilianError,
)
from yilian.patients import service as patients
from yilian.records import indexing, projectors, protection, validation
from yilian.records import repository as repo
from yilian.records.indexing import SPECS
from yilian.records.models import FhirResource
from yilian.records.projectors import StoredResource
from yilian.records.repository import Current
from yilian.security import access
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.security.rules import PURPOSE_TREATMENT, TREATING

# A submission that keeps colliding with concurrent ones gives up after this many tries.
RETRIES = 4
MAX_BUNDLE_ENTRIES = 5000
MAX_COUNT = 500
DEFAULT_COUNT = 50
# Where a care relationship created by ingestion comes from (security.CareRelationship.source).
RELATIONSHIP_SOURCE = "fhir"
_IDENTIFIER_HASH_KIND = "fhir-identifier"
_BUSINESS_KEY_KIND = "fhir-business-id"
_ABSOLUTE_REF = re.compile(r"^(?:https?://.+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_SEARCH_CONTROL = frozenset({"_count", "_offset", "_include", "_format", "_total"})
T = TypeVar("T")


class _LostUpdate(Exception):
    """A row changed between our read and our update: another writer got there first."""


@dataclass(frozen=True)
class ReadContext:
    """Why and as whom personal data is read: passed to the access decision."""

    principal: Principal
    purpose: str = PURPOSE_TREATMENT
    break_glass_reason: str | None = None


@dataclass
class _Entry:
    index: int | None
    where: str  # FHIRPath of the resource: "Bundle.entry[2].resource" or "Observation"
    method: str  # POST | PUT
    resource_type: str
    resource: dict[str, Any]
    full_url: str | None = None
    if_none_exist: str | None = None
    put_id: str | None = None
    identifier_key: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)
    source: str | None = None  # the sending organisation
    # Worked out with the validation (in a bulk import's worker processes): the search
    # tokens, the Reference objects with their FHIRPaths, the clinically relevant time.
    tokens: set[tuple[str, str, str]] = field(default_factory=set)
    refs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    effective: datetime | None = None
    mpi: patients.PreparedPatient | None = None  # a Patient's, for the master patient index
    # Set when written: the sender, and which bundle of a write (several bundles of a
    # bulk import can be written together) the entry belongs to.
    principal: Principal | None = None
    bundle: int = 0
    # Decided per attempt:
    id: str = ""
    existing: Current | None = None
    matched: bool = False  # a conditional create found the resource: nothing is written
    unchanged: bool = False  # a re-send of exactly what is stored
    person_id: str | None = None
    patient_id: str | None = None
    version_id: int = 1
    last_updated: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened to one submitted resource."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    created: bool
    resource: dict[str, Any]
    warnings: tuple[dict[str, str], ...] = ()

    @property
    def status(self) -> int:
        return 201 if self.created else 200

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version_id}"


@dataclass
class SearchResult:
    matches: list[dict[str, Any]]
    total: int
    included: list[dict[str, Any]] = field(default_factory=list)
    withheld: int = 0  # resources of this page the reader may not see (left out)


# --- helpers ------------------------------------------------------------------


def _instant(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _hash_identifier(value: str) -> str:
    return get_cipher().keyed_hash(value, kind=_IDENTIFIER_HASH_KIND)


def business_key(resource: dict[str, Any]) -> str | None:
    """Keyed hash of the first identifier with both system and value (the business identifier)."""
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return get_cipher().keyed_hash(
                f"{ident['system']}|{ident['value']}", kind=_BUSINESS_KEY_KIND
            )
    return None


def _stored_body(resource: dict[str, Any], resource_id: str) -> dict[str, Any]:
    """The resource as kept: the server's id; meta without the server-managed elements."""
    body = dict(resource)
    body["id"] = resource_id
    meta = body.get("meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if meta:
            body["meta"] = meta
        else:
            body.pop("meta")
    return body


class StoredRow(Protocol):
    resource_type: str
    version_id: int
    last_updated: datetime
    resource: dict[str, Any]


def to_fhir(row: StoredRow) -> dict[str, Any]:
    """The stored resource with ``meta.versionId`` and ``meta.lastUpdated``."""
    body = dict(protection.reveal(row.resource_type, row.resource))
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(row.version_id)
    meta["lastUpdated"] = _instant(row.last_updated)
    body["meta"] = meta
    return body


def _relocate(exc: YilianError, root: str, where: str) -> YilianError:
    """Re-root the FHIRPaths of an error raised about a bare resource (Patient.x → where.x)."""
    for d in exc.detail:
        f = d.get("field")
        if isinstance(f, str) and (f == root or f.startswith(root + ".")):
            d["field"] = where + f[len(root) :]
    return exc


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def _retrying(session: Session, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a savepoint; on a collision with a concurrent writer, run it again."""
    for attempt in range(1, RETRIES + 1):
        try:
            with session.begin_nested():
                return fn()
        except IntegrityError as exc:
            if not _is_unique_violation(exc) or attempt == RETRIES:
                if _is_unique_violation(exc):
                    raise Conflict(
                        "concurrent submissions of the same resource kept colliding; send again"
                    ) from exc
                raise
        except _LostUpdate as exc:
            if attempt == RETRIES:
                raise Conflict("the resource kept changing while it was updated") from exc
    raise AssertionError("unreachable")


def writer_org(principal: Principal) -> str | None:
    """The organisation a write comes from: the system's own, or none for an administrator."""
    if principal.role is Role.system:
        if not principal.organization_id:
            raise Forbidden("this API client belongs to no organization and may not write records")
        return principal.organization_id
    if principal.role is Role.admin:
        return principal.organization_id
    raise Forbidden("only institution systems (role system) and administrators may write records")


# --- parsing ------------------------------------------------------------------


def _entry_from_bundle(raw: Any, i: int, source_org_id: str | None) -> _Entry:
    where = f"Bundle.entry[{i}]"
    if not isinstance(raw, dict):
        raise BadRequest("a bundle entry must be a JSON object", field=where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise BadRequest(
            "entry.request is required in a transaction or batch", field=f"{where}.request"
        )
    method = request.get("method")
    url = request.get("url")
    if method not in ("POST", "PUT"):
        raise BadRequest(
            f"request.method {method!r} is not supported here; use POST or PUT",
            field=f"{where}.request.method",
        )
    if not isinstance(url, str) or not url:
        raise BadRequest("request.url is required", field=f"{where}.request.url")
    resource = raw.get("resource")
    rtype = validation.check_resource(resource, f"{where}.resource")
    assert isinstance(resource, dict)
    parts = url.split("?", 1)[0].strip("/").split("/")
    put_id = None
    if method == "POST" and (len(parts) != 1 or parts[0] != rtype):
        raise BadRequest(
            f"a POST of a {rtype} must have url {rtype!r}", field=f"{where}.request.url"
        )
    if method == "PUT":
        if len(parts) != 2 or parts[0] != rtype or "?" in url:
            raise BadRequest(
                f"a PUT of a {rtype} must have url '{rtype}/<id>' "
                "(conditional update is not supported)",
                field=f"{where}.request.url",
            )
        put_id = parts[1]
        if not validation.ID_PATTERN.match(put_id):
            raise BadRequest(
                "the id in request.url is not a valid FHIR id", field=f"{where}.request.url"
            )
        if resource.get("id") not in (None, put_id):
            raise BadRequest(
                "resource.id differs from the id in request.url", field=f"{where}.resource.id"
            )
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise BadRequest("fullUrl must be a string", field=f"{where}.fullUrl")
    if_none_exist = request.get("ifNoneExist")
    if if_none_exist is not None and (not isinstance(if_none_exist, str) or method != "POST"):
        raise BadRequest(
            "ifNoneExist must be a query string on a POST", field=f"{where}.request.ifNoneExist"
        )
    entry = _Entry(
        index=i,
        where=f"{where}.resource",
        method=method,
        resource_type=rtype,
        resource=resource,
        full_url=full_url,
        if_none_exist=if_none_exist,
        put_id=put_id,
    )
    _check_entry(entry, source_org_id)
    return entry


def _check_entry(entry: _Entry, source_org_id: str | None) -> None:
    """Checks that need no database: the Patient's identifiers (身份证号 check digit)."""
    entry.source = source_org_id
    entry.tokens = indexing.tokens(entry.resource, _hash_identifier)
    entry.refs = list(indexing.references(entry.resource, entry.where))
    entry.effective = indexing.effective(entry.resource)
    if entry.resource_type == "Patient":
        try:
            entry.mpi = patients.prepare_patient(entry.resource, source_org_id)
        except YilianError as exc:
            raise _relocate(exc, "Patient", entry.where) from None
        entry.warnings = [
            {"field": w["field"].replace("Patient", entry.where, 1), "message": w["message"]}
            for w in patients.unverified_identifiers(entry.resource)
        ]
    entry.identifier_key = business_key(entry.resource)


# --- ingestion ----------------------------------------------------------------


def _conditional_matches(session: Session, entries: list[_Entry]) -> dict[int, Current]:
    """Entries whose ``ifNoneExist`` finds a stored resource → that resource."""
    wanted: dict[str, list[tuple[int, str | None, str]]] = defaultdict(list)
    for n, e in enumerate(entries):
        if not e.if_none_exist:
            continue
        query = parse_qsl(e.if_none_exist.split("?", 1)[-1], keep_blank_values=True)
        if len(query) != 1 or query[0][0] != "identifier" or "," in query[0][1]:
            raise BadRequest(
                "ifNoneExist supports one identifier=system|value",
                field=f"{e.where.rsplit('.', 1)[0]}.request.ifNoneExist",
            )
        system, value = _split_token(query[0][1])
        wanted[e.resource_type].append((n, system, _hash_identifier(value)))
    found: dict[int, Current] = {}
    if not wanted:
        return found
    # One query for the whole bundle: (type, system or None, code) → the resources holding it.
    holders: dict[tuple[str, str | None, str], dict[str, Current]] = defaultdict(dict)
    hits = repo.token_holders(
        session,
        "identifier",
        [(rtype, code) for rtype, items in wanted.items() for _n, _s, code in items],
    )
    for system, code, cur in hits:
        holders[(cur.resource_type, system, code)][cur.id] = cur
        holders[(cur.resource_type, None, code)][cur.id] = cur
    for rtype, items in wanted.items():
        for n, system, code in items:
            ids = holders.get((rtype, system, code), {})
            if len(ids) > 1:
                e = entries[n]
                raise YilianError(
                    f"ifNoneExist matches {len(ids)} {rtype} resources; it must match at most one",
                    field=f"{e.where.rsplit('.', 1)[0]}.request.ifNoneExist",
                    status_code=412,
                )
            if ids:
                found[n] = next(iter(ids.values()))
    return found


def _assign(session: Session, entries: list[_Entry]) -> None:
    """Decide each entry's id: conditional match, PUT id, same business identifier, or new."""
    seen_keys: dict[tuple[int, str, str], str] = {}
    seen_ids: dict[tuple[int, str, str], str] = {}
    for e in entries:
        if e.identifier_key:
            key = (e.bundle, e.resource_type, e.identifier_key)
            if key in seen_keys and not e.if_none_exist:
                raise BadRequest(
                    f"two entries carry the same identifier ({seen_keys[key]} and this one)",
                    field=f"{e.where}.identifier",
                )
            seen_keys[key] = e.where
        if e.put_id:
            pk = (e.bundle, e.resource_type, e.put_id)
            if pk in seen_ids:
                raise BadRequest(f"{e.resource_type}/{e.put_id} is written twice", field=e.where)
            seen_ids[pk] = e.where
    matches = _conditional_matches(session, entries)
    by_id = repo.current_by_ids(session, [(e.resource_type, e.put_id) for e in entries if e.put_id])
    by_key = repo.current_by_business_ids(
        session,
        [(e.source, e.resource_type, e.identifier_key) for e in entries if e.identifier_key],
    )
    for n, e in enumerate(entries):
        e.existing, e.matched, e.unchanged = None, False, False
        if n in matches:
            e.existing, e.matched, e.id = matches[n], True, matches[n].id
            continue
        held = (
            by_key.get((e.source, e.resource_type, e.identifier_key)) if e.identifier_key else None
        )
        if e.put_id:
            if held is not None and held.id != e.put_id:
                raise Conflict(
                    f"this identifier is already held by {held.resource_type}/{held.id} "
                    "from the same organization",
                    field=f"{e.where}.identifier",
                )
            e.id, e.existing = e.put_id, by_id.get((e.resource_type, e.put_id))
        elif held is not None:
            e.id, e.existing = held.id, held
        else:
            e.id = new_id()
        if (
            e.existing is not None
            and e.existing.source_org_id != e.source
            and (e.principal is None or e.principal.role is not Role.admin)
        ):
            raise Forbidden(
                f"{e.resource_type}/{e.id} was sent by another organization; "
                "an institution may only update its own records",
                field=e.where,
            )


def _rewrite_references(entries: list[_Entry], changed: list[tuple[dict[str, Any], str]]) -> None:
    """Point bundle-internal references at the stored ids; note each (ref, old value) changed."""
    url_map: dict[tuple[int, str], str] = {}
    for e in entries:
        target = f"{e.resource_type}/{e.id}"
        if e.full_url:
            url_map[(e.bundle, e.full_url)] = target
            m = _ABSOLUTE_REF.match(e.full_url)
            if m and m.group(1) == e.resource_type:
                url_map[(e.bundle, f"{m.group(1)}/{m.group(2)}")] = target
    for e in entries:
        if e.matched:
            continue
        for path, ref in e.refs:
            value = ref["reference"]
            new = url_map.get((e.bundle, value))
            if new is not None:
                if new != value:
                    changed.append((ref, value))
                    ref["reference"] = new
            elif value.startswith(("urn:uuid:", "urn:oid:")):
                raise Unprocessable(
                    f"dangling reference {value}: no entry of this bundle has that fullUrl",
                    field=f"{path}.reference",
                )


def _link_persons(session: Session, entries: list[_Entry]) -> None:
    """Set each entry's patient and person: Patients through the MPI, others by reference."""
    in_bundle: dict[str, _Entry] = {}
    arriving: list[_Entry] = []
    for e in entries:
        if e.resource_type != "Patient":
            continue
        in_bundle[e.id] = e
        e.patient_id = e.id
        if e.matched or e.unchanged:
            e.person_id = e.existing.person_id if e.existing else None
        else:
            arriving.append(e)
    # The index takes the write's Patients at once, as it would one after another.
    persons = patients.resolve_patients(
        session,
        [
            patients.ArrivingPatient(
                _stored_body(e.resource, e.id),
                e.source,
                new_resource=e.existing is None,
                prepared=e.mpi,
            )
            for e in arriving
        ],
        load_candidates=patient_records,
    )
    for e, person_id in zip(arriving, persons, strict=True):
        e.person_id = person_id
    wanted: dict[int, str] = {}
    for n, e in enumerate(entries):
        if e.resource_type == "Patient" or e.matched:
            continue
        ref = indexing.patient_reference(e.resource)
        e.patient_id = e.person_id = None
        if ref is None or ref.startswith("#"):
            continue  # no subject, or a contained one: not linked to a person
        element = f"{e.where}.{SPECS[e.resource_type].patient}.reference"
        m = _ABSOLUTE_REF.match(ref)
        if m is None or "://" in ref:
            raise Unprocessable(
                f"reference {ref} must name a Patient stored here (Patient/<id>) "
                "or an entry of this bundle (its fullUrl)",
                field=element,
            )
        if m.group(1) != "Patient":
            continue  # a Group, Device or Location subject: no person
        wanted[n] = m.group(2)
    stored = repo.persons_of_patients(session, [p for p in wanted.values() if p not in in_bundle])
    for n, pid in wanted.items():
        e = entries[n]
        e.patient_id = pid
        if pid in in_bundle:
            e.person_id = in_bundle[pid].person_id
        elif pid in stored:
            e.person_id = stored[pid]
        else:
            raise Unprocessable(
                f"dangling reference Patient/{pid}: no such Patient in this bundle or the store",
                field=f"{e.where}.{SPECS[e.resource_type].patient}.reference",
            )


def patient_records(session: Session, person_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The stored Patient resources of persons, as the index links them now (MPI candidates)."""
    owner = patients.record_ids_by_person(session, person_ids)
    rows = repo.stored_rows(session, [("Patient", rid) for rid in owner])
    return [(owner[r.id], protection.reveal("Patient", r.resource)) for r in rows]


def sources_of(session: Session, resources: Sequence[dict[str, Any]]) -> dict[str, str | None]:
    """``Type/id`` → the institution that sent each resource.

    The FHIR bodies do not carry their sender; the store does. Call only after the
    person's record was authorised (e.g. by :func:`everything`).
    """
    keys = {(str(r.get("resourceType")), str(r.get("id"))) for r in resources}
    return {f"{t}/{i}": org for t, i, org in repo.source_orgs(session, keys)}


def _write(session: Session, entries: list[_Entry]) -> list[Outcome]:
    """One attempt at storing the entries (inside a savepoint)."""
    repo.take_write_lock(session)
    changed: list[tuple[dict[str, Any], str]] = []
    try:
        _assign(session, entries)
        _rewrite_references(entries, changed)
        return _store(session, entries)
    except BaseException:
        # A retry, or the bundles written again one by one, start from them as sent.
        for ref, old in reversed(changed):
            ref["reference"] = old
        raise


def _store(session: Session, entries: list[_Entry]) -> list[Outcome]:
    now = utcnow()
    stored_rows = {
        (r.resource_type, r.id): r
        for r in repo.stored_rows(
            session, [(e.resource_type, e.id) for e in entries if e.existing is not None]
        )
    }
    for e in entries:
        if e.existing is not None and not e.matched:
            row = stored_rows.get((e.resource_type, e.id))
            e.unchanged = row is not None and protection.reveal(
                row.resource_type, row.resource
            ) == _stored_body(e.resource, e.id)
    _link_persons(session, entries)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    replaced: list[tuple[str, str]] = []
    outcomes: list[Outcome] = []
    written: list[tuple[_Entry, dict[str, Any]]] = []
    for e in entries:
        if e.matched or e.unchanged:
            row = stored_rows[(e.resource_type, e.id)]
            outcomes.append(
                Outcome(
                    e.resource_type,
                    e.id,
                    row.version_id,
                    row.last_updated,
                    False,
                    to_fhir(row),
                    tuple(e.warnings),
                )
            )
            continue
        body = _stored_body(e.resource, e.id)
        e.version_id = e.existing.version_id + 1 if e.existing else 1
        e.last_updated = now
        values = {
            "version_id": e.version_id,
            "last_updated": now,
            "person_id": e.person_id,
            "patient_id": e.patient_id,
            "identifier_key": e.identifier_key,
            "effective": e.effective,
            "resource": protection.protect(e.resource_type, body),
        }
        if e.existing is None:
            inserts.append(
                {
                    "resource_type": e.resource_type,
                    "id": e.id,
                    "source_org_id": e.source,
                    **values,
                }
            )
        else:
            updates.append(
                {
                    "b_type": e.resource_type,
                    "b_id": e.id,
                    "b_expected": e.existing.version_id,
                    **values,
                }
            )
            replaced.append((e.resource_type, e.id))
        tokens.extend(
            {
                "resource_type": e.resource_type,
                "resource_id": e.id,
                "param": p,
                "system": s,
                "code": c,
            }
            for p, s, c in e.tokens
        )
        written.append((e, body))
        meta = {
            **(body.get("meta") or {}),
            "versionId": str(e.version_id),
            "lastUpdated": _instant(now),
        }
        outcomes.append(
            Outcome(
                e.resource_type,
                e.id,
                e.version_id,
                now,
                e.existing is None,
                {**body, "meta": meta},
                tuple(e.warnings),
            )
        )
    repo.insert_resources(session, inserts)
    if repo.update_resources(session, updates) != len(updates):
        raise _LostUpdate()
    repo.replace_tokens(session, replaced, tokens)
    if projectors.has_projectors():
        projectors.project_all(
            session,
            [
                StoredResource(
                    resource_type=e.resource_type,
                    id=e.id,
                    version_id=e.version_id,
                    last_updated=now,
                    person_id=e.person_id,
                    source_org_id=e.existing.source_org_id if e.existing else e.source,
                    resource=body,
                    created=e.existing is None,
                    patient_id=e.patient_id,
                )
                for e, body in written
            ],
        )
    return outcomes


def _after_write(
    session: Session, entries: list[_Entry], outcomes: list[Outcome], bundles: int
) -> None:
    """Care relationships and the audit trail of a successful write (once, not per attempt).

    One audit entry per person per bundle, as its sender; care relationships granted
    once per sending organisation.
    """
    per_person: list[dict[str, dict[str, int]]] = [
        defaultdict(lambda: {"created": 0, "updated": 0}) for _ in range(bundles)
    ]
    first: list[_Entry | None] = [None] * bundles
    sizes = [0] * bundles
    treating: dict[str, tuple[Principal | None, set[str]]] = {}
    for e, out in zip(entries, outcomes, strict=True):
        sizes[e.bundle] += 1
        first[e.bundle] = first[e.bundle] or e
        if e.person_id is None or e.matched or e.unchanged:
            continue
        per_person[e.bundle][e.person_id]["created" if out.created else "updated"] += 1
        if e.resource_type in indexing.TREATING_TYPES and e.source is not None:
            treating.setdefault(e.source, (e.principal, set()))[1].add(e.person_id)
    security.grant_relationships_by_org(
        session, treating, kind=TREATING, source=RELATIONSHIP_SOURCE
    )
    for k in range(bundles):
        head = first[k]
        for person_id, counts in sorted(per_person[k].items()):
            audit.record(
                session,
                head.principal if head else None,
                action="write",
                resource_type=head.resource_type if head and sizes[k] == 1 else "Bundle",
                person_id=person_id,
                outcome="success",
                detail=counts,
            )


def _ingest_many(
    session: Session, bundles: Sequence[tuple[Principal, list[_Entry]]]
) -> list[list[Outcome]]:
    """Store the entries of several bundles in one write; their outcomes, bundle by bundle.

    Each bundle keeps its own references (urn:uuid fullUrls) and duplicate checks; the
    write is all or nothing for all of them (the caller's savepoint).
    """
    entries: list[_Entry] = []
    for k, (principal, group) in enumerate(bundles):
        source = writer_org(principal)
        for e in group:
            e.principal, e.bundle, e.source = principal, k, source
            entries.append(e)
    outcomes = _retrying(session, lambda: _write(session, entries))
    _after_write(session, entries, outcomes, len(bundles))
    split: list[list[Outcome]] = [[] for _ in bundles]
    for e, out in zip(entries, outcomes, strict=True):
        split[e.bundle].append(out)
    return split


def _ingest(session: Session, entries: list[_Entry], principal: Principal) -> list[Outcome]:
    (outcomes,) = _ingest_many(session, [(principal, entries)])
    return outcomes


def warning_outcome(warnings: Sequence[dict[str, str]]) -> dict[str, Any]:
    """An OperationOutcome of warnings: stored, but the sender should correct something."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "value",
                "diagnostics": w["message"],
                "expression": [w["field"]],
            }
            for w in warnings
        ],
    }


def withheld_outcome(withheld: int) -> dict[str, Any]:
    """The searchset's note that results the reader may not see were left out."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "suppressed",
                "diagnostics": (
                    f"{withheld} result(s) on this page belong to persons whose record you "
                    "may not see and were left out (本页有结果因无权访问被略去)"
                ),
            }
        ],
    }


def _response_entry(out: Outcome) -> dict[str, Any]:
    response: dict[str, Any] = {
        "status": "201 Created" if out.created else "200 OK",
        "location": out.location,
        "etag": f'W/"{out.version_id}"',
        "lastModified": _instant(out.last_updated),
    }
    if out.warnings:
        response["outcome"] = warning_outcome(out.warnings)
    return {"fullUrl": f"{out.resource_type}/{out.id}", "response": response}


def _error_entry(exc: YilianError) -> dict[str, Any]:
    from yilian.kit.errors import operation_outcome

    return {
        "response": {
            "status": str(exc.status_code),
            "outcome": operation_outcome(exc.status_code, exc.message, exc.detail),
        }
    }


@dataclass
class ParsedBundle:
    """A bundle after the checks that need no database (:func:`parse_bundle`).

    ``entries`` holds a transaction's validated entries; for a batch, each entry is
    either validated or the error that refused it. Plain data, so that a worker
    process can parse and validate while another writes.
    """

    kind: str  # transaction | batch
    entries: list[_Entry | YilianError]
    claimed: Claims | None = None  # claims(), worked out once with the parsing

    @property
    def size(self) -> int:
        return len(self.entries)

    def claims(self) -> Claims | None:
        """What this bundle writes or looks for that another bundle in the same write must not.

        Two bundles with a claim in common are written one after the other, so that the
        second sees the first (a re-send updates, a conditional create finds it). None
        when the bundle cannot share a write: a batch.
        """
        if self.claimed is not None or self.kind != "transaction":
            return self.claimed
        out = Claims()
        for e in self.entries:
            if not isinstance(e, _Entry):
                return None
            if e.identifier_key:
                out.exact.add((e.source, e.resource_type, e.identifier_key))
            if e.put_id:
                out.exact.add((e.resource_type, e.put_id))
            if e.if_none_exist:
                for _name, token in parse_qsl(e.if_none_exist.split("?", 1)[-1]):
                    system, value = _split_token(token)
                    if system is None:  # any system: meets every identifier with the value
                        out.loose.add((e.resource_type, value))
                    else:
                        out.exact.add((e.resource_type, system, value))
            for ident in e.resource.get("identifier") or ():
                if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                    out.exact.add((e.resource_type, ident.get("system"), ident["value"]))
                    out.values.add((e.resource_type, ident["value"]))
        self.claimed = out
        return out


@dataclass
class Claims:
    """A bundle's identifiers, business keys, PUT ids and conditional-create searches."""

    exact: set[tuple[str | None, ...]] = field(default_factory=set)
    values: set[tuple[str, str]] = field(default_factory=set)  # identifiers, any system
    loose: set[tuple[str, str]] = field(default_factory=set)  # ifNoneExist without a system

    def meets(self, other: Claims) -> bool:
        return bool(
            self.exact & other.exact or self.loose & other.values or self.values & other.loose
        )

    def add(self, other: Claims) -> None:
        self.exact |= other.exact
        self.values |= other.values
        self.loose |= other.loose


def parse_bundle(bundle: Any, source: str | None) -> ParsedBundle:
    """Validate a transaction or batch Bundle from ``source`` without touching the database.

    A transaction with any invalid entry raises (all or nothing); a batch keeps each
    entry's error in its place.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST /fhir takes a Bundle", field="Bundle.resourceType")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise BadRequest(
            f"Bundle.type must be transaction or batch, not {kind!r}", field="Bundle.type"
        )
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise BadRequest("Bundle.entry must be a list", field="Bundle.entry")
    if len(raw_entries) > MAX_BUNDLE_ENTRIES:
        raise BadRequest(
            f"a bundle may have at most {MAX_BUNDLE_ENTRIES} entries", field="Bundle.entry"
        )
    if kind == "transaction":
        parsed = ParsedBundle(
            kind, [_entry_from_bundle(raw, i, source) for i, raw in enumerate(raw_entries)]
        )
        parsed.claims()  # here, in a bulk import's worker, not in the writer
        return parsed
    entries: list[_Entry | YilianError] = []
    for i, raw in enumerate(raw_entries):
        try:
            # A batch entry stands alone: a urn:uuid pointing at another entry dangles.
            entries.append(_entry_from_bundle(raw, i, source))
        except YilianError as exc:
            entries.append(exc)
    return ParsedBundle(kind, entries)


def write_bundle(session: Session, principal: Principal, parsed: ParsedBundle) -> dict[str, Any]:
    """Store a parsed bundle in the caller's transaction; return the FHIR reply."""
    writer_org(principal)  # refuses a principal that may not write, even for no entries
    if parsed.kind == "transaction":
        entries = [e for e in parsed.entries if isinstance(e, _Entry)]
        outcomes = _ingest(session, entries, principal) if entries else []
        return {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [_response_entry(o) for o in outcomes],
        }
    results: list[dict[str, Any]] = []
    for entry in parsed.entries:
        if isinstance(entry, YilianError):
            results.append(_error_entry(entry))
            continue
        try:
            with session.begin_nested():
                (out,) = _ingest(session, [entry], principal)
            results.append(_response_entry(out))
        except YilianError as exc:
            results.append(_error_entry(exc))
    return {"resourceType": "Bundle", "type": "batch-response", "entry": results}


def write_bundles(
    session: Session, bundles: Sequence[tuple[Principal, ParsedBundle]]
) -> list[dict[str, Any]]:
    """Store several parsed transaction bundles in one write; their replies, in order.

    All or nothing for the lot (the caller's savepoint): a bulk import writes bundles
    together and, if the write fails, writes them again one by one with
    :func:`write_bundle` to find the one at fault.
    """
    if any(parsed.kind != "transaction" for _p, parsed in bundles):
        raise ValueError("only transaction bundles are written together")
    outcomes = _ingest_many(
        session,
        [(p, [e for e in parsed.entries if isinstance(e, _Entry)]) for p, parsed in bundles],
    )
    return [
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [_response_entry(o) for o in outs],
        }
        for outs in outcomes
    ]


def ingest_bundle(session: Session, principal: Principal, bundle: Any) -> dict[str, Any]:
    """Store a transaction (all or nothing) or batch (entry by entry) Bundle; return the reply."""
    return write_bundle(session, principal, parse_bundle(bundle, writer_org(principal)))


def create(
    session: Session,
    principal: Principal,
    resource_type: str,
    resource: Any,
    *,
    if_none_exist: str | None = None,
) -> Outcome:
    """Create a resource (or update the one with its business identifier from the same source)."""
    source = writer_org(principal)
    validation.check_type(resource_type, in_url=True)
    validation.check_resource(resource, resource_type, expected_type=resource_type)
    entry = _Entry(
        index=None,
        where=resource_type,
        method="POST",
        resource_type=resource_type,
        resource=resource,
        if_none_exist=if_none_exist,
    )
    _check_entry(entry, source)
    (out,) = _ingest(session, [entry], principal)
    return out


def update(
    session: Session, principal: Principal, resource_type: str, resource_id: str, resource: Any
) -> Outcome:
    """Create or update the resource with this id (FHIR update-as-create)."""
    source = writer_org(principal)
    validation.check_type(resource_type, in_url=True)
    validation.check_resource(resource, resource_type, expected_type=resource_type)
    assert isinstance(resource, dict)
    if resource.get("id") != resource_id:
        raise BadRequest(
            "the resource's id must equal the id in the URL", field=f"{resource_type}.id"
        )
    entry = _Entry(
        index=None,
        where=resource_type,
        method="PUT",
        resource_type=resource_type,
        resource=resource,
        put_id=resource_id,
    )
    _check_entry(entry, source)
    (out,) = _ingest(session, [entry], principal)
    return out


# --- the store as projectors see it ---------------------------------------------


def _stored_resources(session: Session, rows: Sequence[Any]) -> list[StoredResource]:
    owners = patients.persons_of_records(session, {r.patient_id for r in rows if r.patient_id})
    return [
        StoredResource(
            resource_type=r.resource_type,
            id=r.id,
            version_id=r.version_id,
            last_updated=r.last_updated,
            person_id=owners.get(r.patient_id) if r.patient_id else None,
            source_org_id=r.source_org_id,
            resource=protection.reveal(r.resource_type, r.resource),
            created=False,
            patient_id=r.patient_id,
        )
        for r in rows
    ]


def iter_stored(
    session: Session,
    resource_type: str,
    *,
    code_prefixes: Sequence[str] = (),
    batch: int = 2_000,
) -> Iterator[StoredResource]:
    """Every stored resource of a type, in id order, as a projector sees a new one.

    For a domain's backfill or batch job (re-indexing, enrolment from old diagnoses),
    which runs as the system: no reader is authorised or audited here, so nothing
    read this way may be shown to a user without the domain's own access decision.
    Bodies are revealed and the person is the one the index links the Patient to
    now. ``code_prefixes`` keeps those with a ``code`` token starting with one of them.
    """
    validation.check_type(resource_type)
    after = ""
    while True:
        rows = repo.page_of_type(
            session, resource_type, after=after, limit=batch, code_prefixes=code_prefixes
        )
        if not rows:
            return
        yield from _stored_resources(session, rows)
        after = rows[-1].id


def stored_by_keys(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], StoredResource]:
    """(type, id) → the stored resource, for a domain that decides and audits access itself
    (a consultation shows its own items); the same terms as :func:`iter_stored`."""
    return {
        (s.resource_type, s.id): s
        for s in _stored_resources(session, repo.stored_rows(session, keys))
    }


def any_stored(session: Session, resource_types: Sequence[str]) -> bool:
    """Whether any resource of these types is stored (does a backfill have work?)."""
    return repo.any_of_types(session, resource_types)


# --- reading ------------------------------------------------------------------


def _authorise(
    session: Session, ctx: ReadContext, rows: Sequence[FhirResource]
) -> set[tuple[str, str]]:
    """The (type, id)s of the rows the reader may see; each person decided once (audited).

    The person is found through the Patient a resource is about, as the index links
    it now: ``person_id`` on the row is who it was filed under at ingestion, which a
    later merge or unmerge in the index does not rewrite. A search can span persons:
    those the reader may not see are left out instead of refusing the whole page.
    When nothing may be seen — a single read refused — it raises ``Forbidden``.
    """
    owners = patients.persons_of_records(session, {r.patient_id for r in rows if r.patient_id})
    first: dict[str, FhirResource] = {}
    for row in rows:
        person_id = owners.get(row.patient_id or "")
        if person_id is not None:
            first.setdefault(person_id, row)
    allowed: set[str] = set()
    refusal = ""
    for person_id, row in first.items():
        decision = access.decide(
            session,
            ctx.principal,
            person_id=person_id,
            action="read",
            purpose=ctx.purpose,
            break_glass_reason=ctx.break_glass_reason,
            resource_type=row.resource_type,
            resource_id=row.id if len(rows) == 1 else None,
        )
        if decision.allowed:
            allowed.add(person_id)
        else:
            refusal = refusal or f"no access to this person's record: {decision.basis}"
    visible: set[tuple[str, str]] = set()
    for row in rows:
        person_id = owners.get(row.patient_id or "")
        if person_id is None:
            # Not linked to a person (a contained or display-only subject): its sender only.
            if row.source_org_id == ctx.principal.organization_id:
                visible.add((row.resource_type, row.id))
            else:
                refusal = refusal or (
                    f"{row.resource_type}/{row.id} is linked to no person; "
                    "only its sender may read it"
                )
        elif person_id in allowed:
            visible.add((row.resource_type, row.id))
    if rows and not visible:
        raise Forbidden(refusal)
    return visible


def read(
    session: Session, ctx: ReadContext, resource_type: str, resource_id: str
) -> dict[str, Any]:
    """Return the current version of one resource."""
    validation.check_type(resource_type, in_url=True)
    row = repo.get(session, resource_type, resource_id)
    if row is None:
        raise NotFound(f"{resource_type}/{resource_id} does not exist")
    _authorise(session, ctx, [row])
    return to_fhir(row)


def everything(session: Session, ctx: ReadContext, patient_id: str) -> list[dict[str, Any]]:
    """Every resource about the person this Patient record belongs to, across institutions."""
    row = repo.get(session, "Patient", patient_id)
    if row is None:
        raise NotFound(f"Patient/{patient_id} does not exist")
    _authorise(session, ctx, [row])
    person_id = patients.persons_of_records(session, [patient_id]).get(patient_id)
    if person_id is None:
        return [to_fhir(row)]
    rows = repo.of_person(session, patients.record_ids_of(session, person_id))
    return [to_fhir(r) for r in rows]


# --- search -------------------------------------------------------------------


def _split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``|code`` → ("", code); ``code`` → (None, code)."""
    if "|" in value:
        system, code = value.split("|", 1)
        return system, code
    return None, value


def _reference_ids(value: str, param: str, resource_type: str) -> list[str]:
    ids = []
    for part in value.split(","):
        m = _ABSOLUTE_REF.match(part)
        if m:
            if m.group(1) != resource_type:
                continue  # a reference to another type never matches
            ids.append(m.group(2))
        elif validation.ID_PATTERN.match(part):
            ids.append(part)
        else:
            raise BadRequest(f"{param}={part!r} is not a reference", field=param)
    return ids


_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def _date_condition(value: str, param: str) -> ColumnElement[bool]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    text = value[2:] if value[:2] in _PREFIXES else value
    if prefix not in ("eq", "gt", "lt", "ge", "le"):
        raise BadRequest(f"{param}: the prefix {prefix} is not supported", field=param)
    try:
        span = indexing.parse_span(text)
    except ValueError:
        raise BadRequest(f"{param}={value!r} is not a FHIR date", field=param) from None
    col = FhirResource.effective
    return {
        "eq": (col >= span.start) & (col < span.end),
        "gt": col >= span.end,
        "lt": col < span.start,
        "ge": col >= span.start,
        "le": col < span.end,
    }[prefix]


def _conditions(resource_type: str, params: Iterable[tuple[str, str]]) -> list[ColumnElement[bool]]:
    allowed = indexing.params_of(resource_type)
    spec = SPECS[resource_type]
    conds: list[ColumnElement[bool]] = []
    for raw_name, value in params:
        name = raw_name.split(":", 1)[0]
        if name in _SEARCH_CONTROL:
            continue
        if name not in allowed:
            raise BadRequest(
                f"unknown search parameter {name!r} for {resource_type}; "
                f"supported: {', '.join(sorted(allowed | _SEARCH_CONTROL))}",
                field=raw_name,
            )
        if ":" in raw_name:
            raise BadRequest(f"search modifiers are not supported ({raw_name})", field=raw_name)
        if value == "":
            raise BadRequest(f"{name} needs a value", field=name)
        if name in ("patient", "subject"):
            if resource_type == "Patient" or spec.patient is None:
                raise BadRequest(f"{resource_type} has no {name} parameter", field=name)
            ids = _reference_ids(value, name, "Patient")
            conds.append(FhirResource.patient_id.in_(ids) if ids else false())
        elif name == "_id":
            conds.append(FhirResource.id.in_(value.split(",")))
        elif name == "organization":
            ids = _reference_ids(value, name, "Organization")
            conds.append(FhirResource.source_org_id.in_(ids) if ids else false())
        elif name in ("date", "birthdate"):
            if (name == "birthdate") != (resource_type == "Patient"):
                raise BadRequest(f"{resource_type} has no {name} parameter", field=name)
            conds.append(_date_condition(value, name))
        elif name == "identifier":
            alts = [_split_token(v) for v in value.split(",")]
            hashed = [(s or None, _hash_identifier(c)) for s, c in alts]
            conds.append(repo.token_condition(resource_type, "identifier", hashed, prefix=False))
        elif name == "name":
            alts = [(None, indexing.normalise_name_query(v)) for v in value.split(",")]
            conds.append(repo.token_condition(resource_type, "name", alts, prefix=True))
        else:
            alts = [_split_token(v) for v in value.split(",")]
            conds.append(repo.token_condition(resource_type, name, alts, prefix=False))
    return conds


def _count(params: Sequence[tuple[str, str]], name: str, default: int, maximum: int) -> int:
    values = [v for k, v in params if k == name]
    if not values:
        return default
    try:
        n = int(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", field=name) from None
    if not 0 <= n <= maximum:
        raise BadRequest(f"{name} must be between 0 and {maximum}", field=name)
    return n


def search(
    session: Session, ctx: ReadContext, resource_type: str, params: Sequence[tuple[str, str]]
) -> SearchResult:
    """Search one type; every person on the page goes through the access decision."""
    validation.check_type(resource_type, in_url=True)
    count = _count(params, "_count", DEFAULT_COUNT, MAX_COUNT)
    offset = _count(params, "_offset", 0, 10_000_000)
    includes = [v for k, v in params if k == "_include"]
    for inc in includes:
        source_type, _, element = inc.partition(":")
        if (
            source_type != resource_type
            or element not in ("patient", "subject")
            or resource_type == "Patient"
        ):
            raise BadRequest(
                f"_include={inc} is not supported; use {resource_type}:patient",
                field="_include",
            )
    conds = _conditions(resource_type, params)
    rows, total = repo.search(session, resource_type, conds, limit=count, offset=offset)
    included: list[FhirResource] = []
    if includes:
        pids = {r.patient_id for r in rows if r.patient_id}
        included = repo.by_references(session, "Patient", pids)
    visible = _authorise(session, ctx, [*rows, *included])
    shown = [r for r in rows if (r.resource_type, r.id) in visible]
    return SearchResult(
        matches=[to_fhir(r) for r in shown],
        total=total,
        included=[to_fhir(r) for r in included if (r.resource_type, r.id) in visible],
        withheld=len(rows) - len(shown),
    )
