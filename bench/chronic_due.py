"""Benchmark: the chronic worklist and indicator queries over many enrolled persons.

Seeds the synthetic district's registry and ``--persons`` enrolled persons (hypertension,
a third also diabetes) with a year of follow-ups for a quarter of them, and family-doctor
contracts with 120 teams for about half of them, then times: ``followups_due`` for
everyone and for a 2,000-person team, ``enrolled_programmes`` for 2,000 persons, and the
indicator query by centre and by team (with ``--per-person``: also the old team grouping,
one ``familydoctor.service.active_contract`` call per person, for comparison). Each line
gives the best wall time of three runs and its CPU time (the machine is shared).

    .venv/bin/python bench/chronic_due.py --quick          # seconds
    .venv/bin/python bench/chronic_due.py                  # 200,000 persons (the issue's size)
    .venv/bin/python bench/chronic_due.py --database postgresql://localhost:5432/test
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("YILIAN_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
os.environ.setdefault("YILIAN_DATA_KEY", base64.urlsafe_b64encode(b"b" * 32).decode())

from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from yilian.chronic import repository, service
from yilian.chronic.models import Enrolment, Followup
from yilian.db import Base, make_engine, make_sessionmaker, new_id, utcnow
from yilian.familydoctor import service as familydoctor
from yilian.familydoctor.models import Contract, Team
from yilian.models import load_all
from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.synth.geography import registry_payload


def timed(label: str, fn: object, repeat: int = 3) -> object:
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    print(f"{label:<48} {best * 1000:9.1f} ms  (CPU {cpu * 1000:8.1f} ms)")
    return out


def seed_contracts(
    session: Session, persons: list[str], centres: list[str], rng: random.Random
) -> int:
    """120 teams over the centres and a covering contract for about half of the persons."""
    now, today = utcnow(), service.today()
    teams = [
        {"id": new_id(), "organization_id": centres[i % len(centres)], "name": f"团队{i:03d}",
         "active": True, "created_at": now, "updated_at": now}
        for i in range(120)
    ]  # fmt: skip
    session.execute(insert(Team), teams)
    for i in range(0, len(persons), 20_000):
        session.execute(insert(Person), [{"id": p} for p in persons[i : i + 20_000]])
    rows = []
    for p in persons:
        if rng.random() < 0.5:
            team = rng.choice(teams)
            start = today - timedelta(days=rng.randint(0, 360))
            rows.append(
                {"id": new_id(), "person_id": p, "organization_id": team["organization_id"],
                 "team_id": team["id"], "kind": "individual", "start": start,
                 "end": start + timedelta(days=364), "status": "active", "categories": [],
                 "source": "demo", "created_at": now, "updated_at": now}
            )  # fmt: skip
    for i in range(0, len(rows), 20_000):
        session.execute(insert(Contract), rows[i : i + 20_000])
    return len(rows)


def per_person_teams(session: Session, rows: list[Any]) -> int:
    """The former team grouping: one ``active_contract`` query per managed person."""
    found = 0
    for r in rows:
        contract = familydoctor.active_contract(session, r[0])
        found += contract is not None
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--persons", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="5,000 persons, finishes in seconds")
    ap.add_argument("--database", default=None, help="database URL (default: a temp SQLite)")
    ap.add_argument(
        "--per-person", action="store_true", help="also time the old per-person team grouping"
    )
    args = ap.parse_args()
    n = 5_000 if args.quick else args.persons
    load_all()
    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp(prefix='chronic-bench-'))}/b.db"
    schema = None
    if url.startswith("postgres"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
        factory = make_sessionmaker(engine)
        rng = random.Random(7)
        today = service.today()
        with factory() as session:
            loaded = registry.load_registry(session, **registry_payload())
            centres = [oid for code, oid in loaded.organization_ids.items() if "C0" in code]
            session.commit()
            t = time.perf_counter()
            persons = [uuid.uuid4().hex for _ in range(n)]
            enrolments, followups = [], []
            now = utcnow()
            for p in persons:
                progs = ["hypertension"] + (["diabetes"] if rng.random() < 1 / 3 else [])
                for prog in progs:
                    eid = new_id()
                    due = today + timedelta(days=rng.randint(-120, 90))
                    enrolments.append(
                        {"id": eid, "person_id": p, "programme": prog, "status": "active",
                         "managing_org_id": rng.choice(centres), "enrolled_on": date(2020, 1, 1),
                         "source": "condition", "next_due": due, "next_kind": "routine",
                         "created_at": now, "updated_at": now}
                    )  # fmt: skip
                    if rng.random() < 0.25:
                        for q in range(4):
                            followups.append(
                                {"id": new_id(), "enrolment_id": eid, "person_id": p,
                                 "programme": prog, "mode": "clinic", "face_to_face": True,
                                 "annual_check": False, "findings": {},
                                 "followed_on": date(today.year, 1 + 3 * q, 5),
                                 "control": rng.choice(("controlled", "uncontrolled")),
                                 "classification": "controlled", "next_kind": "routine",
                                 "next_due": date(today.year, 1 + 3 * q, 5), "created_at": now}
                            )  # fmt: skip
            for table, rows in ((Enrolment, enrolments), (Followup, followups)):
                for i in range(0, len(rows), 20_000):
                    session.execute(insert(table), rows[i : i + 20_000])
            contracts = seed_contracts(session, persons, centres, rng)
            session.commit()
            print(
                f"seeded {n:,} persons, {len(enrolments):,} enrolments, "
                f"{len(followups):,} follow-ups, {contracts:,} contracts in "
                f"{time.perf_counter() - t:.1f} s ({url.split(':')[0]})"
            )
            team = rng.sample(persons, min(2_000, n))
            due_all = timed(
                "followups_due(person_ids=None)",
                lambda: service.followups_due(session, person_ids=None, on=today),
            )
            print(f"{'  due now':<48} {len(due_all):9,}")  # type: ignore[arg-type]
            timed(
                "followups_due(2,000 persons)",
                lambda: service.followups_due(session, person_ids=team, on=today),
            )
            timed(
                "followups_due(all persons as ids)",
                lambda: service.followups_due(session, person_ids=persons, on=today),
                repeat=1,
            )
            timed(
                "enrolled_programmes(2,000 persons)",
                lambda: service.enrolled_programmes(session, team),
            )
            timed(
                "indicators(hypertension, by centre)",
                lambda: service.indicators(session, programme="hypertension", year=today.year),
            )
            by_team = timed(
                "indicators(hypertension, by team)",
                lambda: service.indicators(
                    session, programme="hypertension", year=today.year, group_by="team"
                ),
            )
            print(f"{'  teams with managed persons':<48} {len(by_team[0]) - 1:9,}")  # type: ignore[index]
            if args.per_person:
                managed = repository.indicator_rows(
                    session, programme="hypertension", start=date(today.year, 1, 1),
                    end=date(today.year, 12, 31), min_followups=4,
                )  # fmt: skip
                timed(
                    f"  old grouping: active_contract × {len(managed):,}",
                    lambda: per_person_teams(session, managed),
                    repeat=1,
                )
    finally:
        if schema:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
