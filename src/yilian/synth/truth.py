"""Known truth for evaluation: record errors, repeat tests, and the files they go to.

- ``truth/people.ndjson``: every resident as they really are (one line each).
- ``truth/records.ndjson``: every Patient record an institution holds, with the
  true ``person_id`` and the errors injected into it (empty list: a clean copy).
- ``truth/repeat_tests.ndjson``: each test repeated at another institution within
  its validity window, and whether it was recognisable (互认) there.
- ``truth/outbreaks.json``: outbreaks injected into the sentinel series.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from yilian.synth import geography as geo
from yilian.synth import names
from yilian.synth.people import Resident

ERROR_KINDS = (
    "homophone",  # 同音字 in the name, as a pinyin input method offers it
    "transposed_id_digits",  # two adjacent digits of the 身份证号 swapped
    "wrong_id_digit",  # one digit of the 身份证号 mistyped
    "missing_id",  # registered without a 身份证号
    "old_phone",  # the phone number the person had before
    "missing_phone",
    "birth_date_swap",  # month and day swapped
    "old_address",  # a previous address
)


@dataclass(slots=True)
class RecordFields:
    """The demographics an institution's Patient record holds (maybe with errors)."""

    id_number: str | None
    family: str
    given: str
    birth_date: str
    phone: str | None
    address_line: str
    errors: list[str]


class ErrorModel:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.rate = float(spec["record_error_rate"])
        self.duplicate_rate = float(spec["within_org_duplicate_rate"])
        kinds = spec["kinds"]
        unknown = set(kinds) - set(ERROR_KINDS)
        if unknown:
            raise ValueError(f"errors.kinds: unknown kind(s) {sorted(unknown)}")
        self.kinds = [k for k in ERROR_KINDS if k in kinds]
        total = 0.0
        self.cum: list[float] = []
        for k in self.kinds:
            total += float(kinds[k])
            self.cum.append(total)

    def fields(self, res: Resident, rng: random.Random, force: bool = False) -> RecordFields:
        """A record of ``res``: clean, or with one or two injected errors."""
        rec = RecordFields(
            id_number=res.id_number,
            family=res.family,
            given=res.given,
            birth_date=res.birth_date.isoformat(),
            phone=res.phone,
            address_line=res.address_line,
            errors=[],
        )
        if not force and rng.random() >= self.rate:
            return rec
        wanted = 2 if rng.random() < 0.15 else 1
        for _ in range(6):
            if len(rec.errors) >= wanted:
                break
            kind = self.kinds[bisect_right(self.cum, rng.random() * self.cum[-1])]
            if kind not in rec.errors and _apply(kind, rec, res, rng):
                rec.errors.append(kind)
        return rec


def _apply(kind: str, rec: RecordFields, res: Resident, rng: random.Random) -> bool:
    """Inject one error into ``rec``; False when it does not apply to this person."""
    if kind == "homophone":
        name = rec.family + rec.given
        positions = list(range(len(rec.family), len(name))) + list(range(len(rec.family)))
        for pos in positions:
            alt = names.homophone(rng, name[pos])
            if alt:
                name = name[:pos] + alt + name[pos + 1 :]
                rec.family, rec.given = name[: len(rec.family)], name[len(rec.family) :]
                return True
        return False
    if kind in ("transposed_id_digits", "wrong_id_digit"):
        if rec.id_number is None:
            return False
        n = list(rec.id_number)
        if kind == "transposed_id_digits":
            spots = [i for i in range(6, 16) if n[i] != n[i + 1]]
            if not spots:
                return False
            i = rng.choice(spots)
            n[i], n[i + 1] = n[i + 1], n[i]
        else:
            i = rng.randrange(17)
            n[i] = rng.choice([d for d in "0123456789" if d != n[i]])
        rec.id_number = "".join(n)
        return True
    if kind == "missing_id":
        if rec.id_number is None:
            return False
        rec.id_number = None
        return True
    if kind == "old_phone":
        if not res.old_phone:
            return False
        rec.phone = res.old_phone
        return True
    if kind == "missing_phone":
        if rec.phone is None:
            return False
        rec.phone = None
        return True
    if kind == "birth_date_swap":
        b = res.birth_date
        if b.day > 12 or b.day == b.month:
            return False
        rec.birth_date = date(b.year, b.day, b.month).isoformat()
        return True
    if kind == "old_address":
        rec.address_line = res.old_address_line
        return True
    raise ValueError(kind)


@dataclass(slots=True)
class TestEvent:
    """One recognisable test (a lab item or an imaging study) as performed."""

    day: int
    minute: int
    org: str
    code: str  # LOINC of the item or the study
    name: str
    group: str  # validity-window group
    report: str  # DiagnosticReport identifier value
    emergency: bool


def repeat_tests(
    person_id: str, tests: list[TestEvent], windows: dict[str, int], start: date
) -> list[dict[str, Any]]:
    """Each test done again at another institution within its window, and why it was or not 互认."""
    out: list[dict[str, Any]] = []
    by_code: dict[str, list[TestEvent]] = {}
    for t in sorted(tests, key=lambda t: (t.day, t.minute, t.org, t.code)):
        earlier = by_code.setdefault(t.code, [])
        window = int(windows[t.group])
        first = None
        for e in reversed(earlier):
            if t.day - e.day > window:
                break
            if e.org != t.org:
                first = e
                break
        earlier.append(t)
        if first is None:
            continue
        scheme = geo.shared_scheme(geo.ORG_BY_CODE[first.org], geo.ORG_BY_CODE[t.org])
        if scheme is None:
            reason = "no-shared-scheme"
        elif t.emergency:
            reason = "emergency"  # a permitted re-test (国卫医发〔2022〕6号, case 4)
        else:
            reason = "recognisable"
        out.append(
            {
                "person_id": person_id,
                "item": t.code,
                "item_name": t.name,
                "group": t.group,
                "window_days": window,
                "first": {
                    "org": first.org,
                    "report": first.report,
                    "date": (start + timedelta(days=first.day)).isoformat(),
                },
                "repeat": {
                    "org": t.org,
                    "report": t.report,
                    "date": (start + timedelta(days=t.day)).isoformat(),
                },
                "days_between": t.day - first.day,
                "shared_scheme": scheme,
                "recognisable": reason == "recognisable",
                "reason": reason,
            }
        )
    return out
