"""The migrations and the models describe the same schema, on both databases."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from yilian.db import make_engine
from yilian.migrate import upgrade
from yilian.models import load_all

from ..conftest import PG_URL, _pg_available, _pg_schema_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_models(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        cleanup = None
    else:
        if not _pg_available():
            pytest.skip(f"PostgreSQL not available at {PG_URL}")
        schema = f"yl_mig_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)

        def cleanup() -> None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    try:
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), load_all().metadata)
        engine.dispose()
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        if cleanup:
            cleanup()
