"""The hash chain as pure functions: canonical form of an entry and its hash."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from yilian.db import as_utc
from yilian.kit.crypto import mask

# Fields that enter the hash, in the entry's own words; ``hash`` itself does not.
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "actor_role",
    "organization_id",
    "action",
    "resource_type",
    "resource_id",
    "person_id",
    "purpose",
    "outcome",
    "detail",
)

# 18-digit 身份证号 and mainland mobile numbers, wherever they appear in free text.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def format_time(at: datetime) -> str:
    """The one timestamp format the hash sees: UTC, microseconds, ``Z``."""
    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict[str, Any]) -> str:
    """Sorted-key, compact JSON of the hashed fields."""
    data = {name: fields.get(name) for name in HASHED_FIELDS}
    at = data["at"]
    if isinstance(at, datetime):
        data["at"] = format_time(at)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def scrub_text(text: str) -> str:
    """Mask identifiers (身份证号, mobile numbers) that slipped into free text."""
    text = _ID_CARD.sub(lambda m: mask(m.group(0)), text)
    return _MOBILE.sub(lambda m: mask(m.group(0)), text)


def scrub(value: Any) -> Any:
    """``scrub_text`` every string inside a JSON-like value."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def dump_detail(detail: dict[str, Any] | None) -> str | None:
    if not detail:
        return None
    return json.dumps(scrub(detail), sort_keys=True, ensure_ascii=False, default=str)
