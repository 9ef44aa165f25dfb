"""db.insert_rows (COPY on PostgreSQL) stores what an ordinary INSERT stores, errors alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.fixtures.statements import counting
from yilian.db import insert_rows
from yilian.records.models import FhirResource, FhirToken

RESOURCES: Table = FhirResource.__table__  # type: ignore[assignment]
TOKENS: Table = FhirToken.__table__  # type: ignore[assignment]


def _row(rid: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "resource_type": "Observation",
        "id": rid,
        "version_id": 1,
        "last_updated": datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=UTC),
        "person_id": None,
        "patient_id": "p-1",
        "source_org_id": None,
        "identifier_key": f"key-{rid}",
        "effective": None,
        "resource": {
            "resourceType": "Observation",
            "id": rid,
            "note": [{"text": '空腹血糖 \u2603 "quoted" \\ tab\there\nnew line'}],
            "valueQuantity": {"value": 5.4},
            "big": 12345678901234567,
        },
    }
    row.update(changes)
    return row


def _stored(session: Session, rid: str) -> dict[str, Any]:
    """The row as read back, without what differs by id (the id, the key, the body's id)."""
    found = dict(session.execute(select(RESOURCES).where(RESOURCES.c.id == rid)).one()._mapping)
    del found["id"], found["identifier_key"]
    found["resource"] = {k: v for k, v in found["resource"].items() if k != "id"}
    return found


def test_rows_come_back_as_an_ordinary_insert_stores_them(session: Session) -> None:
    when = datetime(2024, 1, 2, tzinfo=UTC)
    insert_rows(session, RESOURCES, [_row("a"), _row("b", effective=when)])
    session.execute(insert(RESOURCES), [_row("c"), _row("d", effective=when)])
    rows = {rid: _stored(session, rid) for rid in "abcd"}
    assert rows["a"] == rows["c"]
    assert rows["b"] == rows["d"]
    assert rows["a"]["resource"]["note"][0]["text"].startswith("空腹血糖")
    assert rows["a"]["resource"]["big"] == 12345678901234567
    assert rows["a"]["last_updated"] == _row("a")["last_updated"]
    assert rows["b"]["effective"] == when


def test_a_unique_violation_is_an_integrity_error_and_the_savepoint_recovers(
    session: Session,
) -> None:
    insert_rows(session, RESOURCES, [_row("a")])
    with pytest.raises(IntegrityError), session.begin_nested():
        # the same business identifier from the same source
        insert_rows(session, RESOURCES, [_row("b"), _row("c", identifier_key="key-b")])
    insert_rows(session, RESOURCES, [_row("d")])
    ids = session.scalars(select(RESOURCES.c.id).order_by(RESOURCES.c.id)).all()
    assert ids == ["a", "d"]


def test_rows_without_a_defaulted_column_get_its_default(session: Session) -> None:
    insert_rows(session, RESOURCES, [_row("a")])
    insert_rows(
        session,
        TOKENS,
        [{"resource_type": "Observation", "resource_id": "a", "param": "code", "code": "2345-7"}],
    )
    assert session.execute(select(TOKENS.c.system, TOKENS.c.code)).one() == ("", "2345-7")


def test_nothing_to_insert_is_fine(session: Session) -> None:
    insert_rows(session, TOKENS, [])
    assert session.execute(select(TOKENS)).first() is None


def test_the_insert_is_one_statement_that_cursor_listeners_see(
    session: Session, engine: Engine
) -> None:
    with counting(engine) as statements:
        insert_rows(session, RESOURCES, [_row(f"r{i}") for i in range(50)])
    assert len(statements) == 1
    assert statements[0].startswith("COPY" if engine.dialect.name == "postgresql" else "INSERT")
