"""Every query of the FHIR store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from yilian.db import chunks, insert_rows, unnested
from yilian.records.models import FhirResource, FhirToken

_R: Table = FhirResource.__table__  # type: ignore[assignment]
_T: Table = FhirToken.__table__  # type: ignore[assignment]
# IN lists are chunked so that a large bundle stays under every driver's parameter limit.
CHUNK = 500


@dataclass(frozen=True)
class Current:
    """What ingestion needs to know of a stored resource."""

    resource_type: str
    id: str
    version_id: int
    source_org_id: str | None
    person_id: str | None
    identifier_key: str | None


_CURRENT_COLUMNS = (
    FhirResource.resource_type,
    FhirResource.id,
    FhirResource.version_id,
    FhirResource.source_org_id,
    FhirResource.person_id,
    FhirResource.identifier_key,
)


def _pairs_in(first: Any, second: Any, pairs: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    """``(first, second) IN pairs`` as ``first = a AND second IN (...) OR ...``, per ``first``.

    A row-value IN makes SQLite scan the whole table; this form uses the index.
    """
    grouped: dict[str, list[str]] = {}
    for a, b in pairs:
        grouped.setdefault(a, []).append(b)
    return or_(*(and_(first == a, second.in_(bs)) for a, bs in grouped.items()))


def take_write_lock(session: Session) -> None:
    """Start the write transaction now: on SQLite this takes the database write lock.

    So every read that follows sees the latest commit and no concurrent writer
    can slip in between a lookup and the insert it decides. On PostgreSQL an
    UPDATE of no row locks nothing; the unique indexes and a retry do the work.
    """
    session.execute(update(FhirResource).where(false()).values(version_id=FhirResource.version_id))


def current_by_ids(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Current]:
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], Current] = {}
    for part in chunks(wanted, CHUNK):
        stmt = select(*_CURRENT_COLUMNS).where(
            _pairs_in(FhirResource.resource_type, FhirResource.id, part)
        )
        for row in session.execute(stmt):
            found[(row.resource_type, row.id)] = Current(*row)
    return found


def current_by_business_ids(
    session: Session, keys: Iterable[tuple[str | None, str, str]]
) -> dict[tuple[str | None, str, str], Current]:
    """(source, type, identifier key) → the resource from that source holding it."""
    wanted = set(keys)
    if session.get_bind().dialect.name == "postgresql":
        return _current_by_business_ids_pg(session, wanted)
    found: dict[tuple[str | None, str, str], Current] = {}
    by_source: dict[str, set[tuple[str, str]]] = {}
    for src, rtype, key in wanted:
        by_source.setdefault(src or "", set()).add((rtype, key))
    # Written as the unique index's expression with a literal '' (a bound '' does not match
    # it on SQLite) and plain INs (a row-value IN makes SQLite scan the whole table). One
    # source per statement: SQLite probes the index for every combination of the IN lists.
    for src, pairs in sorted(by_source.items()):
        types = sorted({t for t, _k in pairs})
        for part in chunks(sorted({k for _t, k in pairs}), CHUNK):
            stmt = select(*_CURRENT_COLUMNS).where(
                FhirResource.resource_type.in_(types),
                _source() == src,
                FhirResource.identifier_key.in_(part),
            )
            for row in session.execute(stmt):
                held = (row.source_org_id, row.resource_type, row.identifier_key)
                if held in wanted:
                    found[held] = Current(*row)
    return found


def _source() -> ColumnElement[str]:
    """The unique index's expression (uq_fhir_resources_business_id), literally."""
    return func.coalesce(FhirResource.source_org_id, literal_column("''"))


def persons_of_patients(session: Session, patient_ids: Iterable[str]) -> dict[str, str | None]:
    """Patient resource id → person id, for the Patients that exist."""
    wanted = sorted(set(patient_ids))
    found: dict[str, str | None] = {}
    for part in chunks(wanted, CHUNK):
        stmt = select(FhirResource.id, FhirResource.person_id).where(
            FhirResource.resource_type == "Patient", FhirResource.id.in_(part)
        )
        found.update({rid: pid for rid, pid in session.execute(stmt)})
    return found


def get(session: Session, resource_type: str, resource_id: str) -> FhirResource | None:
    return session.get(FhirResource, (resource_type, resource_id))


def _insert_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, table, rows)


def insert_resources(session: Session, rows: list[dict[str, Any]]) -> None:
    _insert_many(session, _R, rows)


def update_resources(session: Session, rows: list[dict[str, Any]]) -> int:
    """Update rows whose ``version_id`` is still ``b_expected``; the number updated."""
    if not rows:
        return 0
    stmt = (
        update(_R)
        .where(
            _R.c.resource_type == bindparam("b_type"),
            _R.c.id == bindparam("b_id"),
            _R.c.version_id == bindparam("b_expected"),
        )
        .values(
            version_id=bindparam("version_id"),
            last_updated=bindparam("last_updated"),
            person_id=bindparam("person_id"),
            patient_id=bindparam("patient_id"),
            identifier_key=bindparam("identifier_key"),
            effective=bindparam("effective"),
            resource=bindparam("resource"),
        )
    )
    updated = 0
    for row in rows:  # one statement each: the count must be per row to catch a lost update
        updated += session.connection().execute(stmt, row).rowcount
    return updated


def replace_tokens(
    session: Session, replaced: list[tuple[str, str]], rows: list[dict[str, Any]]
) -> None:
    for part in chunks(replaced, CHUNK):
        session.execute(delete(_T).where(_pairs_in(_T.c.resource_type, _T.c.resource_id, part)))
    _insert_many(session, _T, rows)


def token_holders(
    session: Session, param: str, codes: Iterable[tuple[str, str]]
) -> list[tuple[str, str, Current]]:
    """(system, code, the resource) of every ``param`` token with one of the (type, code)s.

    One query for every type of a bundle (instead of one per type and another for
    the resources the tokens point at).
    """
    wanted = set(codes)
    if not wanted:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _token_holders_pg(session, param, wanted)
    types = sorted({t for t, _c in wanted})
    found: list[tuple[str, str, Current]] = []
    for part in chunks(sorted({c for _t, c in wanted}), CHUNK):
        # Without statistics SQLite prefers the primary key (resource_type only) and
        # scans every token of the type; through rowid it takes ix_fhir_tokens_search.
        t = _T.alias("t_match")
        match = literal_column("fhir_tokens.rowid").in_(
            select(literal_column("t_match.rowid")).where(
                t.c.resource_type.in_(types), t.c.param == param, t.c.code.in_(part)
            )
        )
        stmt = select(*_CURRENT_COLUMNS, _T.c.system, _T.c.code).join_from(_T, _R, _ON).where(match)
        for row in session.execute(stmt):
            if (row.resource_type, row.code) in wanted:
                found.append((row.system, row.code, Current(*row[:6])))
    return found


_ON = and_(_R.c.resource_type == _T.c.resource_type, _R.c.id == _T.c.resource_id)


def _unnested(*columns: str) -> Any:
    """PostgreSQL: the wanted keys, one string array parameter per column (``b_<column>``)."""
    return unnested("wanted", dict.fromkeys(columns, String()))


# PostgreSQL lookups of many (type, value) pairs: each pair one index lookup, whatever the
# statistics say. With IN lists of types and of values the planner read every row of the
# types and filtered the values (the cross product is too many index descents): 3.4 s of
# server time for the tokens, 1.0 s for the business identifiers, in the 60-day benchmark
# import. Joined to the unnested pairs it still chose hash joins over whole tables while
# an import was young and the statistics said the table was empty. A LATERAL subquery
# with OFFSET is never flattened into a join, so it runs per pair, on the index. One
# statement text for any number of pairs: compiled once, prepared by the driver.
_W = _unnested("resource_type", "code")
_HOLDING = (
    select(_T.c.resource_type, _T.c.resource_id, _T.c.system, _T.c.code)
    .where(
        _T.c.resource_type == _W.c.resource_type,
        _T.c.param == bindparam("b_param"),
        _T.c.code == _W.c.code,
    )
    .offset(0)
    .lateral("holding")
)
_HOLDERS_PG = (
    select(*_CURRENT_COLUMNS, _HOLDING.c.system, _HOLDING.c.code)
    .select_from(_W)
    .join(_HOLDING, true())
    .join(
        _R,
        and_(_R.c.resource_type == _HOLDING.c.resource_type, _R.c.id == _HOLDING.c.resource_id),
    )
)


def _token_holders_pg(
    session: Session, param: str, wanted: set[tuple[str, str]]
) -> list[tuple[str, str, Current]]:
    pairs = sorted(wanted)
    params = {
        "b_resource_type": [t for t, _c in pairs],
        "b_code": [c for _t, c in pairs],
        "b_param": param,
    }
    return [
        (row.system, row.code, Current(*row[:6])) for row in session.execute(_HOLDERS_PG, params)
    ]


_B = _unnested("resource_type", "source", "identifier_key")
_KEYED = (
    select(*_CURRENT_COLUMNS)
    .where(
        _R.c.resource_type == _B.c.resource_type,
        _source() == _B.c.source,
        _R.c.identifier_key == _B.c.identifier_key,
    )
    .offset(0)
    .lateral("keyed")
)
_BY_BUSINESS_PG = select(_KEYED).select_from(_B).join(_KEYED, true())


def _current_by_business_ids_pg(
    session: Session, wanted: set[tuple[str | None, str, str]]
) -> dict[tuple[str | None, str, str], Current]:
    """All sources in one statement: a lookup in uq_fhir_resources_business_id per key."""
    keys = sorted(wanted, key=lambda k: (k[0] or "", k[1], k[2]))
    params = {
        "b_resource_type": [t for _s, t, _k in keys],
        "b_source": [s or "" for s, _t, _k in keys],
        "b_identifier_key": [k for _s, _t, k in keys],
    }
    return {
        (row.source_org_id, row.resource_type, row.identifier_key): Current(*row)
        for row in session.execute(_BY_BUSINESS_PG, params)
    }


# --- search -------------------------------------------------------------------


def token_condition(
    resource_type: str, param: str, alternatives: list[tuple[str | None, str]], *, prefix: bool
) -> ColumnElement[bool]:
    """The resource has a token of ``param`` matching one of the (system, code) alternatives."""
    ors = []
    for system, code in alternatives:
        match = _T.c.code.startswith(code, autoescape=True) if prefix else _T.c.code == code
        if system is not None:
            match = and_(match, _T.c.system == system)
        ors.append(match)
    sub = select(_T.c.resource_id).where(
        _T.c.resource_type == resource_type, _T.c.param == param, or_(*ors)
    )
    return FhirResource.id.in_(sub)


def search(
    session: Session,
    resource_type: str,
    conditions: list[ColumnElement[bool]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[FhirResource], int]:
    stmt: Select[Any] = select(FhirResource).where(
        FhirResource.resource_type == resource_type, *conditions
    )
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    if limit == 0:
        return [], total
    page = (
        stmt.order_by(FhirResource.effective.desc().nulls_last(), FhirResource.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.execute(page).scalars()), total


def by_references(session: Session, resource_type: str, ids: Iterable[str]) -> list[FhirResource]:
    wanted = sorted(set(ids))
    found: list[FhirResource] = []
    for part in chunks(wanted, CHUNK):
        stmt = select(FhirResource).where(
            FhirResource.resource_type == resource_type, FhirResource.id.in_(part)
        )
        found.extend(session.execute(stmt).scalars())
    return found


def of_person(
    session: Session, patient_ids: Sequence[str], *, since: datetime | None = None
) -> list[Row[Any]]:
    """Every resource about a person: each names one of the person's Patients (or is one).

    Plain rows, not ORM objects: a record of hundreds of resources is only read.
    """
    stmt = select(
        FhirResource.resource_type,
        FhirResource.id,
        FhirResource.version_id,
        FhirResource.last_updated,
        FhirResource.resource,
    ).where(FhirResource.patient_id.in_(list(patient_ids)))
    if since is not None:
        stmt = stmt.where(FhirResource.last_updated >= since)
    stmt = stmt.order_by(FhirResource.resource_type, FhirResource.effective, FhirResource.id)
    return list(session.execute(stmt).all())


def source_orgs(
    session: Session, keys: Iterable[tuple[str, str]]
) -> list[tuple[str, str, str | None]]:
    """(type, id, source organisation) of the given resources."""
    wanted = sorted(set(keys))
    found: list[tuple[str, str, str | None]] = []
    for part in chunks(wanted, CHUNK):
        stmt = select(
            FhirResource.resource_type, FhirResource.id, FhirResource.source_org_id
        ).where(_pairs_in(FhirResource.resource_type, FhirResource.id, part))
        found.extend((t, i, o) for t, i, o in session.execute(stmt))
    return found


_STORED_COLUMNS = (
    FhirResource.resource_type,
    FhirResource.id,
    FhirResource.version_id,
    FhirResource.last_updated,
    FhirResource.person_id,
    FhirResource.patient_id,
    FhirResource.source_org_id,
    FhirResource.resource,
)


def page_of_type(
    session: Session,
    resource_type: str,
    *,
    after: str,
    limit: int,
    code_prefixes: Sequence[str] = (),
) -> list[Row[Any]]:
    """The next ``limit`` rows of a type with id > ``after`` (keyset paging), plain rows.

    ``code_prefixes``: only resources with a ``code`` token starting with one of them.
    """
    stmt = select(*_STORED_COLUMNS).where(
        FhirResource.resource_type == resource_type, FhirResource.id > after
    )
    if code_prefixes:
        holders = select(FhirToken.resource_id).where(
            FhirToken.resource_type == resource_type,
            FhirToken.param == "code",
            or_(*(FhirToken.code.like(f"{p}%") for p in code_prefixes)),
        )
        stmt = stmt.where(FhirResource.id.in_(holders))
    return list(session.execute(stmt.order_by(FhirResource.id).limit(limit)).all())


def stored_rows(session: Session, keys: Iterable[tuple[str, str]]) -> list[Row[Any]]:
    """The given resources as plain rows (those that exist)."""
    wanted = sorted(set(keys))
    found: list[Row[Any]] = []
    for part in chunks(wanted, CHUNK):
        stmt = select(*_STORED_COLUMNS).where(
            _pairs_in(FhirResource.resource_type, FhirResource.id, part)
        )
        found.extend(session.execute(stmt).all())
    return found


def any_of_types(session: Session, resource_types: Sequence[str]) -> bool:
    stmt = select(FhirResource.id).where(FhirResource.resource_type.in_(list(resource_types)))
    return session.execute(stmt.limit(1)).first() is not None
