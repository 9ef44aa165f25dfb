"""The chain's pure parts: canonical form, hashing, identifier scrubbing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from yilian.audit import chain

AT = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
FIELDS = {
    "seq": 7,
    "at": AT,
    "actor_id": "u1",
    "actor_name": "wang",
    "actor_role": "doctor",
    "organization_id": "org1",
    "action": "read",
    "resource_type": "Patient",
    "resource_id": None,
    "person_id": "p1",
    "purpose": "treatment",
    "outcome": "allowed",
    "detail": '{"basis": "x"}',
}


def test_canonical_form_is_sorted_compact_and_fixes_the_time_format() -> None:
    text = chain.canonical(FIELDS)
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["at"] == "2025-03-01T09:30:15.123456Z"
    assert data["seq"] == 7
    assert ", " not in text


def test_time_zone_and_naive_utc_give_the_same_hash() -> None:
    shanghai = AT.astimezone(timezone(timedelta(hours=8)))
    naive = AT.replace(tzinfo=None)
    h = chain.entry_hash("0" * 64, FIELDS)
    assert chain.entry_hash("0" * 64, {**FIELDS, "at": shanghai}) == h
    assert chain.entry_hash("0" * 64, {**FIELDS, "at": naive}) == h


def test_every_field_and_the_previous_hash_change_the_hash() -> None:
    base = chain.entry_hash("0" * 64, FIELDS)
    assert chain.entry_hash("1" * 64, FIELDS) != base
    for name in chain.HASHED_FIELDS:
        changed = {**FIELDS, name: AT + timedelta(microseconds=1) if name == "at" else "other"}
        assert chain.entry_hash("0" * 64, changed) != base, name


def test_fields_outside_the_chain_are_ignored() -> None:
    assert chain.canonical({**FIELDS, "hash": "x", "prev_hash": "y"}) == chain.canonical(FIELDS)


def test_identifiers_in_detail_are_masked() -> None:
    detail = {
        "note": "身份证 31010519900101123X, 手机 13812345678",
        "nested": [{"id": "310105199001011234"}],
        "count": 3,
    }
    dumped = chain.dump_detail(detail)
    assert dumped is not None
    assert "31010519900101123X" not in dumped
    assert "310105199001011234" not in dumped
    assert "13812345678" not in dumped
    assert "310***********123X" in dumped
    assert json.loads(dumped)["count"] == 3


def test_ordinary_numbers_are_left_alone() -> None:
    assert chain.scrub_text("order 12345, seq 2025030100") == "order 12345, seq 2025030100"
    assert chain.dump_detail(None) is None
