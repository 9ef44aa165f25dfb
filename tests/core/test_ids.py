"""Keys are UUIDv7: unique, valid RFC 9562 UUIDs, ordered by the time they were made."""

from __future__ import annotations

import time
import uuid

from yilian.db import new_id


def test_a_key_is_a_version_7_uuid_in_32_hex_digits() -> None:
    key = new_id()
    assert len(key) == 32 and int(key, 16) >= 0
    parsed = uuid.UUID(key)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    # The first 48 bits are the Unix time in milliseconds.
    assert abs(int(key[:12], 16) - time.time() * 1000) < 5_000


def test_keys_made_later_sort_later() -> None:
    first = new_id()
    time.sleep(0.003)
    second = new_id()
    assert first < second


def test_keys_are_unique() -> None:
    keys = [new_id() for _ in range(200_000)]
    assert len(set(keys)) == len(keys)
