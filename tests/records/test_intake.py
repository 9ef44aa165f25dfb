"""Bulk intake: bundles validated in worker processes, written in groups, each all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.records.conftest import entry, observation, transaction, visit_bundle
from yilian.audit.models import AuditEntry
from yilian.db import make_sessionmaker
from yilian.records import intake, projectors
from yilian.records import service as records
from yilian.records.models import FhirResource
from yilian.records.projectors import StoredResource
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role


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
