"""Profiles: the YAML files that hold the generator's parameters and their sources."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "changning"

REQUIRED_BLOCKS = (
    "population",
    "residence",
    "hukou",
    "insurance",
    "contact",
    "conditions",
    "diagnosis",
    "visits",
    "chronic",
    "referral",
    "recognition",
    "contracts",
    "notifiable",
    "tb",
    "errors",
    "sentinel",
)


class ProfileError(ValueError):
    """The profile file is missing, unreadable or lacks a block; the message says which."""


@dataclass(frozen=True)
class Profile:
    name: str
    data: dict[str, Any]
    sha256: str

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _sourced(block: object) -> bool:
    """A block names its source, or each of its entries does (as ``conditions`` does)."""
    if not isinstance(block, dict):
        return False
    if block.get("source"):
        return True
    return bool(block) and all(isinstance(v, dict) and v.get("source") for v in block.values())


def load_profile(
    profile: str | Path = DEFAULT_PROFILE, overrides: Mapping[str, Any] | None = None
) -> Profile:
    """Read a profile by name (``changning``) or path, with ``overrides`` merged in depth."""
    path = Path(profile)
    if not path.suffix:
        path = PROFILE_DIR / f"{profile}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path} must be a mapping at the top level")
    if overrides:
        data = _merge(data, overrides)
    missing = [b for b in REQUIRED_BLOCKS if b not in data]
    if missing:
        raise ProfileError(f"profile {path} lacks the block(s): {', '.join(missing)}")
    unsourced = [b for b in REQUIRED_BLOCKS if not _sourced(data[b])]
    if unsourced:
        raise ProfileError(f"profile {path}: block(s) without a source note: {unsourced}")
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return Profile(
        name=str(data.get("name", path.stem)),
        data=data,
        sha256=hashlib.sha256(canonical).hexdigest(),
    )
