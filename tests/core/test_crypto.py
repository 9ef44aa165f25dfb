"""Identifier protection and the 身份证号 check digit."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from yilian.kit import idcard
from yilian.kit.crypto import IdentifierCipher, mask, mask_name

KEY = base64.urlsafe_b64encode(b"x" * 32).decode()


def test_encryption_round_trips_and_is_randomised() -> None:
    c = IdentifierCipher(KEY)
    a, b = c.encrypt("11010519491231002X"), c.encrypt("11010519491231002X")
    assert a != b  # a fresh nonce each time: equal identifiers are not visible as equal
    assert c.decrypt(a) == "11010519491231002X"
    assert "1101051949" not in a


def test_keyed_hash_matches_equal_identifiers_only() -> None:
    c = IdentifierCipher(KEY)
    assert c.keyed_hash("11010519491231002x", kind="idcard") == c.keyed_hash(
        "11010519491231002X", kind="idcard"
    )
    assert c.keyed_hash("1", kind="idcard") != c.keyed_hash("1", kind="phone")
    other = IdentifierCipher(base64.urlsafe_b64encode(b"y" * 32).decode())
    assert other.keyed_hash("1", kind="idcard") != c.keyed_hash("1", kind="idcard")


def test_bad_key_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        IdentifierCipher(base64.urlsafe_b64encode(b"short").decode())


def test_masks() -> None:
    assert mask("310105199001011234") == "310***********1234"
    assert mask("13912345678") == "139****5678"
    assert mask_name("张伟") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"


def test_gb11643_published_example() -> None:
    # GB 11643-1999 附录 A gives 11010519491231002X as its worked example.
    card = idcard.parse("11010519491231002X")
    assert card.birth_date == date(1949, 12, 31)
    assert card.sex == "female"
    assert card.region_code == "110105"


def test_wrong_check_digit_names_the_problem() -> None:
    with pytest.raises(idcard.InvalidIdCard, match="check digit"):
        idcard.parse("110105194912310021")
    with pytest.raises(idcard.InvalidIdCard, match="birth date"):
        idcard.parse("110105194913310025")
    with pytest.raises(idcard.InvalidIdCard, match="18 characters"):
        idcard.parse("1101051949")


def test_make_builds_valid_consistent_numbers() -> None:
    n = idcard.make("310105", date(1990, 1, 1), 17, "male")
    card = idcard.parse(n)
    assert card.sex == "male" and card.birth_date == date(1990, 1, 1)
