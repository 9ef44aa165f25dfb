"""``yilian surveil run`` and ``backfill``: idempotent days, one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from tests.surveillance.conftest import CDC
from yilian.cli import app
from yilian.db import make_sessionmaker, session_scope
from yilian.models import load_all
from yilian.registry import service as registry
from yilian.surveillance import service
from yilian.surveillance.models import Run, Signal
from yilian.synth import geography as geo

runner = CliRunner()
BASE = [3, 4, 3, 5, 4, 3, 4, 3, 4, 5, 3, 4, 4, 3, 4, 3, 5, 4]
DAY0 = date(2024, 3, 1)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = create_engine(url)
    load_all().metadata.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("YILIAN_DATABASE_URL", url)
    from yilian.config import get_settings

    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _seed(url: str) -> date:
    from yilian.db import make_engine

    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        registry.load_registry(session, **geo.registry_payload())
    with session_scope(make_sessionmaker(engine)) as session:
        for n, c in enumerate([*BASE, 20, 25]):
            service.submit_sentinel_report(
                session, CDC, site="310105C001", syndrome="ili", age_group="0-4",
                day=DAY0 + timedelta(days=n), count=c,
            )  # fmt: skip
    engine.dispose()
    return DAY0 + timedelta(days=len(BASE) + 1)


def _count(url: str, model: type) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(model)).scalar_one()
    engine.dispose()
    return int(n)


def test_run_twice_gives_the_same_signals(db: str) -> None:
    last = _seed(db)
    first = runner.invoke(app, ["surveil", "run", "--date", last.isoformat()])
    assert first.exit_code == 0, first.output
    assert "1 new" in first.output
    signals = _count(db, Signal)
    again = runner.invoke(app, ["surveil", "run", "--date", last.isoformat()])
    assert again.exit_code == 0 and "0 new" in again.output
    assert _count(db, Signal) == signals == 1


def test_backfill_runs_every_day(db: str) -> None:
    last = _seed(db)
    out = runner.invoke(
        app, ["surveil", "backfill", "--from", DAY0.isoformat(), "--to", last.isoformat()]
    )
    assert out.exit_code == 0, out.output
    assert _count(db, Run) == len(BASE) + 2 and _count(db, Signal) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["surveil", "run", "--date", "2024-13-01"],
        ["surveil", "run", "--date", (date.today() + timedelta(days=3)).isoformat()],
        ["surveil", "backfill", "--from", "2024-03-05", "--to", "2024-03-01"],
        ["surveil", "backfill", "--from", "yesterday", "--to", "2024-03-01"],
    ],
)
def test_bad_input_is_one_line_and_non_zero(db: str, args: list[str]) -> None:
    out = runner.invoke(app, args)
    assert out.exit_code != 0
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out.output
