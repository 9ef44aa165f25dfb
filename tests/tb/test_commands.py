"""``yilian tb predict``, ``catalogue import`` and ``demo``: one-line errors, non-zero exits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from tests.tb.conftest import DATA, vcf
from yilian.cli import app
from yilian.models import load_all

runner = CliRunner()
WHO_FILES = (
    "gene_locations.csv",
    "tbdb_mutations_6aed5d9_2024-01-30.csv",
    "WHO2023_Genomic_coordinates_7May2024.vcf.gz",
)


@pytest.fixture(autouse=True)
def _data() -> None:
    if not DATA.exists():
        pytest.skip(f"WHO catalogue files not found at {DATA}")


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


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (vcf("761155 C T").replace("NC_000962.3\t761155", "chr1\t761155"), "not H37Rv"),
        (vcf("761155 C T").replace("\tC\tT\t", "\tC\n"), "columns"),
        ("", "no #CHROM header"),
        (vcf(), "no variant records"),
    ],
)
def test_predict_refuses_bad_vcf_in_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "sample.vcf"
    path.write_text(text)
    result = runner.invoke(app, ["tb", "predict", str(path), "--catalogue", str(DATA)])
    assert result.exit_code == 1
    assert needle in _one_error_line(result.output)


def test_predict_reports_a_sample(tmp_path: Path) -> None:
    path = tmp_path / "por5a.vcf"
    path.write_text(vcf("761155 C T", "1673425 C T", "2288868 A C", "4247429 A G"))
    result = runner.invoke(app, ["tb", "predict", str(path), "--catalogue", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "MDR-TB" in result.output and "WHO-UCN-GTB-PCI-2023.5" in result.output


def test_import_refuses_another_catalogue_version(tmp_path: Path, db: str) -> None:
    files = tmp_path / "who"
    files.mkdir()
    rules = (DATA / "oxfordmmm_expert-rules.csv").read_text()
    (files / "rules.csv").write_text(rules.replace("PCI-2023.5", "PCI-2021.7"))
    for name in WHO_FILES:
        (files / name).symlink_to(DATA / name)
    result = runner.invoke(app, ["tb", "catalogue", "import", str(files)])
    assert result.exit_code == 1
    assert "2021.7" in _one_error_line(result.output)


def test_demo_without_a_catalogue_says_how_to_import_it(db: str) -> None:
    result = runner.invoke(app, ["tb", "demo"])
    assert result.exit_code == 1
    assert "yilian tb catalogue import" in _one_error_line(result.output)
