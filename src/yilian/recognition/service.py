"""检验检查结果互认: the catalogue, the check before ordering, decisions and statistics.

Services take a Session and never commit: the request (or the CLI job) owns the
transaction, so a check with its items, or a set of decisions, is written whole or
not at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import new_id, utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.recognition import repository as repo
from yilian.recognition import rules
from yilian.recognition.config import get_recognition_settings
from yilian.recognition.defaults import (
    DEFAULT_CATALOGUE_CODE,
    DEFAULT_CATALOGUE_NAME,
    DEFAULT_CATALOGUE_SOURCE,
    DEFAULT_ITEMS,
    LOINC,
    default_code_map,
)
from yilian.recognition.models import (
    Catalogue,
    CatalogueItem,
    Check,
    CheckItem,
    CodeMapping,
    IndexedResult,
    Participant,
)
from yilian.recognition.schemas import (
    CatalogueIn,
    CatalogueOut,
    CatalogueSummary,
    CatalogueUpdate,
    CheckItemOut,
    CheckOut,
    DecisionIn,
    DecisionOut,
    InstitutionOut,
    ItemIn,
    ItemOut,
    ItemUpdate,
    ParticipantIn,
    ParticipantOut,
    ResultOut,
    StatsOut,
    StatsRow,
)
from yilian.registry import service as registry
from yilian.security.access import require_person_access
from yilian.security.principal import Principal, Role
from yilian.security.rules import PURPOSE_TREATMENT

CODE_MAP_KEY = "yilian.recognition.code_map"
STATS_BY = ("institution", "region", "month")


# ------------------------------------------------------------------------ codes


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any) -> M:
    """Parse ``data`` as ``model``; a problem is a 422 naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        raise Unprocessable(f"{where or 'body'}: {first.get('msg')}", field=where) from exc


def code_map(session: Session) -> dict[tuple[str, str], str]:
    """(system, code) → item code: the default LOINC map, overridden by stored mappings.

    Cached on the session (one query per request or bundle); edits through this module
    drop the cache.
    """
    cached: dict[tuple[str, str], str] | None = session.info.get(CODE_MAP_KEY)
    if cached is None:
        cached = default_code_map()
        cached.update({(m.system, m.code): m.item_code for m in repo.code_mappings(session)})
        session.info[CODE_MAP_KEY] = cached
    return cached


def _forget_code_map(session: Session) -> None:
    session.info.pop(CODE_MAP_KEY, None)


def resolve_item(session: Session, requested: str) -> str | None:
    """The catalogue item a clinician means: an item code, a LOINC code, ``system|code``
    or an item's Chinese name; None when nothing matches."""
    text = requested.strip()
    mapping = code_map(session)
    if "|" in text:
        system, _, code = text.partition("|")
        return mapping.get((system.strip(), code.strip()))
    if (LOINC, text) in mapping:
        return mapping[(LOINC, text)]
    known = set(mapping.values())
    for candidate in (text, text.upper()):
        if candidate in known:
            return candidate
    found = repo.known_item_codes(session, [text, text.upper()])
    if found:
        return sorted(found)[0]
    by_name = repo.item_code_by_name(session, text)
    return by_name


def _parse_codes(codes: Iterable[str], where: str) -> list[tuple[str, str]]:
    out = []
    for n, raw in enumerate(codes):
        system, sep, code = raw.partition("|")
        if not sep or not system.strip() or not code.strip():
            raise Unprocessable(f"code {raw!r} must be written system|code", field=f"{where}[{n}]")
        out.append((system.strip()[:255], code.strip()[:100]))
    return out


def _map_codes(session: Session, item_code: str, codes: Sequence[tuple[str, str]]) -> None:
    current = code_map(session)
    for system, code in codes:
        existing = repo.code_mapping(session, system, code)
        if existing is not None:
            if existing.item_code != item_code:
                raise Unprocessable(
                    f"code {system}|{code} already stands for item {existing.item_code}",
                    field="codes",
                )
            continue
        if current.get((system, code), item_code) != item_code:
            raise Unprocessable(
                f"code {system}|{code} already stands for item {current[(system, code)]}",
                field="codes",
            )
        session.add(CodeMapping(system=system, code=code, item_code=item_code))
    session.flush()
    _forget_code_map(session)


def codes_of_item(session: Session, item_code: str) -> list[str]:
    return sorted(f"{s}|{c}" for (s, c), i in code_map(session).items() if i == item_code)


# ------------------------------------------------------------------------ catalogue


def get_catalogue(session: Session, catalogue_id: str) -> Catalogue:
    """The catalogue or NotFound (by id or by code)."""
    found = session.get(Catalogue, catalogue_id) or repo.catalogue_by_code(session, catalogue_id)
    if found is None:
        raise NotFound(f"no recognition catalogue {catalogue_id}")
    return found


def _summary(
    c: Catalogue, counts: dict[str, tuple[int, int]], members: dict[str, int]
) -> CatalogueSummary:
    lab, imaging = counts.get(c.id, (0, 0))
    return CatalogueSummary(
        id=c.id,
        code=c.code,
        name=c.name,
        region_id=c.region_id,
        consortium_id=c.consortium_id,
        source=c.source,
        active=c.active,
        lab_items=lab,
        imaging_categories=imaging,
        participants=members.get(c.id, 0),
    )


def list_catalogues(session: Session) -> list[CatalogueSummary]:
    """Every catalogue with its item and institution counts."""
    counts, members = repo.item_counts(session), repo.participant_counts(session)
    return [_summary(c, counts, members) for c in repo.catalogues(session)]


def catalogue_detail(session: Session, catalogue: Catalogue) -> CatalogueOut:
    """A catalogue with its items and institutions."""
    counts, members = repo.item_counts(session), repo.participant_counts(session)
    participants = repo.participants_of(session, catalogue.id)
    orgs = registry.organizations_by_ids(session, [p.organization_id for p in participants])
    institutions = [
        ParticipantOut(
            organization_id=p.organization_id,
            organization_name=orgs[p.organization_id].name if p.organization_id in orgs else None,
            organization_code=orgs[p.organization_id].code if p.organization_id in orgs else None,
            level=orgs[p.organization_id].level if p.organization_id in orgs else None,
            qc_status=p.qc_status,
            note=p.note,
        )
        for p in participants
    ]
    institutions.sort(key=lambda p: p.organization_code or "")
    return CatalogueOut(
        **_summary(catalogue, counts, members).model_dump(),
        items=[
            ItemOut.model_validate(i, from_attributes=True)
            for i in repo.items_of(session, catalogue.id)
        ],
        institutions=institutions,
    )


def _audit_catalogue(
    session: Session, principal: Principal | None, catalogue: Catalogue, action: str, **detail: Any
) -> None:
    _touch(session, catalogue)
    audit.record(
        session,
        principal,
        action=f"recognition.{action}",
        resource_type="RecognitionCatalogue",
        resource_id=catalogue.id,
        outcome="success",
        detail={"code": catalogue.code, **detail},
    )


def _check_scope(session: Session, region_id: str | None, consortium_id: str | None) -> None:
    if region_id is not None:
        try:
            registry.get_region(session, region_id)
        except NotFound as exc:
            raise Unprocessable(exc.message, field="region_id") from exc
    if consortium_id is not None:
        try:
            registry.get_consortium(session, consortium_id)
        except NotFound as exc:
            raise Unprocessable(exc.message, field="consortium_id") from exc


def _no_repeats(values: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    for n, v in enumerate(values):
        if v in seen:
            raise Unprocessable(f"{v} is listed twice", field=f"{field}[{n}]")
        seen.add(v)


def _validate_participants(session: Session, data: Sequence[ParticipantIn], field: str) -> None:
    _no_repeats([p.organization_id for p in data], field)
    orgs = registry.organizations_by_ids(session, [p.organization_id for p in data])
    for n, p in enumerate(data):
        if p.organization_id not in orgs:
            raise Unprocessable(
                f"organisation {p.organization_id} does not exist", field=f"{field}[{n}]"
            )


def create_catalogue(session: Session, principal: Principal | None, data: CatalogueIn) -> Catalogue:
    """Create a catalogue with its items and institutions (all or nothing)."""
    if repo.catalogue_by_code(session, data.code) is not None:
        raise Conflict(f"catalogue code {data.code} is taken", field="code")
    _check_scope(session, data.region_id, data.consortium_id)
    _no_repeats([i.item_code for i in data.items], "items")
    parsed = [_parse_codes(i.codes, f"items[{n}].codes") for n, i in enumerate(data.items)]
    _validate_participants(session, data.participants, "participants")
    catalogue = Catalogue(
        code=data.code,
        name=data.name,
        region_id=data.region_id,
        consortium_id=data.consortium_id,
        source=data.source,
        active=data.active,
    )
    session.add(catalogue)
    session.flush()
    for item, codes in zip(data.items, parsed, strict=True):
        _put_item(session, catalogue, item, codes)
    for p in data.participants:
        _put_participant(session, catalogue, p)
    session.flush()
    _audit_catalogue(
        session,
        principal,
        catalogue,
        "catalogue.create",
        items=len(data.items),
        participants=len(data.participants),
    )
    return catalogue


def update_catalogue(
    session: Session, principal: Principal | None, catalogue: Catalogue, data: CatalogueUpdate
) -> Catalogue:
    """Rename, describe, or (de)activate a catalogue."""
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if key == "name" and value is None:
            raise Unprocessable("name must not be empty", field="name")
        if key == "active" and value is None:
            raise Unprocessable("active must be true or false", field="active")
        setattr(catalogue, key, value)
    session.flush()
    _audit_catalogue(session, principal, catalogue, "catalogue.update", fields=sorted(changes))
    return catalogue


def _put_item(
    session: Session, catalogue: Catalogue, data: ItemIn, codes: Sequence[tuple[str, str]]
) -> CatalogueItem:
    settings = get_recognition_settings()
    days = data.validity_days if data.validity_days is not None else settings.window(data.group)
    row = repo.item(session, catalogue.id, data.item_code)
    if row is None:
        row = CatalogueItem(catalogue_id=catalogue.id, item_code=data.item_code)
        session.add(row)
    row.name = data.name
    row.kind = data.kind
    row.item_group = data.group
    row.validity_days = days
    row.min_level = data.min_level or None
    row.requires_qc = data.requires_qc
    row.reference_price = data.reference_price
    row.active = data.active
    session.flush()
    if codes:
        _map_codes(session, data.item_code, codes)
    return row


def put_item(
    session: Session, principal: Principal | None, catalogue: Catalogue, data: ItemIn
) -> CatalogueItem:
    """Add an item to a catalogue, or replace it (with the codes that map to it)."""
    codes = _parse_codes(data.codes, "codes")
    row = _put_item(session, catalogue, data, codes)
    _audit_catalogue(session, principal, catalogue, "item.put", item=data.item_code)
    return row


def get_item(session: Session, catalogue: Catalogue, item_code: str) -> CatalogueItem:
    row = repo.item(session, catalogue.id, item_code)
    if row is None:
        raise NotFound(f"catalogue {catalogue.code} has no item {item_code}")
    return row


def update_item(
    session: Session,
    principal: Principal | None,
    catalogue: Catalogue,
    item_code: str,
    data: ItemUpdate,
) -> CatalogueItem:
    """Change an item's window, minimum level, QC requirement, price or activity."""
    row = get_item(session, catalogue, item_code)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key not in ("min_level",):
            raise Unprocessable(f"{key} must not be null", field=key)
        setattr(row, key, value or None if key == "min_level" else value)
    session.flush()
    _audit_catalogue(
        session, principal, catalogue, "item.update", item=item_code, fields=sorted(changes)
    )
    return row


def _put_participant(session: Session, catalogue: Catalogue, data: ParticipantIn) -> Participant:
    status = data.qc_status or get_recognition_settings().default_qc_status
    row = repo.participant(session, catalogue.id, data.organization_id)
    if row is None:
        row = Participant(catalogue_id=catalogue.id, organization_id=data.organization_id)
        session.add(row)
    row.qc_status = status
    row.note = data.note
    return row


def put_participant(
    session: Session, principal: Principal | None, catalogue: Catalogue, data: ParticipantIn
) -> Participant:
    """Let an institution's results count in the catalogue, with its quality-control status."""
    _validate_participants(session, [data], "organization_id")
    row = _put_participant(session, catalogue, data)
    session.flush()
    _audit_catalogue(
        session,
        principal,
        catalogue,
        "participant.put",
        organization_id=data.organization_id,
        qc_status=row.qc_status,
    )
    return row


def remove_participant(
    session: Session, principal: Principal | None, catalogue: Catalogue, organization_id: str
) -> None:
    """Stop recognising an institution's results in the catalogue."""
    row = repo.participant(session, catalogue.id, organization_id)
    if row is None:
        raise NotFound(f"organisation {organization_id} is not in catalogue {catalogue.code}")
    session.delete(row)
    session.flush()
    _audit_catalogue(
        session, principal, catalogue, "participant.remove", organization_id=organization_id
    )


def export_catalogue(session: Session, catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue as the JSON that :func:`import_catalogue` reads back."""
    orgs = registry.organizations_by_ids(
        session, [p.organization_id for p in repo.participants_of(session, catalogue.id)]
    )
    return {
        "code": catalogue.code,
        "name": catalogue.name,
        "region_id": catalogue.region_id,
        "consortium_id": catalogue.consortium_id,
        "source": catalogue.source,
        "active": catalogue.active,
        "items": [
            {
                "item_code": i.item_code,
                "name": i.name,
                "kind": i.kind,
                "group": i.item_group,
                "validity_days": i.validity_days,
                "min_level": i.min_level,
                "requires_qc": i.requires_qc,
                "reference_price": i.reference_price,
                "active": i.active,
                "codes": codes_of_item(session, i.item_code),
            }
            for i in repo.items_of(session, catalogue.id)
        ],
        "participants": [
            {
                "organization_id": p.organization_id,
                "organization_code": orgs[p.organization_id].code
                if p.organization_id in orgs
                else None,
                "qc_status": p.qc_status,
                "note": p.note,
            }
            for p in repo.participants_of(session, catalogue.id)
        ],
    }


def import_catalogue(
    session: Session, principal: Principal | None, raw: dict[str, Any]
) -> tuple[Catalogue, bool]:
    """Create a catalogue from exported JSON, or update the one with its code (items and
    institutions are upserted). Participants may name ``organization_code`` instead of an id."""
    participants = []
    for n, p in enumerate(raw.get("participants") or []):
        if not isinstance(p, dict):
            raise Unprocessable("a participant must be an object", field=f"participants[{n}]")
        p = dict(p)
        code = p.pop("organization_code", None)
        if not p.get("organization_id") and code:
            org = registry.get_organization_by_code(session, str(code))
            if org is None:
                raise Unprocessable(f"no organisation with code {code}", field=f"participants[{n}]")
            p["organization_id"] = org.id
        participants.append(p)
    data = validated(CatalogueIn, {**raw, "participants": participants})
    existing = repo.catalogue_by_code(session, data.code)
    if existing is None:
        return create_catalogue(session, principal, data), True
    _no_repeats([i.item_code for i in data.items], "items")
    parsed = [_parse_codes(i.codes, f"items[{n}].codes") for n, i in enumerate(data.items)]
    _validate_participants(session, data.participants, "participants")
    _check_scope(session, data.region_id, data.consortium_id)
    existing.name, existing.source, existing.active = data.name, data.source, data.active
    existing.region_id, existing.consortium_id = data.region_id, data.consortium_id
    for item, codes in zip(data.items, parsed, strict=True):
        _put_item(session, existing, item, codes)
    for p in data.participants:
        _put_participant(session, existing, p)
    session.flush()
    _audit_catalogue(session, principal, existing, "catalogue.import", items=len(data.items))
    return existing, False


def default_catalogue_payload() -> dict[str, Any]:
    """The default catalogue (seed 001's 35 lab items and 9 imaging categories) as JSON."""
    settings = get_recognition_settings()
    return {
        "code": DEFAULT_CATALOGUE_CODE,
        "name": DEFAULT_CATALOGUE_NAME,
        "source": DEFAULT_CATALOGUE_SOURCE,
        "items": [
            {
                "item_code": i.code,
                "name": i.name,
                "kind": i.kind,
                "group": i.group,
                "validity_days": settings.window(i.group),
                "requires_qc": True,
                "reference_price": i.price,
            }
            for i in DEFAULT_ITEMS
        ],
        "participants": [],
    }


def install_default(
    session: Session,
    principal: Principal | None,
    *,
    code: str = DEFAULT_CATALOGUE_CODE,
    name: str = DEFAULT_CATALOGUE_NAME,
    source: str = DEFAULT_CATALOGUE_SOURCE,
    organization_ids: Iterable[str] = (),
) -> Catalogue:
    """Install the default items as catalogue ``code`` (once) and add institutions to it."""
    catalogue = repo.catalogue_by_code(session, code)
    if catalogue is None:
        payload = default_catalogue_payload() | {"code": code, "name": name, "source": source}
        catalogue = create_catalogue(session, principal, CatalogueIn.model_validate(payload))
    have = {p.organization_id for p in repo.participants_of(session, catalogue.id)}
    added = 0
    for org_id in organization_ids:
        if org_id not in have:
            _put_participant(session, catalogue, ParticipantIn(organization_id=org_id))
            have.add(org_id)
            added += 1
    if added:
        _touch(session, catalogue)
    session.flush()
    return catalogue


# ------------------------------------------------------------------------ the check


@dataclass(frozen=True)
class _Context:
    """What a check (or a decision) needs to judge results: entries, institutions, QC."""

    entries: dict[str, list[rules.Entry]]
    institutions: dict[str, rules.Institution]
    qc: dict[tuple[str, str], str]
    participates: bool  # the ordering institution takes part in an active catalogue
    region_id: str | None  # of the ordering institution


def _touch(session: Session, catalogue: Catalogue) -> None:
    """Mark the catalogue changed, so every process reloads its snapshot."""
    catalogue.updated_at = utcnow()
    session.flush()


@dataclass(frozen=True)
class _Snapshot:
    """Every active catalogue's entries, institutions and QC, read once and kept in memory.

    Reloaded when a catalogue changes (its ``updated_at``, checked with one small query per
    check) and at least every ``snapshot_seconds`` (registry edits: a level or closure).
    """

    version: tuple[Any, ...]
    loaded_at: float
    catalogues_of: dict[str, frozenset[str]]  # organisation → its active catalogues
    entries: dict[str, list[rules.Entry]]  # item code → entries of every active catalogue
    qc: dict[tuple[str, str], str]
    institutions: dict[str, rules.Institution]  # participants
    regions: dict[str, str]  # participant → region id


_SNAPSHOT: list[_Snapshot] = []


def _load_snapshot(session: Session, version: tuple[Any, ...]) -> _Snapshot:
    catalogues = {c.id: c for c in repo.catalogues(session) if c.active}
    entries: dict[str, list[rules.Entry]] = {}
    for item in repo.active_items(session, list(catalogues)):
        c = catalogues[item.catalogue_id]
        entries.setdefault(item.item_code, []).append(
            rules.Entry(
                catalogue_id=c.id,
                catalogue_name=c.name,
                item_code=item.item_code,
                name=item.name,
                kind=item.kind,
                validity_days=item.validity_days,
                min_level=item.min_level,
                requires_qc=item.requires_qc,
                reference_price=item.reference_price,
            )
        )
    qc: dict[tuple[str, str], str] = {}
    catalogues_of: dict[str, set[str]] = {}
    for p in repo.participants_in(session, list(catalogues)):
        qc[(p.catalogue_id, p.organization_id)] = p.qc_status
        catalogues_of.setdefault(p.organization_id, set()).add(p.catalogue_id)
    orgs = registry.organizations_by_ids(session, catalogues_of)
    return _Snapshot(
        version=version,
        loaded_at=time.monotonic(),
        catalogues_of={k: frozenset(v) for k, v in catalogues_of.items()},
        entries=entries,
        qc=qc,
        institutions={
            o.id: rules.Institution(o.id, o.name, o.level, bool(o.active)) for o in orgs.values()
        },
        regions={o.id: o.region_id for o in orgs.values()},
    )


def _snapshot(session: Session) -> _Snapshot:
    version = repo.catalogue_version(session)
    current = _SNAPSHOT[0] if _SNAPSHOT else None
    ttl = get_recognition_settings().snapshot_seconds
    if current is None or current.version != version or time.monotonic() - current.loaded_at > ttl:
        current = _load_snapshot(session, version)
        _SNAPSHOT[:] = [current]
    return current


def _context(
    session: Session,
    item_codes: Sequence[str],
    organization_id: str | None,
    results: Sequence[IndexedResult],
) -> _Context:
    snap = _snapshot(session)
    mine = snap.catalogues_of.get(organization_id or "", frozenset())
    entries = {
        code: [
            e
            for e in snap.entries.get(code, [])
            if organization_id is None or e.catalogue_id in mine
        ]
        for code in item_codes
    }
    entries = {code: es for code, es in entries.items() if es}
    org_ids = {r.source_org_id for r in results if r.source_org_id}
    institutions = {o: snap.institutions[o] for o in org_ids if o in snap.institutions}
    # Institutions outside every catalogue are named for the clinician, nothing more.
    unknown = org_ids - institutions.keys()
    if unknown:
        for o in registry.organizations_by_ids(session, unknown).values():
            institutions[o.id] = rules.Institution(o.id, o.name, o.level, bool(o.active))
    return _Context(
        entries=entries,
        institutions=institutions,
        qc=snap.qc,
        participates=bool(mine) or organization_id is None,
        region_id=snap.regions.get(organization_id or ""),
    )


def lookup(
    session: Session,
    patient_ids: Sequence[str],
    item_codes: Sequence[str],
    organization_id: str | None,
    now: datetime,
) -> dict[str, rules.Verdict]:
    """The verdict per item code for a person's records: one indexed query (plus the
    catalogue snapshot's version check)."""
    rows = repo.results_for(session, patient_ids, item_codes)
    ctx = _context(session, item_codes, organization_id, rows)
    by_item: dict[str, list[rules.Result]] = {}
    for row in rows:
        by_item.setdefault(row.item_code, []).append(_as_result(row))
    return {
        code: rules.judge(
            code, ctx.entries.get(code, []), by_item.get(code, []), ctx.institutions, ctx.qc, now
        )
        for code in item_codes
    }


def _as_result(row: IndexedResult) -> rules.Result:
    return rules.Result(
        id=row.id,
        item_code=row.item_code,
        effective=row.effective,
        source_org_id=row.source_org_id,
        value=row.value,
        unit=row.unit,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        report_id=row.report_id,
    )


def _result_out(
    a: rules.Assessment, row: IndexedResult, institutions: dict[str, rules.Institution]
) -> ResultOut:
    inst = institutions.get(row.source_org_id or "")
    return ResultOut(
        id=row.id,
        value=row.value,
        unit=row.unit,
        effective=row.effective,
        age_days=a.age_days,
        institution=InstitutionOut(
            id=row.source_org_id,
            name=inst.name if inst else None,
            level=inst.level if inst else None,
        ),
        resource=f"{row.resource_type}/{row.resource_id}",
        report=f"DiagnosticReport/{row.report_id}" if row.report_id else None,
        hr_marked=row.hr_marked,
        recognisable=a.usable,
        problem=a.detail or a.problem,
        explanation=rules.explain(a),
    )


def month_of(when: datetime) -> str:
    return when.astimezone(ZoneInfo(get_recognition_settings().timezone)).strftime("%Y-%m")


def _person_records(session: Session, person_id: str) -> tuple[str, list[str]]:
    current = patients.current_person_id(session, person_id)
    return current, patients.record_ids_of(session, current)


def check(
    session: Session,
    principal: Principal,
    person_id: str,
    requested: Sequence[str],
    *,
    now: datetime | None = None,
) -> CheckOut:
    """Check before ordering (检查检验前查询): for each item, reuse a recognisable result or
    order anew with the reason; the check is recorded as one person-visit."""
    settings = get_recognition_settings()
    now = now or utcnow()
    if len(requested) > settings.max_items_per_check:
        raise Unprocessable(
            f"at most {settings.max_items_per_check} items in one check", field="items"
        )
    current, patient_ids = _person_records(session, person_id)
    require_person_access(
        session,
        principal,
        person_id=current,
        action="read",
        purpose=PURPOSE_TREATMENT,
        resource_type="RecognitionCheck",
    )
    return record_check(
        session,
        person_id=current,
        patient_ids=patient_ids,
        organization_id=principal.organization_id,
        checked_by=principal.subject,
        requested=requested,
        now=now,
    )


def record_check(
    session: Session,
    *,
    person_id: str,
    patient_ids: Sequence[str],
    organization_id: str | None,
    checked_by: str,
    requested: Sequence[str],
    now: datetime,
) -> CheckOut:
    """Judge and record a check for a person whose access was already decided."""
    settings = get_recognition_settings()
    org_id = organization_id
    resolved = {r: resolve_item(session, r) for r in requested}
    codes = sorted({c for c in resolved.values() if c})
    rows = repo.results_for(session, patient_ids, codes)
    ctx = _context(session, codes, org_id, rows)
    if not ctx.participates:
        raise Unprocessable(
            "your institution takes part in no recognition catalogue: ask the health "
            "commission to add it before checking",
            field="organization_id",
        )
    by_item: dict[str, list[IndexedResult]] = {}
    for row in rows:
        by_item.setdefault(row.item_code, []).append(row)
    by_id = {row.id: row for row in rows}
    check_id = new_id()
    record: dict[str, Any] = dict(
        id=check_id,
        person_id=person_id,
        organization_id=org_id,
        region_id=ctx.region_id,
        month=month_of(now),
        checked_by=checked_by,
        checked_at=now,
    )
    item_rows: list[dict[str, Any]] = []
    out_items: list[CheckItemOut] = []
    for position, text in enumerate(requested):
        code = resolved[text]
        entries = ctx.entries.get(code or "", [])
        verdict = rules.judge(
            code,
            entries,
            [_as_result(r) for r in by_item.get(code or "", [])],
            ctx.institutions,
            ctx.qc,
            now,
            keep=settings.candidates_per_item,
        )
        entry = verdict.entry
        chosen = verdict.chosen
        chosen_row = by_id[chosen.result.id] if chosen else None
        item = dict(
            id=new_id(),
            check_id=check_id,
            position=position,
            requested=text,
            item_code=code,
            name=entry.name if entry else None,
            catalogue_id=entry.catalogue_id if entry else None,
            verdict=verdict.verdict,
            reason=verdict.reason,
            result_id=chosen_row.id if chosen_row else None,
            result_org_id=chosen_row.source_org_id if chosen_row else None,
            result_effective=chosen_row.effective if chosen_row else None,
            reference_price=entry.reference_price if entry else 0.0,
        )
        item_rows.append(item)
        out_items.append(
            CheckItemOut(
                id=item["id"],
                requested=text,
                item_code=code,
                name=entry.name if entry else None,
                kind=entry.kind if entry else None,
                catalogue=entry.catalogue_name if entry else None,
                validity_days=entry.validity_days if entry else None,
                reference_price=entry.reference_price if entry else 0.0,
                verdict=verdict.verdict,
                reason=verdict.reason,
                result=_result_out(chosen, by_id[chosen.result.id], ctx.institutions)
                if chosen
                else None,
                candidates=[
                    _result_out(a, by_id[a.result.id], ctx.institutions) for a in verdict.candidates
                ],
            )
        )
    record["items_total"] = len(requested)
    record["items_recognisable"] = sum(1 for i in out_items if i.verdict == rules.REUSE)
    try:
        # Core inserts: a check is written on every order sheet, the unit of work is not needed.
        session.execute(insert(Check), [record])
        session.execute(insert(CheckItem), item_rows)
    except IntegrityError as exc:  # two identical texts after normalisation
        raise Unprocessable("an item is listed twice", field="items") from exc
    return CheckOut(
        id=check_id,
        person_id=person_id,
        organization_id=org_id,
        checked_at=now,
        items=out_items,
    )


def get_check(
    session: Session, principal: Principal, check_id: str
) -> tuple[Check, list[CheckItem]]:
    """A recorded check and its items; only its institution (or an administrator) sees it."""
    record = session.get(Check, check_id)
    if record is None:
        raise NotFound(f"no recognition check {check_id}")
    if principal.role is not Role.admin and principal.organization_id != record.organization_id:
        raise Forbidden("this check belongs to another institution")
    return record, repo.check_items(session, check_id)


def decide(
    session: Session,
    principal: Principal,
    check_id: str,
    decisions: Sequence[DecisionIn],
    *,
    now: datetime | None = None,
) -> list[DecisionOut]:
    """Record the clinician's decisions (reuse, or repeat with a permitted reason); all or none.

    Reusing a result the catalogue does not recognise (expired, from a non-eligible
    institution, not in the catalogue) is refused with the reason.
    """
    record, items = get_check(session, principal, check_id)
    out = _apply_decisions(session, record, items, principal.subject, decisions, now or utcnow())
    audit.record(
        session,
        principal,
        action="recognition.decide",
        resource_type="RecognitionCheck",
        resource_id=record.id,
        person_id=record.person_id,
        outcome="success",
        detail={
            "reused": [o.item_code for o in out if o.decision == rules.REUSED],
            "reordered": {
                o.requested: o.retest_reason for o in out if o.decision == rules.REORDERED
            },
        },
    )
    return out


def record_decisions(
    session: Session,
    decided_by: str,
    check_id: str,
    decisions: Sequence[DecisionIn],
    *,
    now: datetime | None = None,
) -> list[DecisionOut]:
    """Record decisions on a check without a signed-in caller (demo and batch imports)."""
    record = session.get(Check, check_id)
    if record is None:
        raise NotFound(f"no recognition check {check_id}")
    items = repo.check_items(session, check_id)
    return _apply_decisions(session, record, items, decided_by, decisions, now or utcnow())


def _apply_decisions(
    session: Session,
    record: Check,
    items: Sequence[CheckItem],
    decided_by: str,
    decisions: Sequence[DecisionIn],
    now: datetime,
) -> list[DecisionOut]:
    by_text = {i.requested: i for i in items}
    _no_repeats([d.requested for d in decisions], "decisions")
    _, patient_ids = _person_records(session, record.person_id)
    planned: list[tuple[CheckItem, DecisionIn, IndexedResult | None]] = []
    for n, d in enumerate(decisions):
        where = f"decisions[{n}]"
        item = by_text.get(d.requested)
        if item is None:
            raise Unprocessable(f"{d.requested} is not an item of this check", field=where)
        if item.decision is not None:
            raise Conflict(f"{d.requested}: a decision ({item.decision}) is already recorded")
        row: IndexedResult | None = None
        assessment: rules.Assessment | None = None
        if d.decision == rules.REUSED:
            result_id = d.result_id or item.result_id
            if item.item_code is None:
                raise Unprocessable(
                    f"{d.requested}: the item is not in a recognition catalogue of your "
                    "institution, there is nothing to recognise",
                    field=where,
                )
            if result_id is not None:
                row = repo.result(session, result_id)
                if (
                    row is None
                    or row.patient_id not in patient_ids
                    or row.item_code != item.item_code
                ):
                    raise Unprocessable(
                        f"{d.requested}: result {result_id} is not a {item.item_code} result "
                        "of this person",
                        field=f"{where}.result_id",
                    )
                ctx = _context(session, [item.item_code], record.organization_id, [row])
                entries = ctx.entries.get(item.item_code, [])
                if not entries:
                    raise Unprocessable(
                        f"{d.requested}: the item is no longer in a recognition catalogue",
                        field=where,
                    )
                assessment = rules.assess(_as_result(row), entries, ctx.institutions, ctx.qc, now)
        problem = rules.decision_problem(
            item.verdict, d.decision, d.retest_reason, d.note, assessment
        )
        if problem:
            raise Unprocessable(f"{d.requested}: {problem}", field=where)
        planned.append((item, d, row))
    out: list[DecisionOut] = []
    for item, d, row in planned:
        values: dict[str, Any] = {
            "decision": d.decision,
            "retest_reason": d.retest_reason if d.decision == rules.REORDERED else None,
            "note": d.note,
            "decided_by": decided_by,
            "decided_at": now,
        }
        if row is not None:
            values.update(
                result_id=row.id, result_org_id=row.source_org_id, result_effective=row.effective
            )
        if not repo.record_decision(session, item.id, values):
            raise Conflict(f"{d.requested}: a decision was recorded meanwhile")
        out.append(
            DecisionOut(
                requested=item.requested,
                item_code=item.item_code,
                decision=d.decision,
                retest_reason=values["retest_reason"],
                note=d.note,
                result_id=values.get("result_id", item.result_id)
                if d.decision == rules.REUSED
                else None,
                saved=item.reference_price if d.decision == rules.REUSED else 0.0,
            )
        )
    session.expire_all()
    return out


# ------------------------------------------------------------------------ statistics


def statistics(
    session: Session,
    *,
    by: str = "month",
    since: str | None = None,
    until: str | None = None,
    region_id: str | None = None,
    organization_id: str | None = None,
) -> StatsOut:
    """Recognition rate by person-visits and by items, avoided tests and money saved,
    by institution, region or month."""
    if by not in STATS_BY:
        raise Unprocessable(f"by must be one of {', '.join(STATS_BY)}", field="by")
    key = {"institution": Check.organization_id, "region": Check.region_id, "month": Check.month}[
        by
    ]
    region_ids = None
    if region_id is not None:
        try:
            registry.get_region(session, region_id)
        except NotFound as exc:
            raise Unprocessable(exc.message, field="region_id") from exc
        region_ids = list(session.scalars(registry.within_region(region_id)))
    raw = repo.statistics(
        session,
        key,
        since=since,
        until=until,
        region_ids=region_ids,
        organization_id=organization_id,
    )
    labels = _labels(session, by, [r[0] for r in raw])
    rows = [
        _stats_row(None if r[0] is None else str(r[0]), labels.get(r[0], r[0] or "—"), r[1:])
        for r in raw
    ]
    total = _stats_row(None, "合计", tuple(sum(float(r[i] or 0) for r in raw) for i in range(1, 8)))
    return StatsOut(
        by=by,
        since=since,
        until=until,
        reference_person_visit_rate=get_recognition_settings().reference_person_visit_rate,
        total=total,
        rows=rows,
    )


def _labels(session: Session, by: str, keys: Sequence[Any]) -> dict[Any, str]:
    ids = [k for k in keys if k]
    if by == "institution":
        return {k: o.name for k, o in registry.organizations_by_ids(session, ids).items()}
    if by == "region":
        regions = registry.regions_with_ancestors(session, ids)
        return {k: regions[k].name for k in ids if k in regions}
    return {k: k for k in ids}


def _stats_row(key: str | None, label: str, values: Sequence[Any]) -> StatsRow:
    checks, rec_checks, reused_checks, items, rec_items, reused_items = (
        int(v or 0) for v in values[:6]
    )
    saved = round(float(values[6] or 0), 2)
    return StatsRow(
        key=key,
        label=label,
        checks=checks,
        checks_recognisable=rec_checks,
        checks_reused=reused_checks,
        person_visit_rate=rules.rate(reused_checks, rec_checks),
        items_checked=items,
        items_recognisable=rec_items,
        items_reused=reused_items,
        item_rate=rules.rate(reused_items, rec_items),
        avoided_tests=reused_items,
        money_saved=saved,
    )
