"""Test fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL is used at ``YILIAN_TEST_PG_URL`` (default postgresql://localhost:5432/test),
each run in its own schema that is dropped afterwards. When no server answers, the
PostgreSQL variants are skipped and the run says so in one line.
"""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

_VAR = Path(tempfile.mkdtemp(prefix="yilian-test-var-"))
os.environ.setdefault("YILIAN_VAR_DIR", str(_VAR))
os.environ.setdefault("YILIAN_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("YILIAN_DATA_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())

import pytest  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from yilian.app import create_app  # noqa: E402
from yilian.config import Settings  # noqa: E402
from yilian.db import make_engine, make_sessionmaker  # noqa: E402
from yilian.models import load_all  # noqa: E402

pytest_plugins = ["tests.fixtures.auth", "tests.fixtures.browser", "tests.fixtures.registry"]

PG_URL = os.environ.get("YILIAN_TEST_PG_URL", "postgresql://localhost:5432/test")
_pg_state: dict[str, str | None] = {"checked": None, "error": None}


def _pg_available() -> bool:
    if _pg_state["checked"] is None:
        try:
            eng = create_engine(
                "postgresql+psycopg://" + PG_URL.split("://", 1)[1],
                connect_args={"connect_timeout": 3},
            )
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            eng.dispose()
            _pg_state["checked"] = "yes"
        except Exception as exc:  # any failure to connect means "no server here"
            _pg_state["checked"] = "no"
            _pg_state["error"] = str(exc).splitlines()[0]
    return _pg_state["checked"] == "yes"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Under xdist this runs in the controller, which ran no fixture: ask the server here.
    if not _pg_available():
        terminalreporter.write_line(
            f"PostgreSQL tests were skipped: no server answered at {PG_URL} ({_pg_state['error']})",
            yellow=True,
        )


def _pg_schema_url(schema: str) -> str:
    base = "postgresql+psycopg://" + PG_URL.split("://", 1)[1]
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database with the whole schema, per backend."""
    metadata = load_all().metadata
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'yilian.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    if not _pg_available():
        pytest.skip(f"PostgreSQL not available at {PG_URL}")
    schema = f"yl_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(schema)
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


# Sessions handed out by the ``session`` fixture and not yet closed. An ``app`` fixture
# torn down before the test's session would otherwise wait forever on PostgreSQL:
# TRUNCATE needs the lock that the session's open transaction (a last SELECT) holds.
_OPEN_SESSIONS: list[Session] = []


def _clear(engine: Engine) -> None:
    for open_session in _OPEN_SESSIONS:
        open_session.rollback()
    tables = list(reversed(load_all().metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            if names:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(t.delete())


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on a clean database; the test decides when to commit."""
    factory = make_sessionmaker(engine)
    s = factory()
    _OPEN_SESSIONS.append(s)
    try:
        yield s
    finally:
        _OPEN_SESSIONS.remove(s)
        s.rollback()
        s.close()
        _clear(engine)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, var_dir=_VAR)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()
    _clear(engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
