"""db.update_rows (one UPDATE … FROM unnest on PostgreSQL) changes what an executemany changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from tests.fixtures.statements import counting
from yilian.db import insert_rows, update_rows
from yilian.records.models import FhirResource

RESOURCES: Table = FhirResource.__table__  # type: ignore[assignment]
WHEN = datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _row(rtype: str, rid: str) -> dict[str, Any]:
    return {
        "resource_type": rtype,
        "id": rid,
        "version_id": 1,
        "last_updated": WHEN,
        "person_id": None,
        "patient_id": "p-1",
        "source_org_id": None,
        "identifier_key": f"key-{rtype}-{rid}",
        "effective": None,
        "resource": {"resourceType": rtype, "id": rid},
    }


def _state(session: Session) -> dict[tuple[str, str], tuple[Any, ...]]:
    stmt = select(
        RESOURCES.c.resource_type,
        RESOURCES.c.id,
        RESOURCES.c.version_id,
        RESOURCES.c.patient_id,
        RESOURCES.c.effective,
    )
    return {(t, i): tuple(rest) for t, i, *rest in session.execute(stmt)}


def test_each_row_changes_the_row_its_keys_name_and_no_other(
    session: Session, engine: Engine
) -> None:
    insert_rows(
        session,
        RESOURCES,
        [_row("Observation", "a"), _row("Observation", "b"), _row("Condition", "a")],
    )
    later = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    changes = [
        {"resource_type": "Observation", "id": "a", "version_id": 2, "patient_id": None,
         "effective": later},
        {"resource_type": "Condition", "id": "a", "version_id": 7, "patient_id": "p-2",
         "effective": None},
        {"resource_type": "Observation", "id": "nobody", "version_id": 9, "patient_id": "x",
         "effective": later},
    ]  # fmt: skip
    with counting(engine) as statements:
        update_rows(session, RESOURCES, ("resource_type", "id"), changes)
    assert _state(session) == {
        ("Observation", "a"): (2, None, later),
        ("Observation", "b"): (1, "p-1", None),  # named by no row
        ("Condition", "a"): (7, "p-2", None),  # the same id under another type
    }
    # One statement on PostgreSQL; one per row through the executemany elsewhere.
    assert len(statements) == 1 or engine.dialect.name != "postgresql"


def test_no_rows_is_no_statement(session: Session, engine: Engine) -> None:
    with counting(engine) as statements:
        update_rows(session, RESOURCES, ("resource_type", "id"), [])
    assert statements == []
