"""Benchmark: concurrent bookings of reserved expert slots (双向转诊 号源预留) never double-book.

A regional medical centre publishes sessions whose reserved share (20%, 004 附件4 二(二)2)
gives ``--slots`` reserved slots; ``--bookings`` threads, each with its own database
session, then book them all at once through the referral reserve (the same
``referral.slots.book`` the API uses: a conditional ``UPDATE … WHERE status='open'``).
Thread *k* targets slot *k mod slots*, so every slot is contested. Exactly ``--slots``
bookings must succeed, the rest be refused with "already taken", and no slot carry two
bookings. Repeated ``--rounds`` times on fresh slots.

    .venv/bin/python bench/referral_booking.py --quick                      # seconds, SQLite
    .venv/bin/python bench/referral_booking.py                              # 100 on 20, SQLite
    .venv/bin/python bench/referral_booking.py --database postgresql://localhost:5432/test
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("YILIAN_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
os.environ.setdefault("YILIAN_DATA_KEY", base64.urlsafe_b64encode(b"b" * 32).decode())

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from yilian.db import make_engine, make_sessionmaker, normalise_url, session_scope, utcnow
from yilian.kit.errors import Conflict
from yilian.models import load_all
from yilian.referral import slots
from yilian.referral.models import Slot
from yilian.referral.rules import Channel, SlotKind, SlotStatus
from yilian.registry import service as registry
from yilian.registry.rules import OrganizationType, RegionLevel
from yilian.registry.schemas import OrganizationCreate, RegionCreate


def _database(url: str | None) -> tuple[str, str | None]:
    """A fresh database: a temporary SQLite file, or a new schema on the PostgreSQL server."""
    if not url or url.startswith("sqlite"):
        path = Path(tempfile.mkdtemp(prefix="yilian-bench-")) / "bench.db"
        return f"sqlite:///{path}", None
    schema = f"yl_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    base = normalise_url(url)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop(url: str, schema: str | None) -> None:
    if schema is None:
        return
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _round(
    factory: sessionmaker[Session],
    hospital_id: str,
    centre_id: str,
    rnd: int,
    bookings: int,
    slot_count: int,
    latencies: list[float],
) -> bool:
    # Sessions of 10 slots with the default 20% share give 2 reserved slots each.
    with session_scope(factory) as s:
        base = utcnow().replace(microsecond=0) + timedelta(days=5 + rnd)
        for n in range((slot_count + 1) // 2):
            start = base + timedelta(hours=n)
            slots.publish(
                s,
                organization_id=hospital_id,
                kind=SlotKind.expert,
                service="心内科",
                practitioner_name=f"专家{n:03d}",
                start=start,
                end=start + timedelta(minutes=50),
                capacity=10,
                reserved_share=0.2,
            )
        held = [
            v.id
            for v in slots.list_slots(
                s,
                organization_id=hospital_id,
                kind=SlotKind.expert,
                start_from=base,
                days=1,
                pool="referral",
            )
        ][:slot_count]
    assert len(held) == slot_count, f"published {len(held)} reserved slots, wanted {slot_count}"
    barrier = threading.Barrier(bookings)
    wins: list[tuple[str, str]] = []
    refused: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def attempt(k: int) -> None:
        slot_id = held[k % slot_count]
        ref = f"bench:{rnd}:{k}"
        s = factory()
        try:
            barrier.wait(timeout=60)
            t0 = time.perf_counter()
            try:
                slots.book(
                    s,
                    slot_id=slot_id,
                    channel=Channel.referral,
                    booking_ref=ref,
                    booked_by=f"t{k}",
                    booked_org_id=centre_id,
                    person_id=None,
                )
                s.commit()
                with lock:
                    wins.append((slot_id, ref))
            except Conflict as exc:
                s.rollback()
                with lock:
                    refused[exc.message.split(": ", 1)[-1]] += 1
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
        except Exception as exc:  # anything but a clean refusal is a failure
            s.rollback()
            with lock:
                failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            s.close()

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(bookings)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.perf_counter() - t_start
    with session_scope(factory) as s:
        booked = s.execute(
            select(Slot.id, Slot.booking_ref).where(
                Slot.id.in_(held), Slot.status == SlotStatus.booked
            )
        ).all()
        total_booked = s.scalar(
            select(func.count()).select_from(Slot).where(Slot.status == SlotStatus.booked)
        )
    slots_won = Counter(slot for slot, _ in wins)
    double = sum(1 for c in slots_won.values() if c > 1)
    consistent = sorted(wins) == sorted((r.id, r.booking_ref) for r in booked)
    good = (
        len(wins) == slot_count
        and double == 0
        and consistent
        and not failures
        and sum(refused.values()) == bookings - slot_count
    )
    print(
        f"  round {rnd + 1}: succeeded {len(wins)}/{bookings} (expected {slot_count}), "
        f"refused {sum(refused.values())} {dict(refused)}, errors {len(failures)}, "
        f"double-booked slots {double}, store agrees {consistent}, "
        f"booked in store {total_booked}, {elapsed * 1000:.0f} ms wall "
        f"→ {'OK' if good else 'FAIL'}"
    )
    for f in failures[:5]:
        print(f"    error: {f}")
    return good


def run(url: str | None, bookings: int, slot_count: int, rounds: int) -> bool:
    db_url, schema = _database(url)
    engine = make_engine(db_url)
    load_all().metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    backend = engine.dialect.name
    with session_scope(factory) as s:
        region = registry.create_region(
            s, RegionCreate(code="310105", name="长宁区", level=RegionLevel.district)
        )
        hospital = registry.create_organization(
            s,
            OrganizationCreate(
                code="310105H001",
                name="同仁医院",
                type=OrganizationType.tertiary_hospital,
                region_id=region.id,
            ),
        )
        centre = registry.create_organization(
            s,
            OrganizationCreate(
                code="310105C001",
                name="新华街道社区卫生服务中心",
                type=OrganizationType.community_health_center,
                region_id=region.id,
            ),
        )
        hospital_id, centre_id = hospital.id, centre.id
    ok = True
    latencies: list[float] = []
    print(
        f"{backend}: {bookings} concurrent bookings on {slot_count} reserved slots, "
        f"{rounds} round(s)"
    )
    for rnd in range(rounds):
        ok &= _round(factory, hospital_id, centre_id, rnd, bookings, slot_count, latencies)
    if latencies:
        q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
        print(
            f"  per-booking latency: p50 {statistics.median(latencies):.1f} ms, "
            f"p95 {q[18]:.1f} ms, max {max(latencies):.1f} ms"
        )
    engine.dispose()
    _drop(url or "", schema)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--slots", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20 bookings on 4 slots, one round")
    args = parser.parse_args()
    if args.quick:
        args.bookings, args.slots, args.rounds = 20, 4, 1
    if args.slots < 1 or args.bookings < args.slots:
        sys.exit("need at least one slot and at least as many bookings as slots")
    ok = True
    for url in args.database or ["sqlite"]:
        ok &= run(None if url == "sqlite" else url, args.bookings, args.slots, args.rounds)
    print("PASS: exactly one booking per slot, every other attempt refused" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
