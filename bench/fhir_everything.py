"""Benchmark: ``Patient/$everything`` for a person with 500 resources in a store of 1,000,000.

Fills a fresh database in bulk (the synthetic district's registry, persons with
about 20 resources each, and target persons with 500 resources spread over three
institutions' Patient records), then times ``records.service.everything`` for the
target persons — access decision, audit entry and commit included, one transaction
per call as a request has — and prints the median and p95 in milliseconds.

    .venv/bin/python bench/fhir_everything.py                      # SQLite, 1,000,000
    .venv/bin/python bench/fhir_everything.py --database postgresql://localhost:5432/test
    .venv/bin/python bench/fhir_everything.py --quick              # 50,000, seconds
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fhir_ingest import machine
from yilian.db import make_engine, make_sessionmaker, new_id, session_scope
from yilian.migrate import upgrade
from yilian.patients.models import Person, PersonRecord
from yilian.records import service as records
from yilian.records.models import FhirResource
from yilian.registry import service as registry
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.synth.geography import registry_payload

TARGET_RESOURCES = 500
PER_PERSON = 20
BATCH = 5_000
START = datetime(2020, 1, 1, tzinfo=UTC)


def _observation(rid: str, patient: str, when: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "identifier": [{"system": "https://lis.example/obs", "value": rid}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "血糖"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": round(rng.uniform(3.5, 12), 1), "unit": "mmol/L"},
    }


def _patient(rid: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": rid,
        "identifier": [{"system": "https://his.example/mrn", "value": f"MRN{n}"}],
        "name": [{"use": "official", "text": "测试", "family": "测", "given": ["试"]}],
        "gender": "female",
        "birthDate": "1960-01-01",
    }


def fill(url: str, total: int, targets: int, seed: int) -> tuple[list[str], str]:
    """Write ``total`` resources; return the target persons' first Patient ids and an org id."""
    rng = random.Random(seed)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        loaded = registry.load_registry(session, **registry_payload())
    orgs = sorted(loaded.organization_ids.values())[:3]
    now = datetime.now(UTC)
    persons: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    written = 0
    target_patients: list[str] = []

    def flush(conn: Any) -> None:
        nonlocal persons, links, resources
        if persons:
            conn.execute(insert(Person), persons)
        if links:
            conn.execute(insert(PersonRecord), links)
        if resources:
            conn.execute(insert(FhirResource), resources)
        persons, links, resources = [], [], []

    def person(conn: Any, n_resources: int, n_records: int) -> str:
        nonlocal written
        pid = new_id()
        persons.append({"id": pid, "created_at": now})
        patient_ids = []
        for r in range(n_records):
            rid = uuid.uuid4().hex
            patient_ids.append(rid)
            org = orgs[r % len(orgs)]
            links.append(
                {
                    "id": new_id(),
                    "person_id": pid,
                    "resource_id": rid,
                    "source_org_id": org,
                    "link_status": "auto",
                    "linked_at": now,
                }
            )
            resources.append(
                {
                    "resource_type": "Patient",
                    "id": rid,
                    "version_id": 1,
                    "last_updated": now,
                    "person_id": pid,
                    "patient_id": rid,
                    "source_org_id": org,
                    "effective": None,
                    "resource": _patient(rid, written),
                }
            )
            written += 1
        for i in range(n_resources - n_records):
            rid = uuid.uuid4().hex
            patient = patient_ids[i % n_records]
            when = START + timedelta(hours=rng.randrange(6 * 365 * 24))
            resources.append(
                {
                    "resource_type": "Observation",
                    "id": rid,
                    "version_id": 1,
                    "last_updated": now,
                    "person_id": pid,
                    "patient_id": patient,
                    "source_org_id": orgs[(i % n_records) % len(orgs)],
                    "effective": when,
                    "resource": _observation(rid, patient, when, rng),
                }
            )
            written += 1
        if len(resources) >= BATCH:
            flush(conn)
        return patient_ids[0]

    started = time.perf_counter()
    with engine.begin() as conn:
        for _ in range(targets):
            target_patients.append(person(conn, TARGET_RESOURCES, 3))
        while written < total:
            person(conn, PER_PERSON, 1 + (written % 3 == 0))
            if written % 100_000 < PER_PERSON:
                print(f"  {written:,} resources written", file=sys.stderr, flush=True)
        flush(conn)
    print(f"filled {written:,} resources in {time.perf_counter() - started:.0f}s")
    engine.dispose()
    return target_patients, orgs[0]


def measure(url: str, patient_ids: list[str], org_id: str, rounds: int) -> list[float]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    principal = Principal(
        subject="bench-his",
        name="bench HIS",
        role=Role.system,
        organization_id=org_id,
        kind="client",
    )
    with session_scope(factory) as session:
        for pid in patient_ids:
            owner = session.scalar(
                select(PersonRecord.person_id).where(PersonRecord.resource_id == pid)
            )
            assert owner is not None
            security.grant_relationship(
                session, person_id=owner, organization_id=org_id, kind="treating", source="bench"
            )
    timings: list[float] = []
    counts: set[int] = set()
    for _ in range(rounds):
        for pid in patient_ids:
            t0 = time.perf_counter()
            with session_scope(factory) as session:
                found = records.everything(session, records.ReadContext(principal), pid)
            timings.append((time.perf_counter() - t0) * 1000)
            counts.add(len(found))
    engine.dispose()
    if counts != {TARGET_RESOURCES}:
        raise SystemExit(f"expected {TARGET_RESOURCES} resources per person, got {sorted(counts)}")
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=1_000_000)
    ap.add_argument("--targets", type=int, default=10, help="persons with 500 resources")
    ap.add_argument("--rounds", type=int, default=10, help="calls per target person")
    ap.add_argument("--database", default="sqlite", help="'sqlite' or a postgresql:// URL")
    ap.add_argument("--quick", action="store_true", help="50,000 resources, 3 rounds")
    args = ap.parse_args()
    total, rounds = (50_000, 3) if args.quick else (args.resources, args.rounds)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="yl-everything-") as tmp:
        schema = None
        if args.database == "sqlite":
            url, backend = f"sqlite:///{tmp}/bench.db", "SQLite"
        else:
            schema = f"yl_bench_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", args.database, "-qc", f"CREATE SCHEMA {schema}"], check=True)
            sep = "&" if "?" in args.database else "?"
            url, backend = f"{args.database}{sep}options=-csearch_path%3D{schema}", "PostgreSQL"
        try:
            upgrade(url)
            targets, org_id = fill(url, total, args.targets, seed=11)
            timings = measure(url, targets, org_id, rounds)
        finally:
            if schema:
                subprocess.run(
                    ["psql", args.database, "-qc", f"DROP SCHEMA {schema} CASCADE"],
                    check=False,
                    env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
                )
    timings.sort()
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    print(
        f"{backend}: $everything of a person with {TARGET_RESOURCES} resources among "
        f"{total:,}: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms "
        f"over {len(timings)} calls (access decision, audit and commit included)"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
