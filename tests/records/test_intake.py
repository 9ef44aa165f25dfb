"""Bulk intake: bundles validated in worker processes, written in groups, each all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.records.conftest import (
    entry,
    new_idcard,
    observation,
    patient,
    transaction,
    visit_bundle,
)
from yilian.audit.models import AuditEntry
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.migrate import upgrade
from yilian.patients import service as patients
from yilian.records import intake, projectors
from yilian.records import service as records
from yilian.records.models import FhirResource
from yilian.records.projectors import StoredResource
from yilian.registry import service as registry_service
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role
from yilian.synth.demo import generate_demo, iter_demo_bundles
from yilian.synth.load import read_registry


def _system(org: Organization) -> Principal:
    return Principal(
        subject=f"his-{org.id}",
        name="HIS",
        role=Role.system,
        organization_id=org.id,
        kind="client",
    )


def _count(session: Session, model: type = FhirResource) -> int:
    session.rollback()
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _writes(session: Session) -> int:
    session.rollback()
    stmt = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "write")
    return session.execute(stmt).scalar_one()


@pytest.fixture
def org(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="青浦区中心医院", type="secondary_hospital")


def _dangling() -> dict[str, object]:
    """Valid FHIR that the store refuses: its subject is no Patient here."""
    return transaction(entry(observation("Patient/nobody-here")))


@pytest.mark.parametrize("workers", [0, 1])
def test_every_bundle_gets_its_result_in_order_and_a_refused_one_leaves_the_others(
    engine: Engine, session: Session, org: Organization, workers: int
) -> None:
    good = [visit_bundle() for _ in range(6)]
    invalid = visit_bundle()
    invalid["entry"][2]["resource"]["effectiveDateTime"] = "yesterday"
    items = [
        intake.Item(_system(org), json.dumps(b).encode(), f"good-{n}") for n, b in enumerate(good)
    ]
    items.insert(2, intake.Item(_system(org), json.dumps(invalid), "invalid"))
    items.insert(4, intake.Item(_system(org), _dangling(), "dangling"))
    items.insert(5, intake.Item(_system(org), b"{not json", "broken"))

    results = list(
        intake.import_bundles(make_sessionmaker(engine), items, workers=workers, group_resources=10)
    )

    assert [r.label for r in results] == [i.label for i in items]
    by_label = {r.label: r for r in results}
    assert all(by_label[f"good-{n}"].ok for n in range(6))
    assert by_label["good-0"].reply is not None
    assert by_label["good-0"].reply["type"] == "transaction-response"
    assert by_label["invalid"].error is not None
    assert by_label["invalid"].error.status_code == 422
    assert any(
        d["field"].startswith("Bundle.entry[2].resource.effectiveDateTime")
        for d in by_label["invalid"].error.detail
    )
    assert by_label["dangling"].error is not None
    assert "dangling reference Patient/nobody-here" in by_label["dangling"].error.message
    assert by_label["broken"].error is not None
    assert "not valid JSON" in by_label["broken"].error.message
    # Six visits of four resources each; nothing of the refused bundles.
    assert _count(session) == 24
    # One write audit entry per person per stored bundle, none for the refused ones.
    assert _writes(session) == 6


def test_bulk_import_stores_what_one_request_per_bundle_stores(
    engine: Engine, session: Session, org: Organization
) -> None:
    bundles = [visit_bundle() for _ in range(5)]
    # A re-send of the first patient's visit: the store updates, it does not duplicate.
    bundles.append(json.loads(json.dumps(bundles[0])))
    factory = make_sessionmaker(engine)
    results = list(
        intake.import_bundles(factory, [intake.Item(_system(org), b) for b in bundles], workers=0)
    )
    assert all(r.ok for r in results)
    assert results[-1].reply is not None
    statuses = [e["response"]["status"] for e in results[-1].reply["entry"]]
    assert statuses[0] == "200 OK"  # the Patient, matched by its identifier
    rows = _count(session)
    stmt = select(FhirResource.resource_type, func.count()).group_by(FhirResource.resource_type)
    by_type = dict(session.execute(stmt).tuples().all())
    assert by_type["Patient"] == 5
    assert rows == sum(by_type.values())


def test_a_server_error_in_one_bundle_is_kept_to_that_bundle(
    engine: Engine, session: Session, org: Organization
) -> None:
    def explode(_session: Session, stored: StoredResource) -> None:
        if stored.resource.get("valueQuantity", {}).get("value") == 666:
            raise RuntimeError("a projector bug")

    bundles = [visit_bundle() for _ in range(4)]
    bundles[1] = visit_bundle(value=666)
    projectors.register("Observation", explode)
    try:
        results = list(
            intake.import_bundles(
                make_sessionmaker(engine),
                [intake.Item(_system(org), b, f"b{n}") for n, b in enumerate(bundles)],
                workers=0,
            )
        )
    finally:
        projectors.unregister("Observation", explode)
    assert [r.ok for r in results] == [True, False, True, True]
    error = results[1].error
    assert error is not None and error.status_code == 500
    assert "a projector bug" not in error.message  # no internals reach the sender
    assert _count(session) == 12
    assert _writes(session) == 3


def test_a_sender_that_may_not_write_is_refused_per_bundle(
    engine: Engine, session: Session, org: Organization
) -> None:
    doctor = Principal(subject="dr", name="医生", role=Role.doctor, organization_id=org.id)
    results = list(
        intake.import_bundles(
            make_sessionmaker(engine),
            [intake.Item(doctor, visit_bundle(), "d"), intake.Item(_system(org), visit_bundle())],
            workers=0,
        )
    )
    assert results[0].error is not None and results[0].error.status_code == 403
    assert results[1].ok
    assert _count(session) == 4


def test_batch_entries_stand_alone_in_a_bulk_import(
    engine: Engine, session: Session, org: Organization
) -> None:
    batch = visit_bundle()
    batch["type"] = "batch"
    batch["entry"][0]["resource"]["birthDate"] = "May 1980"  # this entry is invalid
    (result,) = intake.import_bundles(
        make_sessionmaker(engine), [intake.Item(_system(org), batch)], workers=0
    )
    assert result.ok and result.reply is not None
    statuses = [e["response"]["status"] for e in result.reply["entry"]]
    assert statuses[0] == "422"
    # The others pointed at the invalid Patient's urn:uuid, which dangles in a batch.
    assert all(s.startswith("4") for s in statuses[1:])
    assert _count(session) == 0


def test_errors_cross_process_boundaries_with_their_detail() -> None:
    import pickle

    try:
        records.parse_bundle(transaction(entry({"resourceType": "Observation"})), None)
    except Exception as exc:
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc)
        assert again.status_code == exc.status_code  # type: ignore[attr-defined]
        assert again.detail == exc.detail  # type: ignore[attr-defined]
        assert again.detail
    else:
        pytest.fail("an Observation without status and code is not valid FHIR")


def test_conditional_creates_and_re_sends_across_bundles_find_the_first(
    engine: Engine, session: Session, org: Organization
) -> None:
    """The same identifier in two bundles of one import: the second sees the first."""
    urn = "urn:uuid:7d9f2c1e-0000-4000-8000-000000000001"  # the same fullUrl in both
    pat = patient(id_number=new_idcard())
    first = transaction(entry(pat, urn), entry(observation(urn, ident="lab-1")))
    again = transaction(entry(pat, urn), entry(observation(urn, ident="lab-1", value=140)))
    for b in (first, again):
        for e in b["entry"]:
            ident = e["resource"]["identifier"][0]
            e["request"]["ifNoneExist"] = f"identifier={ident['system']}|{ident['value']}"
    other = visit_bundle()
    results = list(
        intake.import_bundles(
            make_sessionmaker(engine),
            [intake.Item(_system(org), b) for b in (first, other, again)],
            workers=0,
        )
    )
    assert all(r.ok for r in results)
    replies = [r.reply for r in results]
    assert replies[2] is not None and replies[0] is not None
    # The conditional creates of the third bundle found the first bundle's resources.
    assert [e["response"]["status"] for e in replies[2]["entry"]] == ["200 OK", "200 OK"]
    assert [e["fullUrl"] for e in replies[2]["entry"]] == [
        e["fullUrl"] for e in replies[0]["entry"]
    ]
    assert _count(session) == 2 + 4


def test_a_bulk_import_of_a_synthetic_region_matches_one_request_per_bundle(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    """Same store, same persons: the bulk path against the per-request path on SQLite."""
    out = tmp_path / "region"
    generate_demo(out, residents=150, days=4, seed=11, workers=1)
    registry = read_registry(out)
    raw = [(p.name.split(".")[0], data) for p, data in iter_demo_bundles(out)]

    def system(code: str, org_id: str) -> Principal:
        return Principal(
            subject=f"his-{code}",
            name=code,
            role=Role.system,
            organization_id=org_id,
            kind="client",
        )

    def snapshot(factory: sessionmaker[Session]) -> tuple[dict[str, int], set[frozenset[str]]]:
        with factory() as s:
            codes = dict(s.execute(select(Organization.id, Organization.code)).tuples().all())
            stmt = select(FhirResource.resource_type, func.count()).group_by(
                FhirResource.resource_type
            )
            counts = dict(s.execute(stmt).tuples().all())
            rows = s.execute(
                select(
                    FhirResource.id, FhirResource.source_org_id, FhirResource.identifier_key
                ).where(FhirResource.resource_type == "Patient")
            ).all()
            person_of = patients.persons_of_records(s, [r.id for r in rows])
            by_person: dict[str, set[str]] = {}
            for r in rows:
                by_person.setdefault(person_of[r.id], set()).add(
                    f"{codes[r.source_org_id]}:{r.identifier_key}"
                )
            return counts, {frozenset(v) for v in by_person.values()}

    # Reference: one transaction per bundle, on a SQLite file of its own.
    ref_url = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade(ref_url)
    ref_engine = make_engine(ref_url)
    ref = make_sessionmaker(ref_engine)
    with session_scope(ref) as s:
        ref_orgs = registry_service.load_registry(s, **registry).organization_ids
    for code, data in raw:
        with session_scope(ref) as s:
            records.ingest_bundle(s, system(code, ref_orgs[code]), json.loads(data))

    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        orgs = registry_service.load_registry(s, **registry).organization_ids
    items = [intake.Item(system(code, orgs[code]), data, code) for code, data in raw]
    results = list(intake.import_bundles(factory, items, workers=1, group_resources=300))
    assert all(r.ok for r in results), [r.error.message for r in results if r.error]

    bulk_counts, bulk_persons = snapshot(factory)
    ref_counts, ref_persons = snapshot(ref)
    ref_engine.dispose()
    assert sum(bulk_counts.values()) == sum(r.resources for r in results) > 100
    assert bulk_counts == ref_counts
    assert bulk_persons == ref_persons


def test_the_collector_runs_between_groups_during_an_import_and_as_before_after_it(
    engine: Engine, org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    before = gc.get_threshold()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    monkeypatch.setattr(intake, "COLLECT_EVERY", 8)  # a full collection every 2 groups
    full = gc.get_stats()[2]["collections"]
    seen = [
        (gc.isenabled(), gc.get_freeze_count() > 0, gc.get_stats()[2]["collections"] - full)
        for _ in intake.import_bundles(
            make_sessionmaker(engine),
            [intake.Item(_system(org), visit_bundle()) for _ in range(6)],
            workers=0,
            group_resources=4,  # a group per bundle (4 resources each)
        )
    ]
    # Off while bundles stream, what existed before left out, a collection every 2 groups.
    assert [(on, frozen) for on, frozen, _n in seen] == [(False, True)] * 6
    assert [n for _on, _frozen, n in seen] == [0, 0, 1, 1, 2, 2]
    assert gc.isenabled() and gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def _gc_state() -> tuple[bool, int, int]:
    import gc
    import os

    return gc.isenabled(), gc.get_threshold()[0], os.nice(0)


def test_a_worker_forked_from_the_writer_collects_and_yields_the_cpu() -> None:
    import gc
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    gc.disable()  # as in the writer it forks from
    try:
        with ProcessPoolExecutor(1, mp_context=context, initializer=intake._worker_start) as pool:
            enabled, threshold, nice = pool.submit(_gc_state).result()
    finally:
        gc.enable()
    assert enabled and threshold == intake.GC_THRESHOLD
    assert nice >= min(os.nice(0) + intake.WORKER_NICE, 19)


def test_a_bug_met_while_validating_costs_that_bundle_only(
    engine: Engine, session: Session, org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = records.parse_bundle

    def flaky(bundle: dict[str, object], source: str | None) -> records.ParsedBundle:
        if bundle.get("id") == "bad":
            raise RecursionError("maximum recursion depth exceeded")
        return real(bundle, source)

    monkeypatch.setattr(records, "parse_bundle", flaky)
    bad = {**visit_bundle(), "id": "bad"}
    results = list(
        intake.import_bundles(
            make_sessionmaker(engine),
            [intake.Item(_system(org), b) for b in (visit_bundle(), bad, visit_bundle())],
            workers=0,
        )
    )
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert error is not None and error.status_code == 500
    assert "recursion" not in error.message
    assert _count(session) == 8
