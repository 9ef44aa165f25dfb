"""`yilian demo` seeds a fresh embedded database once, with one sign-in account per role."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from yilian.cli import app
from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker
from yilian.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from yilian.patients.models import Person
from yilian.records.models import FhirResource
from yilian.registry.models import Consortium, Organization
from yilian.security import service as security


def test_demo_seeds_once_and_accounts_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("YILIAN_DATABASE_URL", url)
    monkeypatch.setenv("YILIAN_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        args = ["demo", "--residents", "300", "--days", "20", "--no-serve"]
        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "seeded" in first.output
        assert any((tmp_path / "demo").rglob("*.json")), "bundles were written"
        ingested = int(first.output.split("ingested ")[1].split(" ")[0])
        assert ingested > 1000, first.output  # through the FHIR exchange, not around it
        # Every service domain added its demo data, and none of them failed.
        assert "demo data failed" not in first.output, first.output
        for domain in ("recognition", "familydoctor", "chronic", "referral", "consult"):
            assert f"{domain}:" in first.output, first.output

        again = runner.invoke(app, args)
        assert again.exit_code == 0, again.output
        assert "already seeded" in again.output

        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            orgs = session.scalar(select(func.count()).select_from(Organization))
            consortia = session.scalar(select(func.count()).select_from(Consortium))
            assert orgs and orgs > 60  # 长宁 + the demonstration zone
            assert consortia and consortia >= 3
            stored = session.scalar(select(func.count()).select_from(FhirResource))
            # A Patient re-sent by the same institution updates in place: fewer rows than entries.
            assert stored is not None and 0.9 * ingested < stored <= ingested
            people = session.scalar(select(func.count()).select_from(Person))
            # Only residents with a visit in the 20 days appear; an unlinked duplicate may add one.
            assert people and 0 < people <= 330
            for username, role, _org, _name in DEMO_ACCOUNTS:
                principal = security.sign_in_user(
                    session,
                    get_settings(),
                    username=username,
                    password=DEMO_PASSWORD,
                    address="127.0.0.1",
                )
                assert principal.role == role
        engine.dispose()
    finally:
        get_settings.cache_clear()
