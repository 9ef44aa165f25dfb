"""居民身份证号码 (GB 11643-1999): check digit, parsing and generation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class InvalidIdCard(ValueError):
    """The string is not a valid 18-digit 身份证号; the message says why."""


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidIdCard("the first 17 characters must be digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


@dataclass(frozen=True)
class IdCard:
    number: str
    region_code: str
    birth_date: date
    sex: str  # "male" | "female" (FHIR administrative gender)


def parse(number: str) -> IdCard:
    """Validate and parse an 18-digit number; raise :class:`InvalidIdCard` naming the problem."""
    n = number.strip().upper()
    if len(n) != 18:
        raise InvalidIdCard(f"身份证号 must have 18 characters, got {len(n)}")
    if not n[:17].isdigit() or not (n[17].isdigit() or n[17] == "X"):
        raise InvalidIdCard("身份证号 must be 17 digits followed by a digit or X")
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError as exc:
        raise InvalidIdCard(f"身份证号 has an impossible birth date {n[6:14]}") from exc
    expected = check_digit(n[:17])
    if n[17] != expected:
        raise InvalidIdCard(f"身份证号 check digit is {n[17]}, expected {expected}")
    sex = "male" if int(n[16]) % 2 == 1 else "female"
    return IdCard(number=n, region_code=n[:6], birth_date=born, sex=sex)


def is_valid(number: str) -> bool:
    try:
        parse(number)
    except InvalidIdCard:
        return False
    return True


def make(region_code: str, birth_date: date, sequence: int, sex: str) -> str:
    """Build a valid number: ``sequence`` 0–499 picks the order code; parity encodes sex."""
    order = (sequence % 500) * 2 + (1 if sex == "male" else 0)
    body = f"{region_code}{birth_date:%Y%m%d}{order:03d}"
    return body + check_digit(body)
