"""Small generated regions shared by the synth tests (generated once per session)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from yilian.synth.generate import generate
from yilian.synth.writer import iter_bundles

# Rare paths made common so that a few hundred residents exercise every resource type.
RICH_OVERRIDES: dict[str, Any] = {
    "tb": {"incidence_per_100k": 40_000},
    "notifiable": {"diseases": {"hepatitis_b": {"per_100k": 20_000}}},
    "referral": {"from_community": 0.3},
    "insurance": {"migrant_insured_at_home": 1.0},
}


@dataclass
class Run:
    out: Path
    people: list[dict[str, Any]]
    records: list[dict[str, Any]]
    repeats: list[dict[str, Any]]
    outbreaks: list[dict[str, Any]]
    manifest: dict[str, Any]
    _bundles: list[tuple[Path, dict[str, Any]]] | None = None

    def bundles(self) -> list[tuple[Path, dict[str, Any]]]:
        """Every bundle, parsed once per session (tests only read them)."""
        if self._bundles is None:
            self._bundles = [(path, json.loads(data)) for path, data in iter_bundles(self.out)]
        return self._bundles


def _ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _load(out: Path) -> Run:
    return Run(
        out=out,
        people=_ndjson(out / "truth" / "people.ndjson"),
        records=_ndjson(out / "truth" / "records.ndjson"),
        repeats=_ndjson(out / "truth" / "repeat_tests.ndjson"),
        outbreaks=json.loads((out / "truth" / "outbreaks.json").read_text()),
        manifest=json.loads((out / "manifest.json").read_text()),
    )


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """4,000 residents over 45 days with the changning profile as shipped."""
    out = tmp_path_factory.mktemp("synth-default")
    generate(out, residents=4000, days=45, seed=11, workers=2)
    return _load(out)


@pytest.fixture(scope="session")
def rich_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """300 residents over 14 days where TB, hepatitis B, referrals and claims are common."""
    out = tmp_path_factory.mktemp("synth-rich")
    generate(out, residents=300, days=14, seed=5, workers=1, overrides=RICH_OVERRIDES)
    return _load(out)
