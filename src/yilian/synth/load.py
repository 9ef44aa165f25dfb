"""Load the synthetic region's registry part through the registry domain's service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from yilian.synth.geography import registry_payload


def load_registry(session: Session, payload: dict[str, list[dict[str, Any]]] | None = None) -> Any:
    """Upsert regions, organisations, consortia and practitioners; flush, never commit.

    ``payload`` defaults to :func:`yilian.synth.geography.registry_payload`; pass the
    ``registry.json`` of a generated run to load exactly what its bundles refer to.
    Returns the registry's ``LoadResult``.
    """
    from yilian.registry import service  # the registry is optional for generation

    data = payload if payload is not None else registry_payload()
    return service.load_registry(
        session,
        regions=data["regions"],
        organizations=data["organizations"],
        consortia=data["consortia"],
        practitioners=data["practitioners"],
    )


def read_registry(out: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The registry payload a run wrote to ``<out>/registry.json``."""
    data: dict[str, list[dict[str, Any]]] = orjson.loads((Path(out) / "registry.json").read_bytes())
    return data
