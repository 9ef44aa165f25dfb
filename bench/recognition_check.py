"""Benchmark: latency of the check before ordering (检验检查结果互认) with a large index.

Fills ``recognition_results`` with ``--results`` indexed results (default 1,000,000:
100,000 people × 10 results, bulk-inserted as the projector would have written them),
ingests ``--people`` real persons through the FHIR exchange (so the MPI, the access
decision and the audit run as in production), installs the default catalogue, and
times two things over ``--queries`` random checks of 6 items each:

* lookup — the indexed query and the verdicts (``repository.results_for`` + rules);
* check — ``service.check`` end to end: person resolution through merges, the access
  decision with its audit entry, the lookup, the verdicts and the check's rows
  (rolled back after each, so every check starts from the same state).

    .venv/bin/python bench/recognition_check.py --quick          # seconds
    .venv/bin/python bench/recognition_check.py                  # 1,000,000 results, SQLite
    .venv/bin/python bench/recognition_check.py --database postgresql://localhost:5432/test

The issue's target: p95 < 10 ms with 1,000,000 results stored.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("YILIAN_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
os.environ.setdefault("YILIAN_DATA_KEY", base64.urlsafe_b64encode(b"b" * 32).decode())
os.environ.setdefault("YILIAN_VAR_DIR", tempfile.mkdtemp(prefix="yilian-bench-"))

from sqlalchemy import insert, text

from yilian.db import make_engine, make_sessionmaker, new_id
from yilian.kit import idcard
from yilian.models import load_all
from yilian.patients import service as patients
from yilian.recognition import repository as repo
from yilian.recognition import service
from yilian.recognition.defaults import DEFAULT_ITEMS
from yilian.recognition.models import IndexedResult
from yilian.records import service as records
from yilian.registry import service as registry
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.synth.geography import registry_payload

NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
ITEMS = [i.code for i in DEFAULT_ITEMS]
REQUEST_SIZE = 6


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _bundle(n: int) -> dict[str, object]:
    card = idcard.make("310105", date(1960 + n % 40, 1 + n % 12, 1 + n % 28), n % 900, "male")
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:p",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [
                        {"system": "https://bench.example/mrn", "value": f"B{n:07d}"},
                        {"system": "https://yilian.example/fhir/sid/resident-id-card",
                         "value": card},
                    ],
                    "name": [{"text": f"测试{n}", "family": "测", "given": [str(n)]}],
                    "gender": "male",
                    "birthDate": "1970-01-01",
                },
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }  # fmt: skip


def setup(url: str, total: int, people: int, seed: int) -> tuple[list[tuple[str, str]], str, str]:
    """Fill the database; return (person id, patient id) pairs, the checking org and hospital."""
    load_all()
    engine = make_engine(url)
    load_all().metadata.drop_all(engine)
    load_all().metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    rng = random.Random(seed)
    with factory() as session:
        loaded = registry.load_registry(session, **registry_payload())
        ids = loaded.organization_ids
        centre, hospital, outsider = ids["310105C001"], ids["310105H001"], ids["310118I001"]
        others = [ids[c] for c in ("310105H002", "310105H003", "310105C002", "310105C003")]
        service.install_default(session, None, organization_ids=[centre, hospital, *others[:2]])
        session.commit()
        sources = [hospital, *others, outsider]
        real: list[tuple[str, str]] = []
        his = Principal("bench-his", "HIS", Role.system, hospital, kind="client")
        for n in range(people):
            out = records.ingest_bundle(session, his, _bundle(n))
            patient_id = out["entry"][0]["response"]["location"].split("/")[1]
            person = patients.person_of_record(session, patient_id)
            assert person is not None
            security.grant_relationship(
                session, person_id=person, organization_id=centre, kind="treating", source="bench"
            )
            real.append((person, patient_id))
        session.commit()
        started = time.perf_counter()
        batch: list[dict[str, object]] = []
        per_person = 10
        fake_people = max(1, (total - people * per_person) // per_person)
        patient_ids = [p for _, p in real] + [uuid.uuid4().hex for _ in range(fake_people)]
        written = 0
        for patient_id in patient_ids:
            for item in rng.sample(ITEMS, per_person):
                if written >= total:
                    break
                batch.append({
                    "id": new_id(), "patient_id": patient_id, "person_id": None,
                    "item_code": item, "resource_type": "Observation",
                    "resource_id": uuid.uuid4().hex, "report_id": None,
                    "source_org_id": rng.choice(sources),
                    "effective": NOW - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 599)),  # noqa: E501
                    "value": f"{rng.uniform(1, 200):.1f}", "unit": "mmol/L", "hr_marked": True,
                    "indexed_at": NOW,
                })  # fmt: skip
                written += 1
            if len(batch) >= 20_000:
                session.execute(insert(IndexedResult), batch)
                session.commit()
                batch = []
        if batch:
            session.execute(insert(IndexedResult), batch)
            session.commit()
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE recognition_results"))
            session.commit()
        else:
            session.execute(text("ANALYZE"))
            session.commit()
        print(
            f"indexed {repo.indexed_count(session):,} results in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    engine.dispose()
    return real, centre, hospital


def run(url: str, real: list[tuple[str, str]], centre: str, queries: int, seed: int) -> None:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    rng = random.Random(seed + 1)
    doctor = Principal("bench-doctor", "bench", Role.doctor, centre)
    lookups: list[float] = []
    checks: list[float] = []
    cpu: list[float] = []
    lookup_cpu: list[float] = []
    verdicts: dict[str, int] = {}
    with factory() as session:
        for _ in range(20):  # warm caches and the code map
            person, patient = rng.choice(real)
            service.check(session, doctor, person, rng.sample(ITEMS, REQUEST_SIZE), now=NOW)
            session.rollback()
        for _ in range(queries):
            person, patient = rng.choice(real)
            items = rng.sample(ITEMS, REQUEST_SIZE)
            t0, c0 = time.perf_counter(), time.process_time()
            service.lookup(session, [patient], items, centre, NOW)
            lookups.append((time.perf_counter() - t0) * 1000)
            lookup_cpu.append((time.process_time() - c0) * 1000)
            session.rollback()
            t0, c0 = time.perf_counter(), time.process_time()
            out = service.check(session, doctor, person, items, now=NOW)
            checks.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            session.rollback()
            for i in out.items:
                verdicts[i.reason or i.verdict] = verdicts.get(i.reason or i.verdict, 0) + 1
    engine.dispose()
    print(f"backend: {engine.dialect.name}; machine: {machine()}")
    print(f"{queries} checks of {REQUEST_SIZE} items; verdicts: {dict(sorted(verdicts.items()))}")
    print("| measure | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, values in (("lookup (indexed query + verdicts)", lookups),
                         ("check (service.check, access + audit + rows)", checks)):  # fmt: skip
        print(f"| {name} | {statistics.median(values):.2f} | {pct(values, 0.95):.2f} | "
              f"{pct(values, 0.99):.2f} | {max(values):.2f} |")  # fmt: skip
    print(
        f"CPU time of this process, median: lookup {statistics.median(lookup_cpu):.2f} ms, "
        f"check {statistics.median(cpu):.2f} ms (wall-clock above also waits for the database "
        "and, on a busy machine, for a core)"
    )
    for name, values in (("lookup", lookups), ("check", checks)):
        p95 = pct(values, 0.95)
        print(f"target p95 < 10 ms, {name}: {'met' if p95 < 10 else 'NOT met'} ({p95:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--results", type=int, default=1_000_000, help="indexed results")
    parser.add_argument("--people", type=int, default=300, help="persons ingested for real")
    parser.add_argument("--queries", type=int, default=1000, help="timed checks")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 results, 200 checks")
    args = parser.parse_args()
    if args.quick:
        args.results, args.people, args.queries = 20_000, 40, 200
    url = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='yilian-rc-')}/bench.db"
    if url.startswith("postgresql") and "search_path" not in url:
        schema = f"rc_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        base = url.replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        try:
            real, centre, _ = setup(url, args.results, args.people, args.seed)
            run(url, real, centre, args.queries, args.seed)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        return
    real, centre, _ = setup(url, args.results, args.people, args.seed)
    run(url, real, centre, args.queries, args.seed)


if __name__ == "__main__":
    main()
