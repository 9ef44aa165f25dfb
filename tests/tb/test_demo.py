"""The resistance demo: one clear line without a catalogue; strains of four provinces with it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.records.conftest import new_idcard, patient, visit_bundle
from tests.tb.conftest import DATA
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry import service as registry
from yilian.security.principal import Principal, Role
from yilian.synth.geography import registry_payload
from yilian.tb import care_service, demo, service
from yilian.tb.care_schemas import CaseCreate
from yilian.tb.catalogue import CatalogueFiles
from yilian.tb.config import get_tb_settings
from yilian.tb.models import TbCatalogue, TbClusterAlert, TbSample


def _rr_case_in_shanghai(session: Session) -> str:
    """A person with a Patient record and an RR-TB case at a 长宁 community centre."""
    org = registry.get_organization_by_code(session, "310105C001")
    assert org is not None
    his = Principal(subject="his", name="HIS", role=Role.system, organization_id=org.id)
    out = records.ingest_bundle(session, his, visit_bundle(patient(id_number=new_idcard())))
    record = out["entry"][0]["response"]["location"].split("/")[1]
    person = patients.person_of_record(session, record)
    assert person
    care_service.create_case(
        session,
        his,
        CaseCreate(
            person_id=person,
            organization_id=org.id,
            notification_date=care_service.today(),
            rr_tb=True,
        ),
    )
    return person


def test_without_a_catalogue_the_demo_says_how_to_import_one(session: Session) -> None:
    registry.load_registry(session, **registry_payload())
    line = demo.seed_demo(session)
    assert line.startswith("tb resistance: skipped") and "yilian tb catalogue import" in line
    assert session.scalar(select(func.count()).select_from(TbSample)) == 0


def test_with_a_catalogue_it_seeds_four_provinces_and_one_cross_border_cluster(
    session: Session, catalogue_files: CatalogueFiles
) -> None:
    registry.load_registry(session, **registry_payload())
    person = _rr_case_in_shanghai(session)
    service.store_catalogue(session, catalogue_files)
    line = demo.seed_demo(session)
    assert line.startswith("tb resistance: 10 strains of 4 provinces"), line
    assert "2 clusters (1 cross-border)" in line and "1 not clusterable" in line
    samples = {s.label[len(demo.PREFIX) :]: s for s in session.scalars(select(TbSample))}
    assert {s.province for s in samples.values()} == {"安徽省", "江苏省", "浙江省", "上海市"}
    assert samples["AH-001"].drtype == "MDR-TB" and samples["AH-002"].drtype == "pre-XDR-TB"
    assert samples["ZJ-001"].drtype == "sensitive" and samples["ZJ-002"].drtype == "HR-TB"
    assert samples["ZJ-003"].cluster_exclusion == service.NAMES_ONLY
    # 安徽's strain was sequenced by the regional platform in 上海, filed in 安徽's tenant.
    assert samples["AH-001"].organization_id == samples["SH-001"].organization_id
    # The RR strain of 上海 went into the RR-TB patient's record as a DiagnosticReport.
    assert samples["SH-001"].person_id == person and samples["SH-001"].diagnostic_report_id
    view = service.cluster_view(
        session, Principal(subject="t", name="t", role=Role.admin, organization_id=None)
    )
    chain, pair = view["clusters"]
    assert chain["provinces"] == ["上海市", "安徽省", "江苏省"] and chain["recent"]
    assert pair["provinces"] == ["浙江省"] and not pair["recent"]
    assert [e["distance"] for e in pair["edges"]] == [8]
    # The CDCs of 上海 (长宁, 青浦) and 江苏 (吴江) are alerted; 安徽 has no CDC in the demo
    # registry, so its alert waits unaddressed.
    alerts = list(session.scalars(select(TbClusterAlert)))
    assert sorted(a.province for a in alerts) == ["上海市", "上海市", "安徽省", "江苏省"]
    assert [a.organization_id for a in alerts if a.province == "安徽省"] == [None]
    assert demo.seed_demo(session) == "tb resistance: demo strains already present"


def test_the_demo_imports_the_catalogue_from_the_configured_directory(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not DATA.exists():
        pytest.skip(f"WHO catalogue files not found at {DATA}")
    monkeypatch.setenv("YILIAN_TB_CATALOGUE_DIR", str(DATA))
    get_tb_settings.cache_clear()
    try:
        registry.load_registry(session, **registry_payload())
        line = demo.seed_demo(session)
    finally:
        get_tb_settings.cache_clear()
    assert "catalogue WHO-UCN-GTB-PCI-2023.5" in line, line
    assert session.scalar(select(func.count()).select_from(TbCatalogue)) == 1
