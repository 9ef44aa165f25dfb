"""IN lists: one array parameter on PostgreSQL (``= ANY``), the same rows as an IN list.

The rows are compared with what Python's own ``in`` selects, on both databases, so a
difference in NULL or empty-list handling between the two forms shows up here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from tests.fixtures.statements import counting
from yilian.db import UtcDateTime


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


_META = MetaData()
_T = Table(
    "in_list_probe",
    _META,
    Column("n", Integer, primary_key=True),
    Column("name", String(16)),
    Column("colour", Enum(Colour, native_enum=False, create_constraint=False, length=8)),
    Column("at", UtcDateTime),
)
_ROWS = [
    {"n": 1, "name": "张伟", "colour": Colour.RED, "at": datetime(2024, 1, 1, tzinfo=UTC)},
    {"n": 2, "name": "李娜", "colour": Colour.GREEN, "at": datetime(2024, 1, 2, tzinfo=UTC)},
    {"n": 3, "name": None, "colour": None, "at": None},
    {"n": 4, "name": 'O\'Brien, "x"', "colour": Colour.BLUE, "at": None},
]


@pytest.fixture
def probe(session: Session) -> Iterator[Session]:
    _META.create_all(session.connection())
    session.execute(insert(_T), _ROWS)
    yield session
    session.rollback()
    _META.drop_all(session.connection())
    session.commit()


def _ns(session: Session, *where: object) -> list[int]:
    return sorted(session.scalars(select(_T.c.n).where(*where)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "names",
    [[], ["张伟"], ["张伟", "李娜", "nobody"], ['O\'Brien, "x"'], [r"a\b", "{,}", "NULL"]],
)
def test_in_and_not_in_select_what_python_selects(probe: Session, names: list[str]) -> None:
    assert _ns(probe, _T.c.name.in_(names)) == [r["n"] for r in _ROWS if r["name"] in names]
    # NOT IN: a NULL name is unknown, so not selected — unless the list is empty.
    expected = [r["n"] for r in _ROWS if (r["name"] is not None or not names)]
    expected = [n for n in expected if _ROWS[n - 1]["name"] not in names]
    assert _ns(probe, _T.c.name.not_in(names)) == expected


def test_typed_values_go_through_their_type(probe: Session) -> None:
    assert _ns(probe, _T.c.colour.in_([Colour.GREEN, Colour.BLUE])) == [2, 4]
    day = datetime(2024, 1, 2, tzinfo=UTC)
    assert _ns(probe, _T.c.at.in_([day, datetime(2030, 1, 1, tzinfo=UTC)])) == [2]


def test_a_named_expanding_parameter_and_a_row_value_in_still_work(probe: Session) -> None:
    stmt = select(_T.c.n).where(_T.c.name.in_(bindparam("names", expanding=True)))
    assert sorted(probe.scalars(stmt, {"names": ["李娜", "张伟"]})) == [1, 2]
    assert _ns(probe, tuple_(_T.c.n, _T.c.name).in_([(1, "张伟"), (2, "not")])) == [1]
    assert _ns(probe, _T.c.n.in_(select(_T.c.n).where(_T.c.n > 2))) == [3, 4]


def test_one_statement_text_for_any_length_on_postgresql(probe: Session, engine: Engine) -> None:
    with counting(engine) as statements:
        for names in (["张伟"], ["张伟", "李娜"], ["a", "b", "c", "d", "e"]):
            _ns(probe, _T.c.name.in_(names))
    if engine.dialect.name == "postgresql":
        assert len(set(statements)) == 1
        assert "= ANY (" in statements[0]
    else:
        assert len(set(statements)) == 3  # an IN list per length
