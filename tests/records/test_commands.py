"""``yilian fhir import``: bundle files and folders in, one line out, refusals named."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.records.conftest import visit_bundle
from yilian.config import get_settings
from yilian.records.commands import fhir
from yilian.records.models import FhirResource
from yilian.registry.models import Organization


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[None]:
    monkeypatch.setenv("YILIAN_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(fhir, ["import", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _stored(session: Session) -> int:
    session.rollback()
    return session.execute(select(func.count()).select_from(FhirResource)).scalar_one()


def test_import_reads_files_folders_and_ndjson_and_names_what_it_refused(
    tmp_path: Path,
    session: Session,
    make_org: Callable[..., Organization],
    cli_env: None,
) -> None:
    org = make_org(code="QP-HOSP")
    (tmp_path / "one.json").write_text(json.dumps(visit_bundle()), encoding="utf-8")
    broken = visit_bundle()
    broken["entry"][1]["resource"]["period"] = {"start": "last week"}
    lines = [json.dumps(visit_bundle()), "", json.dumps(broken)]
    (tmp_path / "day.ndjson").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "late.json.gz").write_bytes(b"this is not gzip")
    (tmp_path / "notes.txt").write_text("not a bundle", encoding="utf-8")

    code, out, err = _run(str(tmp_path), "--org", org.code, "--workers", "0")

    assert code == 1
    assert out.strip() == "imported 2 bundles (8 resources); 1 refused; 1 files unreadable"
    assert f"refused {tmp_path / 'day.ndjson'}:3: Encounter is not valid FHIR R4" in err
    assert "Bundle.entry[1].resource.period.start" in err
    assert f"unreadable {tmp_path / 'late.json.gz'}" in err
    assert "Traceback" not in out + err
    assert _stored(session) == 8


def test_import_takes_the_institution_from_each_file_name(
    tmp_path: Path,
    session: Session,
    make_org: Callable[..., Organization],
    cli_env: None,
) -> None:
    a, b = make_org(code="HOSP-A"), make_org(code="CHC-B")
    (tmp_path / f"{a.code}.2024-03-01.json").write_text(json.dumps(visit_bundle()))
    (tmp_path / f"{b.code}.2024-03-01.json.gz").write_bytes(
        gzip.compress(json.dumps(visit_bundle()).encode())
    )
    code, out, _err = _run(str(tmp_path), "--org-from-name")
    assert code == 0, out
    assert out.strip() == "imported 2 bundles (8 resources); 0 refused"
    session.rollback()
    sources = session.execute(select(FhirResource.source_org_id).distinct()).scalars().all()
    assert sorted(sources) == sorted([a.id, b.id])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the sending institution: --org CODE, or --org-from-name"),
        (["--org", "NO-SUCH-ORG"], "no institution with code NO-SUCH-ORG in the registry"),
    ],
)
def test_import_refuses_a_command_it_cannot_carry_out_in_one_line(
    tmp_path: Path, session: Session, cli_env: None, args: list[str], message: str
) -> None:
    (tmp_path / "one.json").write_text(json.dumps(visit_bundle()))
    code, _out, err = _run(str(tmp_path), *args)
    assert code == 1
    assert err.strip() == f"error: {message}"
    assert _stored(session) == 0


def test_import_of_a_missing_path_is_an_error(tmp_path: Path, cli_env: None) -> None:
    code, _out, err = _run(str(tmp_path / "nowhere"), "--org", "X")
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'nowhere'}: no such file or folder"
