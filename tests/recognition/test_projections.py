"""The projector indexes lab Observations and imaging reports as they are stored."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.recognition.conftest import Zone, bundle, ingest, lab, new_idcard, report
from yilian.recognition.models import IndexedResult


def _rows(session: Session) -> list[IndexedResult]:
    return list(session.scalars(select(IndexedResult).order_by(IndexedResult.item_code)))


def test_lab_results_are_indexed_with_their_report_and_mark(session: Session, zone: Zone) -> None:
    out = ingest(
        session,
        zone.hospital,
        bundle(
            new_idcard(),
            lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-01T08:30:00+08:00"),
            lab("urn:uuid:p", "14771-0", 5.4, "mmol/L", "2026-11-01T08:30:00+08:00"),
            lab("urn:uuid:p", "99999-9", 1, "1", "2026-11-01T08:30:00+08:00"),
            report("urn:uuid:p", "58410-2", "2026-11-01T08:30:00+08:00",
                   results=["urn:uuid:r0", "urn:uuid:r1"]),
        ),
    )  # fmt: skip
    rows = _rows(session)
    assert [r.item_code for r in rows] == ["GLU", "HGB"]  # the unknown code is not indexed
    hgb = rows[1]
    assert (hgb.value, hgb.unit) == ("132", "g/L")
    assert hgb.source_org_id == zone.hospital.id
    assert hgb.effective.isoformat().startswith("2026-11-01T00:30:00")
    report_id = out["entry"][4]["response"]["location"].split("/")[1]
    assert hgb.report_id == report_id and hgb.hr_marked
    patient_id = out["entry"][0]["response"]["location"].split("/")[1]
    assert hgb.patient_id == patient_id and hgb.person_id is not None


def test_an_imaging_report_is_indexed_by_its_study_code(session: Session, zone: Zone) -> None:
    ingest(
        session,
        zone.hospital,
        bundle(
            new_idcard(),
            report("urn:uuid:p", "24627-2", "2026-11-02T10:00:00+08:00", category="RAD",
                   conclusion="两肺未见明显实质性病变。"),
        ),
    )  # fmt: skip
    (row,) = _rows(session)
    assert row.item_code == "CT_CHEST" and row.resource_type == "DiagnosticReport"
    assert row.value == "两肺未见明显实质性病变。" and row.report_id == row.resource_id


def test_a_result_withdrawn_as_entered_in_error_leaves_the_index(
    session: Session, zone: Zone
) -> None:
    card = new_idcard()
    ingest(session, zone.hospital, bundle(card, lab("urn:uuid:p", "718-7", 132, "g/L",
                                                      "2026-11-01", ident="obs-1")))  # fmt: skip
    assert len(_rows(session)) == 1
    ingest(session, zone.hospital, bundle(card, lab("urn:uuid:p", "718-7", 132, "g/L",
                                                      "2026-11-01", ident="obs-1",
                                                      status="entered-in-error")))  # fmt: skip
    assert _rows(session) == []


def test_a_corrected_value_replaces_the_indexed_one(session: Session, zone: Zone) -> None:
    card = new_idcard()
    ingest(session, zone.hospital, bundle(card, lab("urn:uuid:p", "718-7", 132, "g/L",
                                                      "2026-11-01", ident="obs-2"),
                                          report("urn:uuid:p", "58410-2", "2026-11-01",
                                                 results=["urn:uuid:r0"])))  # fmt: skip
    ingest(session, zone.hospital, bundle(card, lab("urn:uuid:p", "718-7", 128, "g/L",
                                                      "2026-11-01", ident="obs-2",
                                                      status="corrected")))  # fmt: skip
    (row,) = _rows(session)
    assert row.value == "128"
    assert row.report_id is not None and row.hr_marked  # the report's link survives
