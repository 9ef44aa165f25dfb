"""Residents: who they are, where they live, how they are insured, what they have.

Each resident is drawn from its own ``random.Random`` seeded by (seed, index), so
resident 12,345 is the same person whatever the chunking or the number of worker
processes. The 身份证号's birth day and order code come from a keyed permutation
of the index: two residents with the same 户籍 region, birth year and sex can
never share a number as long as the run has at most :data:`ID_SLOTS` residents.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

from yilian.kit import idcard
from yilian.synth import geography as geo
from yilian.synth import names
from yilian.synth.profile import Profile

# 365 birth days × 500 order codes per sex: the numbers one (region, year, sex) can hold.
ID_SLOTS = 365 * 500

# 户籍 codes a resident's 身份证号 may start with, by origin group, with weights.
# Older 上海 numbers keep codes of merged districts (310108 闸北, 310103 卢湾).
HUKOU_CODES: dict[str, tuple[tuple[str, float], ...]] = {
    "shanghai": (
        ("310101", 5), ("310103", 1), ("310104", 9), ("310105", 6), ("310106", 6),
        ("310107", 7), ("310108", 3), ("310109", 5), ("310110", 7), ("310112", 7),
        ("310113", 5), ("310114", 2), ("310115", 10), ("310116", 1), ("310117", 2),
        ("310118", 2), ("310120", 1), ("310151", 1),
    ),
    "jiangsu": (
        ("320102", 2), ("320106", 2), ("320213", 2), ("320303", 2), ("320321", 2),
        ("320508", 3), ("320581", 2), ("320583", 3), ("320509", 2), ("320602", 2),
        ("320681", 3), ("320682", 3), ("320902", 2), ("320981", 3), ("321002", 2),
    ),
    "zhejiang": (
        ("330102", 2), ("330106", 2), ("330203", 2), ("330302", 2), ("330382", 2),
        ("330402", 3), ("330421", 2), ("330481", 2), ("330602", 2),
    ),
    "anhui": (
        ("340102", 2), ("340104", 2), ("340802", 2), ("340822", 2), ("341202", 3),
        ("341221", 4), ("341302", 3), ("341502", 2), ("341522", 3), ("341602", 3),
    ),
    "other": (
        ("411302", 3), ("411702", 3), ("360102", 2), ("510104", 2), ("370102", 2),
        ("420102", 2), ("350102", 1),
    ),
}  # fmt: skip

_NON_LEAP_DAYS = tuple(date(2001, 1, 1) + timedelta(days=d) for d in range(365))
_AREA_CODES = {"310105": "021", "310118": "021", "320509": "0512", "330421": "0573"}


@dataclass(slots=True)
class Condition:
    """A chronic condition as it truly is; ``diagnosed`` is None while nobody knows."""

    key: str
    code: str
    display: str
    onset: date
    diagnosed: date | None


@dataclass(slots=True)
class Contract:
    """家庭医生签约: renewed every year on ``anniversary`` (day of year) at the home centre."""

    centre: str
    doctor: str
    anniversary: int
    combination: tuple[str, ...]  # "1+1+1": a district and a municipal hospital


@dataclass(slots=True)
class Resident:
    index: int
    person_id: str
    id_number: str
    family: str
    given: str
    sex: str
    birth_date: date
    age: int  # on the start date
    hukou: str
    area: str  # county-level code of residence
    street: geo.Street
    address_line: str
    old_address_line: str
    phone: str
    old_phone: str | None
    landline: str | None
    insured: str | None  # 统筹区 code of the 参保地, None when uninsured
    insurance_kind: str | None  # employee | resident
    card_no: str | None  # 社会保障卡号
    health_card: str  # 电子健康卡 ID
    home_centre: str
    home_station: str | None
    conditions: list[Condition] = field(default_factory=list)
    contract: Contract | None = None

    @property
    def name(self) -> str:
        return self.family + self.given

    def address_text(self, line: str | None = None) -> str:
        district = geo.REGION_BY_CODE[self.area]
        city = geo.REGION_BY_CODE[district.parent_code or ""]
        prefix = (
            "上海市"
            if self.area.startswith("31")
            else (geo.REGION_BY_CODE[geo.province_of(self.area)].name + city.name)
        )
        return f"{prefix}{district.name}{self.street.name}{line or self.address_line}"

    def has(self, key: str) -> Condition | None:
        for c in self.conditions:
            if c.key == key:
                return c
        return None

    def truth(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "id_number": self.id_number,
            "name": self.name,
            "family": self.family,
            "given": self.given,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "age": self.age,
            "hukou_region": self.hukou,
            "residence_region": self.area,
            "street": self.street.code,
            "address": self.address_text(),
            "old_address": self.address_text(self.old_address_line),
            "phone": self.phone,
            "old_phone": self.old_phone,
            "landline": self.landline,
            "insured_region": self.insured,
            "insurance_kind": self.insurance_kind,
            "insurance_card": self.card_no,
            "health_card": self.health_card,
            "home_centre": self.home_centre,
            "conditions": [
                {
                    "key": c.key,
                    "code": c.code,
                    "onset": c.onset.isoformat(),
                    "diagnosed": c.diagnosed.isoformat() if c.diagnosed else None,
                }
                for c in self.conditions
            ],
            "contract": None
            if self.contract is None
            else {
                "centre": self.contract.centre,
                "doctor": self.contract.doctor,
                "anniversary_day": self.contract.anniversary,
                "combination": list(self.contract.combination),
            },
        }


def band_value(bands: list[list[float]], age: int) -> float:
    """The value of the ``[first, last, value]`` band containing ``age`` (0 outside)."""
    for lo, hi, value in bands:
        if lo <= age <= hi:
            return value
    return 0.0


def _feistel(x: int, key: int) -> int:
    """A keyed bijection of [0, 2**18), four rounds of a 9-bit Feistel network."""
    left, right = x >> 9, x & 0x1FF
    for r in range(4):
        h = (right * 0x9E3779B1 + key * 0x85EBCA77 + r * 0xC2B2AE3D) & 0xFFFFFFFF
        h ^= h >> 15
        left, right = right, left ^ (h & 0x1FF)
    return (left << 9) | right


def id_slot(index: int, seed: int) -> tuple[int, int]:
    """``(day of year, order code)`` for a resident: distinct for distinct indices < ID_SLOTS."""
    key = (seed * 1_000_003 + index // ID_SLOTS) & 0xFFFFFFFF
    x = index % ID_SLOTS
    # Cycle-walking keeps the permutation inside [0, ID_SLOTS).
    x = _feistel(x, key)
    while x >= ID_SLOTS:
        x = _feistel(x, key)
    return x // 500, x % 500


class Population:
    """The profile's population parameters compiled into lookup tables."""

    def __init__(self, profile: Profile, start: date, days: int, seed: int) -> None:
        self.start = start
        self.days = days
        self.end = start + timedelta(days=days)
        self.seed = seed
        pop = profile["population"]
        self.bands: list[tuple[int, int, float]] = [
            (int(lo), int(hi), float(male)) for lo, hi, _share, male in pop["age_bands"]
        ]
        self.band_cum = list(accumulate(float(b[2]) for b in pop["age_bands"]))
        areas = profile["residence"]["areas"]
        self.area_codes = sorted(areas)
        self.area_cum = list(accumulate(float(areas[a]) for a in self.area_codes))
        self.streets = {a: [s for s in geo.STREETS if s.district == a] for a in self.area_codes}
        self.street_cum = {
            a: list(accumulate(s.population for s in ss)) for a, ss in self.streets.items()
        }
        hukou = profile["hukou"]["by_area"]
        self.hukou_groups = {a: sorted(hukou[a]) for a in self.area_codes}
        self.hukou_cum = {
            a: list(accumulate(float(hukou[a][g]) for g in self.hukou_groups[a]))
            for a in self.area_codes
        }
        self.hukou_code_cum = {
            g: (tuple(c for c, _ in codes), list(accumulate(w for _, w in codes)))
            for g, codes in HUKOU_CODES.items()
        }
        self.insurance = profile["insurance"]
        self.contact = profile["contact"]
        self.conditions = profile["conditions"]
        self.detection = float(profile["diagnosis"]["detection_per_year"])
        self.contracts = profile["contracts"]
        self.hospital_prefs = profile["visits"]["hospitals"]

    def _pick(self, rng: random.Random, cum: Sequence[float]) -> int:
        return bisect_right(cum, rng.random() * cum[-1])

    def resident(self, index: int) -> tuple[Resident, random.Random]:
        """Draw resident ``index``; return it with its generator, ready for its history."""
        rng = random.Random((self.seed << 40) ^ (index * 0x9E3779B97F4A7C15 & (2**64 - 1)))
        lo, hi, male_share = self.bands[self._pick(rng, self.band_cum)]
        age = rng.randint(lo, hi)
        sex = "male" if rng.random() < male_share else "female"
        area = self.area_codes[self._pick(rng, self.area_cum)]
        street = self.streets[area][self._pick(rng, self.street_cum[area])]

        doy, order = id_slot(index, self.seed)
        md = _NON_LEAP_DAYS[doy]
        year = (
            self.start.year
            - age
            - (1 if (md.month, md.day) > (self.start.month, self.start.day) else 0)
        )
        birth = date(year, md.month, md.day)

        group = self.hukou_groups[area][self._pick(rng, self.hukou_cum[area])]
        if group == "local":
            hukou = area
        else:
            codes, cum = self.hukou_code_cum[group]
            hukou = codes[self._pick(rng, cum)]
        id_number = idcard.make(hukou, birth, order, sex)
        family, given = names.person_name(rng, sex, birth.year)

        line = _address_line(rng, street)
        old_line = _address_line(rng, street)
        phone = names.mobile(rng)
        old_phone = names.mobile(rng) if rng.random() < self.contact["old_phone_share"] else None
        landline = None
        if age >= 60 and rng.random() < self.contact["landline_share_60plus"]:
            landline = names.landline(rng, _AREA_CODES.get(area, "021"))

        insured, kind = self._insurance(rng, hukou, area, age)
        card_no = None
        if insured is not None:
            card_no = f"{insured[:4]}{rng.randrange(10**10):010d}"
        health_card = f"{rng.getrandbits(256):064X}"

        centre = street.centre
        stations = geo.stations_of(centre)
        station = rng.choice(stations).code if stations else None
        res = Resident(
            index=index,
            person_id=f"P{index:08d}",
            id_number=id_number,
            family=family,
            given=given,
            sex=sex,
            birth_date=birth,
            age=age,
            hukou=hukou,
            area=area,
            street=street,
            address_line=line,
            old_address_line=old_line,
            phone=phone,
            old_phone=old_phone,
            landline=landline,
            insured=insured,
            insurance_kind=kind,
            card_no=card_no,
            health_card=health_card,
            home_centre=centre,
            home_station=station,
        )
        res.conditions = self._conditions(rng, res)
        res.contract = self._contract(rng, res)
        return res, rng

    def _insurance(
        self, rng: random.Random, hukou: str, area: str, age: int
    ) -> tuple[str | None, str | None]:
        ins = self.insurance
        if rng.random() < ins["uninsured"]:
            return None, None
        home = geo.pooling_area(hukou)
        local = geo.pooling_area(area)
        insured = local
        # Migrants from the three provinces often keep their home insurance (参保地).
        migrant = home != local and hukou[:2] in ("32", "33", "34")
        if migrant and rng.random() < ins["migrant_insured_at_home"]:
            insured = home
        if insured not in geo.INSURER_NAMES:
            insured = local
        if age < 18:
            kind = "resident"
        elif age < 60:
            kind = "employee" if rng.random() < ins["employee_share_working_age"] else "resident"
        else:
            kind = "employee" if rng.random() < 0.6 else "resident"
        return insured, kind

    def _conditions(self, rng: random.Random, res: Resident) -> list[Condition]:
        out: list[Condition] = []
        last_day = self.end - timedelta(days=1)
        for key in sorted(self.conditions):
            spec = self.conditions[key]
            p = band_value(spec["prevalence"], res.age)
            if p <= 0 or rng.random() >= p:
                continue
            first_age = max(int(spec["prevalence"][0][0]), res.age - 25)
            onset_age = rng.uniform(first_age, res.age + 0.999)
            onset = res.birth_date + timedelta(days=int(onset_age * 365.25))
            onset = min(onset, self.start - timedelta(days=1))
            diagnosed: date | None = None
            if rng.random() < spec["diagnosed"]:
                lag = timedelta(days=int(rng.expovariate(1 / 400)))
                diagnosed = min(onset + lag, self.start - timedelta(days=1))
            else:
                # Opportunistic screening finds part of the undiagnosed during the period.
                p_found = 1 - (1 - self.detection) ** (self.days / 365)
                if rng.random() < p_found:
                    diagnosed = self.start + timedelta(days=rng.randrange(self.days))
            if diagnosed is not None:
                diagnosed = min(diagnosed, last_day)
            out.append(Condition(key, spec["code"], spec["display"], onset, diagnosed))
        return out

    def _contract(self, rng: random.Random, res: Resident) -> Contract | None:
        rates = self.contracts["rate"]
        known_chronic = any(c.diagnosed and c.diagnosed < self.start for c in res.conditions)
        if known_chronic:
            rate = rates["chronic"]
        elif res.age >= 60:
            rate = rates["elderly"]
        elif res.age <= 6:
            rate = rates["children"]
        else:
            rate = rates["other"]
        if rng.random() >= rate:
            return None
        gps = geo.practitioners_by_org().get(res.home_centre, {}).get("全科", ())
        if not gps:
            return None
        doctor = rng.choice(gps).code
        combination: tuple[str, ...] = ()
        if rng.random() < self.contracts["combination_share"]:
            prefs = self.hospital_prefs[res.area]
            local = sorted(o for o in prefs if o[:6] == res.area)
            municipal = sorted(o for o in prefs if o.startswith("310000"))
            picks = [rng.choice(local)] if local else []
            if municipal:
                picks.append(rng.choice(municipal))
            combination = tuple(picks)
        return Contract(res.home_centre, doctor, rng.randrange(365), combination)


def _address_line(rng: random.Random, street: geo.Street) -> str:
    road = rng.choice(street.roads)
    if rng.random() < 0.7:
        return (
            f"{road}{rng.randint(1, 1500)}弄{rng.randint(1, 60)}号"
            f"{rng.randint(1, 22)}{rng.randint(1, 4):02d}室"
        )
    return f"{road}{rng.randint(1, 2000)}号{rng.randint(1, 30)}{rng.randint(1, 6):02d}室"


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (the standard library has none)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold = math.exp(-lam)
    k, p = 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k
