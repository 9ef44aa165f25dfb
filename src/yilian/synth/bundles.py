"""One resident's history as transaction-bundle entries, grouped by institution and day.

An institution sends what happened there on a day: its own Patient record of the
person (with its own MRN, and maybe with errors), then each encounter with what
it produced. :class:`Emitter` builds those entries for one resident; the writer
appends them, resident after resident, to the bundle of that institution and day.

This is the hot path of the generator (tens of resources per resident), so
dictionaries that do not change — an institution's references and identifier
systems, an item's code at an institution — are built once and shared.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson

from yilian.synth import catalogue as cat
from yilian.synth import fhir
from yilian.synth import geography as geo
from yilian.synth.history import History, Visit
from yilian.synth.people import Resident
from yilian.synth.profile import Profile
from yilian.synth.truth import ErrorModel, RecordFields, TestEvent, repeat_tests

_MRN_MOD = 10**10
_MRN_MUL = 2_654_435_761  # odd and not a multiple of 5: a bijection modulo 10**10
_KINDS = ("mrn", "encounter", "condition", "observation", "report", "medication-request",
          "service-request", "contract", "settlement")  # fmt: skip
_QUALITATIVE = {"smear": cat.SMEAR, "culture": cat.CULTURE, "rif": cat.RIF}


def mrn(index: int, copy: int, org_index: int, seed: int) -> str:
    """门诊号: unique per institution for every (resident, registration) pair."""
    value = (_MRN_MUL * (2 * index + copy) + org_index * 104_729 + seed * 7_919) % _MRN_MOD
    return f"{value:010d}"


def stable_urn(*parts: object) -> str:
    """A urn:uuid that depends only on ``parts`` (for resources shared between records)."""
    h = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class Urns:
    """Fresh urn:uuid values for one resident: a random prefix and a counter."""

    __slots__ = ("n", "prefix")

    def __init__(self, rng: random.Random) -> None:
        h = f"{rng.getrandbits(80):020x}"
        self.prefix = f"urn:uuid:{h[:8]}-{h[8:12]}-4{h[12:15]}-a{h[15:18]}-{h[18:]}"
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:010x}"


class OrgContext:
    """What every resource of one institution repeats: references, systems, codes."""

    def __init__(self, org: geo.Org) -> None:
        self.code = org.code
        self.name = org.name
        self.index = geo.ORG_INDEX[org.code]
        self.ref = fhir.org_ref(org.code, org.name)
        self.performer = [self.ref]
        self.sid = {k: fhir.sid(k, org.code) for k in _KINDS}
        self.schemes = tuple(org.recognition)
        self.pooling = org.pooling
        self.community = org.type in ("community_health_center", "community_health_subcenter")
        self.lab_codes: dict[str, dict[str, Any]] = {}

    def lab_code(
        self, loinc: str, display: str, zh: str, local: tuple[tuple[str, str], ...]
    ) -> dict[str, Any]:
        code = self.lab_codes.get(loinc)
        if code is None:
            own = cat.local_lab_code(self.index, local)
            code = self.lab_codes[loinc] = fhir.lab_code(self.code, loinc, display, zh, own)
        return code


@dataclass(slots=True)
class Record:
    org: str
    mrn: str
    url: str
    fields: RecordFields
    duplicate: bool
    subject: dict[str, str]
    emitted_conditions: set[str] = field(default_factory=set)
    patient_entry: dict[str, Any] | None = None  # the same in every bundle it goes into
    used: bool = False


@dataclass(slots=True)
class Group:
    entries: list[dict[str, Any]] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)
    coverages: set[str] = field(default_factory=set)


@dataclass
class ResidentOutput:
    groups: list[tuple[int, str, bytes]]
    counts: Counter[str]
    person: dict[str, Any]
    records: list[dict[str, Any]]
    repeats: list[dict[str, Any]]


class _VisitEntries:
    """Numbers, fullUrls and entries of the resources of one visit."""

    __slots__ = ("counts", "entries", "n", "number", "org", "urns")

    def __init__(
        self, number: str, org: OrgContext, entries: list[dict[str, Any]], urns: Urns,
        counts: Counter[str],
    ) -> None:  # fmt: skip
        self.number, self.org, self.entries, self.urns, self.counts = (
            number,
            org,
            entries,
            urns,
            counts,
        )
        self.n = 0

    def next_no(self) -> str:
        self.n += 1
        return f"{self.number}-{self.n}"

    def put(self, resource: dict[str, Any], kind: str, value: str) -> str:
        url = self.urns.next()
        self.entries.append(fhir.entry(url, resource, self.org.sid[kind], value))
        self.counts[resource["resourceType"]] += 1
        return url


class Emitter:
    """Turns residents and their histories into bundle entries and truth lines."""

    def __init__(self, profile: Profile, start: date, days: int, seed: int) -> None:
        self.start = start
        self.days = days
        self.seed = seed
        self.dates = [(start + timedelta(days=d)).isoformat() for d in range(days + 400)]
        self.errors = ErrorModel(profile["errors"])
        ins = profile["insurance"]
        self.reimbursement = ins["reimbursement"]
        self.costs = {k: (float(m), float(s)) for k, (m, s) in ins["visit_cost"].items()}
        self.delivery_fee = float(ins["internet_delivery_fee"])
        self.windows = {k: int(v) for k, v in profile["recognition"]["windows_days"].items()}
        self.orgs = {o.code: OrgContext(o) for o in geo.ORGS}

    def _time(self, day: int, minute: int) -> str:
        minute = min(minute, 23 * 60 + 59)
        return f"{self.dates[day]}T{minute // 60:02d}:{minute % 60:02d}:00+08:00"

    # --- Patient records -----------------------------------------------------------

    def _record(
        self, res: Resident, rng: random.Random, urns: Urns, records: dict[str, list[Record]],
        org: str,
    ) -> Record:  # fmt: skip
        held = records.get(org)
        if held is None:
            index = self.orgs[org].index
            url = urns.next()
            held = [
                Record(org, mrn(res.index, 0, index, self.seed), url,
                       self.errors.fields(res, rng), False, {"reference": url})
            ]  # fmt: skip
            # A second registration at the same place happens when the first was not found.
            if rng.random() < self.errors.duplicate_rate:
                url = urns.next()
                held.append(
                    Record(org, mrn(res.index, 1, index, self.seed), url,
                           self.errors.fields(res, rng, force=True), True, {"reference": url})
                )  # fmt: skip
            records[org] = held
            return held[0]
        if len(held) > 1 and rng.random() < 0.5:
            return held[1]
        return held[0]

    def _patient(self, res: Resident, rec: Record) -> dict[str, Any]:
        f = rec.fields
        district = geo.REGION_BY_CODE[res.area]
        state = geo.REGION_BY_CODE[geo.province_of(res.area)].name
        city = (
            state
            if res.area.startswith("31")
            else geo.REGION_BY_CODE[district.parent_code or ""].name
        )
        org = self.orgs[rec.org]
        resource = fhir.patient(
            org=rec.org,
            org_name=org.name,
            mrn=rec.mrn,
            id_number=f.id_number,
            card_no=res.card_no,
            # 电子健康卡 is 上海's (and the 示范区 pilot's) card; others register without it.
            health_card=res.health_card if res.area.startswith("31") else None,
            family=f.family,
            given=f.given,
            sex=res.sex,
            birth_date=f.birth_date,
            phone=f.phone,
            landline=res.landline,
            address_text=res.address_text(f.address_line),
            address_line=f.address_line,
            district=district.name,
            city=city,
            state=state,
            postal_code=res.street.postal_code,
        )
        return fhir.entry(rec.url, resource, org.sid["mrn"], rec.mrn)

    def _group(
        self, groups: dict[tuple[int, str], Group], res: Resident, rec: Record, day: int,
        counts: Counter[str],
    ) -> Group:  # fmt: skip
        g = groups.get((day, rec.org))
        if g is None:
            g = groups[(day, rec.org)] = Group()
        rec.used = True
        if rec.mrn not in g.patients:
            g.patients.add(rec.mrn)
            if rec.patient_entry is None:
                rec.patient_entry = self._patient(res, rec)
            g.entries.append(rec.patient_entry)
            counts["Patient"] += 1
        return g

    # --- one resident ------------------------------------------------------------------

    def emit(self, res: Resident, hist: History, rng: random.Random) -> ResidentOutput:
        urns = Urns(rng)
        counts: Counter[str] = Counter()
        records: dict[str, list[Record]] = {}
        groups: dict[tuple[int, str], Group] = {}
        tests: list[TestEvent] = []
        referrals: dict[str, tuple[str, str]] = {}
        for k, v in enumerate(hist.visits):
            rec = self._record(res, rng, urns, records, v.org)
            g = self._group(groups, res, rec, v.day, counts)
            self._visit(res, rng, urns, rec, g, v, k, counts, tests, referrals)
        for c in hist.contracts:
            rec = self._record(res, rng, urns, records, c.org)
            g = self._group(groups, res, rec, c.day, counts)
            org = self.orgs[c.org]
            start = self.start + timedelta(days=c.day)
            try:
                end = start.replace(year=start.year + 1) - timedelta(days=1)
            except ValueError:  # a contract signed on 29 February
                end = start + timedelta(days=364)
            number = f"{rec.mrn}-{start.year}"
            resource = fhir.contract_episode(
                org=c.org,
                org_name=org.name,
                number=number,
                subject=rec.subject,
                start=start.isoformat(),
                end=end.isoformat(),
                doctor=c.doctor,
                combination=[(o, self.orgs[o].name) for o in c.combination],
            )
            g.entries.append(fhir.entry(urns.next(), resource, org.sid["contract"], number))
            counts["EpisodeOfCare"] += 1

        person = res.truth()
        if hist.tb is not None:
            tb = hist.tb
            person["tb"] = {
                "onset": self.dates[tb.onset_day],
                "diagnosed": self.dates[tb.diagnosis_day] if tb.diagnosis_day is not None else None,
                "hospital": tb.hospital,
                "rifampicin_resistant": tb.rr,
                "bacteriologically_confirmed": tb.confirmed,
            }
        truth_records = [
            {
                "org": r.org,
                "mrn": r.mrn,
                "person_id": res.person_id,
                "duplicate_registration": r.duplicate,
                "errors": r.fields.errors,
            }
            for org in sorted(records)
            for r in records[org]
            if r.used
        ]
        out_groups = [
            (day, org, orjson.dumps(g.entries, option=orjson.OPT_SORT_KEYS)[1:-1])
            for (day, org), g in groups.items()
        ]
        return ResidentOutput(
            groups=out_groups,
            counts=counts,
            person=person,
            records=truth_records,
            repeats=repeat_tests(res.person_id, tests, self.windows, self.start),
        )

    def _visit(
        self,
        res: Resident,
        rng: random.Random,
        urns: Urns,
        rec: Record,
        g: Group,
        v: Visit,
        k: int,
        counts: Counter[str],
        tests: list[TestEvent],
        referrals: dict[str, tuple[str, str]],
    ) -> None:
        org = self.orgs[v.org]
        subject = rec.subject
        number = f"{rec.mrn}-{v.day:05d}-{k}"
        enc_url = urns.next()
        context = {"reference": enc_url}
        start = self._time(v.day, v.minute)
        end = self._time(v.day, v.minute + 8 + rng.randrange(25))
        out = _VisitEntries(number, org, g.entries, urns, counts)

        # A chronic condition is one problem-list Condition per record: sent the first
        # time, referred to by identifier afterwards.
        diag_refs: list[dict[str, Any]] = []
        condition_entries: list[dict[str, Any]] = []
        for dx in v.dx:
            chronic = dx.key is not None
            cond_number = f"{rec.mrn}-{dx.code}" if chronic else f"{number}-d{len(diag_refs)}"
            system = org.sid["condition"]
            if chronic and dx.code in rec.emitted_conditions:
                diag_refs.append({"identifier": {"system": system, "value": cond_number}})
                continue
            url = urns.next()
            resource = fhir.condition(
                org=v.org,
                number=cond_number,
                code=dx.code,
                display=dx.display,
                subject=subject,
                context=context,
                recorded=start,
                onset=dx.onset.isoformat() if dx.onset else None,
                chronic=chronic,
                notifiable=dx.notifiable,
                doctor=v.doctor,
            )
            condition_entries.append(fhir.entry(url, resource, system, cond_number))
            diag_refs.append({"reference": url})
            counts["Condition"] += 1
            if chronic:
                rec.emitted_conditions.add(dx.code)

        location = (v.location, self.orgs[v.location].name) if v.location else None
        based_on = referrals.get(v.referral_id) if v.referral_id and not v.referral_to else None
        enc = fhir.encounter(
            org=v.org,
            org_name=org.name,
            number=number,
            cls=v.cls,
            kind=v.kind,
            dept=v.dept,
            subject=subject,
            doctor=v.doctor,
            start=start,
            end=end,
            diagnoses=diag_refs,
            location=location,
            based_on=based_on,
        )
        g.entries.append(fhir.entry(enc_url, enc, org.sid["encounter"], number))
        counts["Encounter"] += 1
        g.entries.extend(condition_entries)

        if v.vitals and res.age >= 18:
            self._vitals(res, rng, v, subject, context, start, out)
        issued = self._time(v.day, v.minute + 90 + rng.randrange(120))
        emergency = v.cls == "EMER"
        diabetic = res.has("diabetes") is not None
        for panel in v.panels:
            loinc, display, zh, items = cat.PANELS[panel]
            results = []
            for key in items:
                item = cat.LAB_ITEMS[key]
                if key in ("wbc", "crp"):
                    diseased = v.infection
                else:
                    diseased = diabetic and key in ("glu", "hba1c")
                no = out.next_no()
                obs = fhir.lab_observation(
                    org=v.org, number=no, item=item,
                    code=org.lab_code(item.loinc, item.display, item.zh, item.local),
                    value=cat.draw_lab_value(item, rng, res.sex, diseased),
                    subject=subject, context=context, when=start, issued=issued,
                    performer=org.performer,
                )  # fmt: skip
                results.append(out.put(obs, "observation", no))
            no = out.next_no()
            out.put(
                fhir.report(
                    org=v.org, number=no, category="LAB", loinc=loinc, display=display, zh=zh,
                    subject=subject, context=context, when=start, issued=issued,
                    performer=org.performer, results=results, conclusion=None,
                    schemes=org.schemes,
                ),
                "report", no,
            )  # fmt: skip
            for key in items:
                item = cat.LAB_ITEMS[key]
                tests.append(
                    TestEvent(
                        v.day, v.minute, v.org, item.loinc, item.zh, item.group, no, emergency
                    )
                )
        for key, abnormal in v.imaging:
            study = cat.IMAGING[key]
            no = out.next_no()
            out.put(
                fhir.report(
                    org=v.org, number=no, category="EC" if key == "ecg" else "RAD",
                    loinc=study.loinc, display=study.display, zh=study.zh, subject=subject,
                    context=context, when=start, issued=issued, performer=org.performer,
                    results=[], conclusion=study.abnormal if abnormal else study.normal,
                    schemes=org.schemes,
                ),
                "report", no,
            )  # fmt: skip
            tests.append(
                TestEvent(v.day, v.minute, v.org, study.loinc, study.zh, "imaging", no, emergency)
            )
        qualitative = [(_QUALITATIVE[t], pos, t == "rif") for t, pos in v.tb_tests]
        if v.hbsag:
            qualitative.append((cat.HBSAG, True, False))
        for test, positive, resistance in qualitative:
            loinc, display, zh, group, local = test
            code = org.lab_code(loinc, display, zh, local)
            no = out.next_no()
            obs = fhir.qualitative_observation(
                org=v.org, number=no, code=code, positive=positive, resistance=resistance,
                subject=subject, context=context, when=start, issued=issued,
                performer=org.performer,
            )  # fmt: skip
            result = out.put(obs, "observation", no)
            no = out.next_no()
            out.put(
                fhir.report(
                    org=v.org, number=no, category="MB" if group == "microbiology" else "LAB",
                    loinc=loinc, display=display, zh=zh, subject=subject, context=context,
                    when=start, issued=issued, performer=org.performer, results=[result],
                    conclusion=None, schemes=org.schemes,
                ),
                "report", no,
            )  # fmt: skip
        for key in dict.fromkeys(v.drugs):
            drug = cat.DRUGS[key]
            no = out.next_no()
            out.put(
                fhir.medication_request(
                    org=v.org, number=no, drug=drug, days=drug.days, subject=subject,
                    context=context, when=start, doctor=v.doctor,
                ),
                "medication-request", no,
            )  # fmt: skip
        if v.referral_to:
            reason = (v.dx[0].code, v.dx[0].display) if v.dx else None
            no = out.next_no()
            out.put(
                fhir.service_request(
                    org=v.org, number=no, target=(v.referral_to, self.orgs[v.referral_to].name),
                    reason=reason, subject=subject, context=context, when=start,
                    doctor=v.doctor,
                ),
                "service-request", no,
            )  # fmt: skip
            if v.referral_id:
                referrals[v.referral_id] = (v.org, no)
        self._settle(res, rng, urns, g, v, org, number, subject, end, counts)

    def _vitals(
        self,
        res: Resident,
        rng: random.Random,
        v: Visit,
        subject: dict[str, Any],
        context: dict[str, Any],
        when: str,
        out: _VisitEntries,
    ) -> None:
        htn = res.has("hypertension")
        if htn and htn.diagnosed:
            sbp, dbp = rng.gauss(136, 14), rng.gauss(82, 9)
        elif htn:
            sbp, dbp = rng.gauss(150, 12), rng.gauss(93, 8)
        else:
            sbp = rng.gauss(110 + 0.45 * max(0, res.age - 30), 11)
            dbp = rng.gauss(72 + 0.1 * max(0, res.age - 30), 8)
        sbp = max(85, min(220, round(sbp)))
        dbp = max(50, min(130, round(dbp), sbp - 20))
        no = out.next_no()
        out.put(
            fhir.blood_pressure(org=v.org, number=no, systolic=sbp, diastolic=dbp,
                                subject=subject, context=context, when=when),
            "observation", no,
        )  # fmt: skip
        no = out.next_no()
        out.put(
            fhir.vital(org=v.org, number=no, loinc="8867-4", display="Heart rate",
                       value=max(45, min(140, round(rng.gauss(76, 10)))), unit="/min",
                       subject=subject, context=context, when=when),
            "observation", no,
        )  # fmt: skip
        if v.kind == "check":
            height = rng.gauss(170, 6) if res.sex == "male" else rng.gauss(158, 5.5)
            bmi = max(16.0, rng.gauss(23.8, 3.2))
            weight = bmi * (height / 100) ** 2
            for loinc, display, value, unit in (
                ("8302-2", "Body height", round(height, 1), "cm"),
                ("29463-7", "Body weight", round(weight, 1), "kg"),
                ("39156-5", "Body mass index (BMI) [Ratio]", round(bmi, 1), "kg/m2"),
            ):
                no = out.next_no()
                out.put(
                    fhir.vital(org=v.org, number=no, loinc=loinc, display=display, value=value,
                               unit=unit, subject=subject, context=context, when=when),
                    "observation", no,
                )  # fmt: skip

    def _settle(
        self,
        res: Resident,
        rng: random.Random,
        urns: Urns,
        g: Group,
        v: Visit,
        org: OrgContext,
        number: str,
        subject: dict[str, Any],
        when: str,
        counts: Counter[str],
    ) -> None:
        """异地就医直接结算 when the 参保地 is not where the care was given."""
        if res.insured is None or res.card_no is None or v.cls == "HH":
            return
        if res.insured == org.pooling:
            return
        insurer = (geo.insurer_code(res.insured), geo.INSURER_NAMES[res.insured])
        kind = res.insurance_kind or "resident"
        if v.cls == "VR":
            site = "internet"
        elif v.cls == "EMER":
            site = "emergency"
        elif org.community:
            site = "community"
        else:
            site = "hospital"
        mean, sigma = self.costs[site]
        total = rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)
        ratio = float(self.reimbursement[kind]["hospital" if site == "emergency" else site])
        tests = 0.3 if (v.panels or v.imaging) else 0.0
        items = [
            ("consultation", "诊查费", total * 0.2, total * 0.2 * ratio),
            ("drug", "药品费", total * (0.8 - tests), total * (0.8 - tests) * ratio),
        ]
        if tests:
            items.append(("examination", "检查检验费", total * tests, total * tests * ratio))
        if site == "internet":
            items.append(("delivery", "药品配送费", self.delivery_fee, 0.0))
        # One Coverage per card in a bundle, whichever of the person's records it serves.
        cov_url = stable_urn(self.seed, org.code, res.card_no)
        if res.card_no not in g.coverages:
            g.coverages.add(res.card_no)
            cov = fhir.coverage(card_no=res.card_no, kind=kind, subject=subject, insurer=insurer)
            g.entries.append(fhir.entry(cov_url, cov, fhir.SID_INSURANCE_CARD, res.card_no))
            counts["Coverage"] += 1
        eob = fhir.claim_outcome(
            org=org.code,
            org_name=org.name,
            number=number,
            subject=subject,
            coverage_url=cov_url,
            insurer=insurer,
            created=when,
            items=items,
        )
        g.entries.append(fhir.entry(urns.next(), eob, org.sid["settlement"], number))
        counts["ExplanationOfBenefit"] += 1
