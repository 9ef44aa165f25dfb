"""The demo region: about 20,000 residents over a year, generated, then loaded.

``yilian demo`` calls :func:`generate_demo`, loads the registry with
:func:`yilian.synth.load.load_registry` and sends each bundle of
:func:`iter_demo_bundles` through the FHIR ingestion path, as an institution would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from yilian.synth.generate import DEFAULT_START, Progress, Result, generate
from yilian.synth.load import load_registry, read_registry
from yilian.synth.writer import iter_bundles

DEMO_RESIDENTS = 20_000
DEMO_DAYS = 365
DEMO_SEED = 20_240_101


def generate_demo(
    out_dir: str | Path,
    *,
    residents: int = DEMO_RESIDENTS,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    start: date = DEFAULT_START,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Result:
    """Generate the demo region into ``out_dir``, replacing an earlier demo there."""
    return generate(
        out_dir,
        residents=residents,
        days=days,
        seed=seed,
        start=start,
        workers=workers,
        overwrite=True,
        progress=progress,
    )


def load_demo_registry(session: Session, out_dir: str | Path) -> Any:
    """Load the registry part of a generated demo (flushes; the caller commits)."""
    return load_registry(session, read_registry(out_dir))


def iter_demo_bundles(out_dir: str | Path) -> Iterator[tuple[Path, bytes]]:
    """The demo's bundles in sending order (by day, then institution code)."""
    return iter_bundles(Path(out_dir))
