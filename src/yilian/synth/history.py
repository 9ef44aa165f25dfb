"""A resident's health history over the period: the visits and what happened in each.

Events are plain data (:class:`Visit`); :mod:`yilian.synth.bundles` turns them into
FHIR. The paths are the seeds' paths: chronic follow-up at the home 社区卫生服务中心
or one of its 站 (some of it online, 互联网复诊), acute care at the centre or a
hospital, 双向转诊 up to a hospital with tests ordered again, TB found in the
community and treated at the designated hospital with home visits in between,
notifiable diseases reported, and the yearly family-doctor contract renewal.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

from yilian.synth import catalogue as cat
from yilian.synth import geography as geo
from yilian.synth.people import Condition, Population, Resident, band_value, poisson
from yilian.synth.profile import Profile


@dataclass(slots=True)
class Dx:
    code: str
    display: str
    key: str | None = None  # chronic condition key, for a problem-list Condition
    notifiable: str | None = None  # 法定传染病 class (甲/乙/丙类) when it is reported
    onset: date | None = None
    new: bool = False  # diagnosed at this visit


@dataclass(slots=True)
class Visit:
    day: int
    minute: int
    org: str
    cls: str  # AMB | EMER | VR (online) | HH (home visit)
    dept: str
    kind: str
    doctor: str | None = None
    location: str | None = None  # the 站 where a centre's visit took place
    dx: list[Dx] = field(default_factory=list)
    vitals: bool = False
    panels: list[str] = field(default_factory=list)
    imaging: list[tuple[str, bool]] = field(default_factory=list)  # (key, abnormal)
    drugs: list[str] = field(default_factory=list)
    infection: bool = False
    referral_to: str | None = None
    referral_id: str | None = None  # the ServiceRequest this visit answers
    tb_tests: list[tuple[str, bool]] = field(default_factory=list)  # (smear|culture|rif, pos)
    hbsag: bool = False


@dataclass(slots=True)
class ContractRenewal:
    day: int
    org: str
    doctor: str
    combination: tuple[str, ...]


@dataclass(slots=True)
class TbCase:
    onset_day: int
    diagnosis_day: int | None
    hospital: str
    rr: bool
    confirmed: bool


@dataclass(slots=True)
class History:
    visits: list[Visit]
    contracts: list[ContractRenewal]
    tb: TbCase | None


_SEASON_PEAK = {"winter": 15, "summer": 200, "spring": 140}
_DEPT_PREFS = {
    "respiratory": ("呼吸科", "儿童呼吸科", "儿科", "全科", "中医内科"),
    "gi": ("消化科", "全科", "中医内科", "儿科"),
    "joint": ("关节病科", "骨科", "骨伤科", "针灸推拿科", "全科"),
    "general": ("全科", "中医内科", "儿科"),
    "hypertension": ("心内科", "全科", "中医内科"),
    "chd": ("心内科", "全科", "中医内科"),
    "diabetes": ("内分泌科", "全科", "中医内科"),
    "copd": ("呼吸科", "全科", "中医内科"),
    "infection": ("感染科", "呼吸科", "全科", "儿科"),
    "emergency": ("急诊科", "全科", "儿科"),
    "child": ("儿科", "儿童呼吸科", "全科"),
}


def _dx_dept_kind(code: str) -> str:
    if code.startswith("J"):
        return "respiratory"
    if code.startswith("K"):
        return "gi"
    if code.startswith("M"):
        return "joint"
    return "general"


class Planner:
    """Compiled visit parameters; :meth:`history` draws one resident's history."""

    def __init__(self, profile: Profile, population: Population) -> None:
        self.pop = population
        self.start = population.start
        self.days = population.days
        self.weekday0 = self.start.weekday()
        v = profile["visits"]
        self.visits = v
        self.hosp = {
            area: (sorted(prefs), list(accumulate(prefs[o] for o in sorted(prefs))))
            for area, prefs in v["hospitals"].items()
        }
        self.paed = {
            area: (sorted(prefs), list(accumulate(prefs[o] for o in sorted(prefs))))
            for area, prefs in v["paediatric"].items()
        }
        self.chronic = profile["chronic"]
        self.referral = profile["referral"]
        self.tb = profile["tb"]
        self.notifiable = profile["notifiable"]
        # Reported incidence is per whole population; the cases fall in the age range only.
        self.notifiable_rates: dict[str, float] = {}
        for key in sorted(self.notifiable["diseases"]):
            d = self.notifiable["diseases"][key]
            share = _age_share(profile, d["ages"][0], d["ages"][1])
            self.notifiable_rates[key] = float(d["per_100k"]) / 1e5 / max(share, 1e-6)
        self.staff = geo.practitioners_by_org()

    # --- helpers ------------------------------------------------------------

    def weekday(self, day: int) -> int:
        return (self.weekday0 + day) % 7

    def _open_day(self, rng: random.Random, day: int, community: bool) -> int | None:
        """Move a visit to a day the place is open; None when it falls past the period."""
        for _ in range(7):
            wd = self.weekday(day)
            closed = wd == 6 and community
            if closed or (wd >= 5 and rng.random() > self.visits["saturday_factor"]):
                day += 1
            else:
                break
        return day if day < self.days else None

    def _seasonal_day(self, rng: random.Random, season: str) -> int:
        peak = _SEASON_PEAK.get(season)
        if peak is None:
            return rng.randrange(self.days)
        for _ in range(20):
            day = rng.randrange(self.days)
            doy = (self.start + timedelta(days=day)).timetuple().tm_yday
            weight = 1 + 0.7 * math.cos(2 * math.pi * (doy - peak) / 365)
            if rng.random() * 1.7 < weight:
                return day
        return rng.randrange(self.days)

    def _minute(self, rng: random.Random, emergency: bool = False) -> int:
        if emergency:
            return rng.randrange(24 * 60)
        return 8 * 60 + rng.randrange(8 * 60 + 30)

    def _doctor(self, rng: random.Random, org: str, dept: str) -> str | None:
        depts = self.staff.get(org)
        if not depts:
            return None
        staff = depts.get(dept) or depts[min(depts)]
        return rng.choice(staff).code

    def _dept(self, org: str, kind: str) -> str:
        depts = geo.ORG_BY_CODE[org].departments
        for d in _DEPT_PREFS[kind]:
            if d in depts:
                return d
        return depts[0] if depts else "全科"

    def _hospital(self, rng: random.Random, res: Resident) -> str:
        table = self.paed if res.age < 15 else self.hosp
        codes, cum = table[res.area]
        return codes[bisect_right(cum, rng.random() * cum[-1])]

    def _community(self, rng: random.Random, res: Resident, station_share: float) -> Visit:
        location = None
        if res.home_station and rng.random() < station_share:
            location = res.home_station
        return Visit(0, 0, res.home_centre, "AMB", "全科", "", location=location)

    def _internet_org(self, rng: random.Random, res: Resident) -> str:
        # 示范区 residents use the 智慧互联网医院; 长宁 centres run their own 互联网+诊疗.
        if res.area != geo.CHANGNING and rng.random() < 0.6:
            return "310118I001"
        return res.home_centre

    def _tb_hospital(self, res: Resident) -> str:
        for o in geo.orgs_tagged("tb_designated"):
            if o.region_code == res.area:
                return o.code
        return "310105H001"

    # --- the history -----------------------------------------------------------

    def history(self, res: Resident, rng: random.Random) -> History:
        visits: list[Visit] = []
        self._chronic(res, rng, visits)
        if res.age >= 65 and not any(v.kind == "check" for v in visits):
            self._annual_check(res, rng, visits, [])
        self._acute(res, rng, visits)
        self._notifiable(res, rng, visits)
        tb = self._tb(res, rng, visits)
        contracts = self._contracts(res)
        visits.sort(key=lambda v: (v.day, v.minute, v.org))
        return History(visits, contracts, tb)

    def _contracts(self, res: Resident) -> list[ContractRenewal]:
        c = res.contract
        if c is None:
            return []
        out = []
        for year in range(self.start.year, (self.start + timedelta(days=self.days)).year + 1):
            renewal = date(year, 1, 1) + timedelta(days=min(c.anniversary, 364))
            day = (renewal - self.start).days
            if 0 <= day < self.days:
                out.append(ContractRenewal(day, c.centre, c.doctor, c.combination))
        return out

    def _chronic(self, res: Resident, rng: random.Random, visits: list[Visit]) -> None:
        known = [c for c in res.conditions if c.diagnosed is not None]
        if not known:
            return
        first = min((c.diagnosed - self.start).days for c in known if c.diagnosed)
        first = max(first, 0)
        regimens = {c.key: rng.choice(cat.CHRONIC_REGIMENS[c.key]) for c in known}
        lo, hi = self.chronic["refill_interval_days"]
        interval = rng.randint(int(lo), int(hi))
        dm = res.has("diabetes")
        day = first + (0 if first > 0 else rng.randrange(interval))
        n = 0
        # Conditions diagnosed before the period are old news; the others are new at
        # their first visit, and that visit's date becomes their diagnosis date.
        seen = {c.key for c in known if c.diagnosed and c.diagnosed < self.start}
        while day < self.days:
            active = [c for c in known if c.diagnosed and (c.diagnosed - self.start).days <= day]
            new = [c for c in active if c.key not in seen]
            online = not new and n > 0 and rng.random() < self.chronic["internet_share"]
            if online:
                org = self._internet_org(rng, res)
                v = Visit(day, self._minute(rng), org, "VR", "全科", "internet")
                if org == "310118I001":
                    v.dept = self._dept(org, active[0].key)
            else:
                vday = self._open_day(rng, day, community=True)
                if vday is None:
                    break
                day = vday
                v = self._community(rng, res, self.chronic["station_share"])
                v.day, v.minute, v.kind = day, self._minute(rng), "chronic"
                v.vitals = bool(self.chronic["follow_up_vitals"])
                # 4 fasting glucose tests a year for diabetes (基本公卫规范).
                if dm and dm.diagnosed and n % 3 == 0:
                    v.panels.append("glu")
            v.doctor = self._doctor(rng, v.org, v.dept)
            for c in active:
                v.dx.append(Dx(c.code, c.display, key=c.key, onset=c.onset, new=c in new))
                v.drugs.extend(regimens[c.key])
                if c in new:
                    c.diagnosed = self.start + timedelta(days=day)
                    seen.add(c.key)
            visits.append(v)
            if v.cls == "AMB" and rng.random() < self.referral["from_community"]:
                self._refer(res, rng, v, visits, reason=active[0].key)
            n += 1
            day += interval + rng.randint(-3, 3)
        # A diagnosis due after the last visit of the period did not happen in it.
        for c in known:
            if c.key not in seen:
                c.diagnosed = None
        known = [c for c in known if c.diagnosed is not None]
        self._annual_check(res, rng, visits, known)
        self._specialist(res, rng, visits, known)

    def _annual_check(
        self, res: Resident, rng: random.Random, visits: list[Visit], known: list[Condition]
    ) -> None:
        if rng.random() >= min(1.0, self.days / 365):
            return
        day = self._open_day(rng, rng.randrange(self.days), community=True)
        if day is None:
            return
        v = self._community(rng, res, 0.0)
        v.day, v.minute, v.kind = day, self._minute(rng), "check"
        v.vitals = True
        v.panels = ["glu", "lipid", "chem", "cbc"]
        if any(c.key == "diabetes" for c in known):
            v.panels.append("hba1c")
        v.imaging = [("ecg", rng.random() < 0.2)]
        if res.age >= 65:
            v.imaging.append(("abd_us", rng.random() < 0.3))
        v.doctor = self._doctor(rng, v.org, v.dept)
        for c in known:
            if c.diagnosed and (c.diagnosed - self.start).days <= day:
                v.dx.append(Dx(c.code, c.display, key=c.key, onset=c.onset))
        if not v.dx:
            if res.age < 65:
                return
            # 老年人健康管理: a yearly check for everyone 65 and over (基本公卫规范).
            v.dx.append(Dx("Z00.0", "一般性医学检查"))
        visits.append(v)
        if rng.random() < self.referral["from_community"] * 3:
            self._refer(res, rng, v, visits, reason=v.dx[0].key or "general")

    def _specialist(
        self, res: Resident, rng: random.Random, visits: list[Visit], known: list[Condition]
    ) -> None:
        count = poisson(rng, self.chronic["specialist_visits_per_year"] * self.days / 365)
        for _ in range(count):
            day = self._open_day(rng, rng.randrange(self.days), community=False)
            if day is None:
                continue
            active = [c for c in known if c.diagnosed and (c.diagnosed - self.start).days <= day]
            if not active:
                continue
            main = rng.choice(active)
            org = self._hospital(rng, res)
            v = Visit(day, self._minute(rng), org, "AMB", self._dept(org, main.key), "specialist")
            v.doctor = self._doctor(rng, org, v.dept)
            v.vitals = True
            v.dx = [Dx(c.code, c.display, key=c.key, onset=c.onset) for c in active]
            v.drugs = list(rng.choice(cat.CHRONIC_REGIMENS[main.key]))
            if main.key == "diabetes":
                v.panels = ["glu", "hba1c"]
            elif main.key in ("hypertension", "chd"):
                v.panels = ["lipid", "chem"]
                v.imaging = [("ecg", rng.random() < 0.3)]
            elif main.key == "copd":
                v.imaging = [("chest_ct" if rng.random() < 0.3 else "chest_xr", False)]
            visits.append(v)

    def _refer(
        self, res: Resident, rng: random.Random, src: Visit, visits: list[Visit], reason: str
    ) -> None:
        """双向转诊 up: a ServiceRequest at the centre, then the hospital visit days later."""
        target = self._hospital(rng, res)
        src.referral_to = target
        src.referral_id = f"{src.day:05d}{src.minute:04d}"
        # The referral usually follows tests at the centre; some come with a panel.
        if not src.panels and rng.random() < 0.5:
            src.panels = ["cbc", "chem"]
        lo, hi = self.referral["days_to_visit"]
        day = self._open_day(rng, src.day + rng.randint(int(lo), int(hi)), community=False)
        if day is None:
            return
        kind = reason if reason in _DEPT_PREFS else "general"
        v = Visit(day, self._minute(rng), target, "AMB", self._dept(target, kind), "referral")
        v.doctor = self._doctor(rng, target, v.dept)
        v.referral_id = src.referral_id
        v.dx = [Dx(d.code, d.display, key=d.key, onset=d.onset) for d in src.dx]
        v.vitals = True
        # Hospitals often order again what the centre just tested (互认 is the remedy).
        v.panels = [p for p in src.panels if rng.random() < self.referral["repeat_share"]]
        v.imaging = [(k, a) for k, a in src.imaging if rng.random() < self.referral["repeat_share"]]
        v.drugs = list(src.drugs[:2])
        visits.append(v)

    def _acute(self, res: Resident, rng: random.Random, visits: list[Visit]) -> None:
        rate = band_value(self.visits["acute_per_year"], res.age)
        count = poisson(rng, rate * self.days / 365)
        options = [d for d in cat.ACUTE if d.ages[0] <= res.age <= d.ages[1]]
        cum = list(accumulate(d.weight for d in options))
        community_share = self.visits["community_share"] * (0.5 if res.age < 15 else 1.0)
        for _ in range(count):
            dx = options[bisect_right(cum, rng.random() * cum[-1])]
            day = self._seasonal_day(rng, dx.season)
            drug = rng.choice(dx.drugs)
            if rng.random() < community_share:
                vday = self._open_day(rng, day, community=True)
                if vday is None:
                    continue
                v = self._community(rng, res, self.visits["station_share"])
                v.day, v.minute, v.kind = vday, self._minute(rng), "acute"
            else:
                org = self._hospital(rng, res)
                emergency = rng.random() < self.visits["emergency_share"]
                if emergency:
                    dept = self._dept(org, "emergency")
                    v = Visit(day, self._minute(rng, True), org, "EMER", dept, "acute")
                else:
                    vday = self._open_day(rng, day, community=False)
                    if vday is None:
                        continue
                    kind = "child" if res.age < 15 else _dx_dept_kind(dx.code)
                    v = Visit(vday, self._minute(rng), org, "AMB", self._dept(org, kind), "acute")
                if dx.hospital_labs and (
                    emergency or rng.random() < self.visits["lab_share_hospital"]
                ):
                    v.panels = list(dx.hospital_labs)
                if dx.imaging and (
                    not dx.respiratory or rng.random() < self.visits["imaging_share_respiratory"]
                ):
                    v.imaging = [(dx.imaging, rng.random() < 0.4)]
            v.doctor = self._doctor(rng, v.org, v.dept)
            v.dx = [Dx(dx.code, dx.zh)]
            v.drugs = [drug]
            v.infection = dx.infection
            referred = rng.random() < self.referral["from_community"]
            if v.cls == "AMB" and v.org == res.home_centre and referred:
                self._refer(res, rng, v, visits, reason=_dx_dept_kind(dx.code))
            visits.append(v)

    def _notifiable(self, res: Resident, rng: random.Random, visits: list[Visit]) -> None:
        diseases = self.notifiable["diseases"]
        for key in sorted(diseases):
            d = diseases[key]
            if not d["ages"][0] <= res.age <= d["ages"][1]:
                continue
            p = self.notifiable_rates[key] * self.days / 365
            if rng.random() >= p:
                continue
            day = self._seasonal_day(rng, d["season"])
            org = self._hospital(rng, res)
            kind = "child" if res.age < 15 else "infection"
            vday = self._open_day(rng, day, community=False)
            if vday is None:
                continue
            v = Visit(vday, self._minute(rng), org, "AMB", self._dept(org, kind), "notifiable")
            v.doctor = self._doctor(rng, org, v.dept)
            reported = rng.random() < self.notifiable["report_share"]
            v.dx = [Dx(d["code"], d["display"], notifiable=d["class"] if reported else None)]
            v.drugs = list(cat.NOTIFIABLE_DRUGS.get(key, ()))
            v.infection = key != "hepatitis_b"
            v.panels = ["cbc"] if v.infection else ["chem"]
            v.hbsag = key == "hepatitis_b"
            visits.append(v)

    def _tb(self, res: Resident, rng: random.Random, visits: list[Visit]) -> TbCase | None:
        rate = float(self.tb["incidence_per_100k"]) / 1e5 * (1.2 if res.age >= 15 else 0.2)
        if rng.random() >= rate * self.days / 365:
            return None
        onset = rng.randrange(self.days)
        rr = rng.random() < self.tb["rr_share"]
        confirmed = rng.random() < self.tb["confirmed_share"]
        hospital = self._tb_hospital(res)
        case = TbCase(onset, None, hospital, rr, confirmed)
        # 1. Weeks of cough bring the patient to the centre, which refers on (转诊).
        day = self._open_day(rng, onset + rng.randint(7, 21), community=True)
        if day is None:
            return case
        v = self._community(rng, res, 0.0)
        v.day, v.minute, v.kind = day, self._minute(rng), "tb_suspect"
        v.doctor = self._doctor(rng, v.org, v.dept)
        v.dx = [Dx("R05", "咳嗽")]
        v.imaging = [("chest_xr", True)]
        v.referral_to, v.referral_id = hospital, f"{day:05d}{v.minute:04d}"
        visits.append(v)
        # 2. The designated hospital confirms, reports and starts treatment.
        dday = self._open_day(rng, day + rng.randint(1, 7), community=False)
        if dday is None:
            return case
        case.diagnosis_day = dday
        code, display = (
            ("A15.0", "肺结核，痰涂片证实") if confirmed else ("A16.2", "肺结核，未经细菌学证实")
        )
        regimen = cat.RR_TB_REGIMEN if rr else cat.TB_REGIMEN
        d = Visit(dday, self._minute(rng), hospital, "AMB", self._dept(hospital, "infection"), "tb")
        d.doctor = self._doctor(rng, hospital, d.dept)
        d.referral_id = v.referral_id
        d.dx = [Dx(code, display, key="tb", notifiable="乙类", new=True)]
        d.imaging = [("chest_ct", True)]
        d.tb_tests = [("smear", confirmed), ("rif", rr)]
        d.drugs = list(regimen)
        d.panels = ["cbc", "chem"]
        visits.append(d)
        length = int(self.tb["rr_treatment_days"] if rr else self.tb["treatment_days"])
        tb_dx = Dx(code, display, key="tb")
        # 3. Monthly hospital review (smear at months 2, 5 and 6, culture at month 1).
        for month in range(1, length // 30 + 1):
            fday = self._open_day(rng, dday + 30 * month, community=False)
            if fday is None:
                break
            f = Visit(fday, self._minute(rng), hospital, "AMB", d.dept, "tb_follow_up")
            f.doctor = d.doctor
            f.dx = [tb_dx]
            if rr:
                f.drugs = list(regimen)
            else:
                f.drugs = list(cat.TB_REGIMEN if month < 2 else cat.TB_CONTINUATION)
            if month == 1:
                f.tb_tests = [("culture", confirmed)]
            if month in (2, 5, 6):
                f.tb_tests = [("smear", confirmed and month == 2 and rng.random() < 0.2)]
                f.panels = ["chem"]
            visits.append(f)
        # 4. Home visits by the community (every 10 days in the intensive phase, then monthly).
        hday = dday + 3
        while hday < min(self.days, dday + length):
            h = Visit(hday, self._minute(rng), res.home_centre, "HH", "全科", "tb_home")
            h.doctor = self._doctor(rng, res.home_centre, "全科")
            h.dx = [tb_dx]
            visits.append(h)
            hday += 10 if hday - dday < 60 else 30
        return case


def _age_share(profile: Profile, lo: int, hi: int) -> float:
    total = 0.0
    for first, last, share, _male in profile["population"]["age_bands"]:
        overlap = max(0, min(hi, last) - max(lo, first) + 1)
        total += share * overlap / (last - first + 1)
    return total / 100.0
