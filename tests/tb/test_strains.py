"""Sequenced strains by province tenant, samples that cannot be clustered, the PE/PPE mask.

Both databases, through the API. Catalogue rows relied on: rpoB p.Ser450Leu (Group 1,
rifampicin; coordinates VCF 761155 C T) and katG p.Ser315Thr (Group 1, isoniazid;
2155168 C G) in tbdb_mutations_6aed5d9_2024-01-30.csv / WHO2023_Genomic_coordinates.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.tb.conftest import vcf
from yilian.audit.models import AuditEntry
from yilian.tb import service
from yilian.tb.catalogue import CatalogueFiles
from yilian.tb.config import get_tb_settings
from yilian.tb.models import TbSample, TbSnpLink

Headers = Callable[..., dict[str, str]]
BACKBONE = ["3000000 N A", "3000100 N G", "3000200 N C"]


@pytest.fixture
def ids(
    session: Session,
    catalogue_files: CatalogueFiles,
    make_region: Callable[..., Any],
    make_org: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("YILIAN_TB_REGION_ORGANIZATIONS", '["YRD-TB-CENTRE"]')
    get_tb_settings.cache_clear()
    service.store_catalogue(session, catalogue_files)
    sh = make_region(name="上海市", code="310000", level="province")
    js = make_region(name="江苏省", code="320000", level="province")
    ah = make_region(name="安徽省", code="340000", level="province")
    out = {
        "lab_sh": make_org(name="上海市肺科医院", type="tertiary_hospital", region=sh).id,
        "lab_js": make_org(name="苏州市第五人民医院", type="tertiary_hospital", region=js).id,
        "cdc_sh": make_org(name="上海市疾控中心", type="cdc", region=sh).id,
        "cdc_js": make_org(name="江苏省疾控中心", type="cdc", region=js).id,
        "cdc_ah": make_org(name="安徽省疾控中心", type="cdc", region=ah).id,
        "centre": make_org(
            name="长三角区域结核病协同防控中心", type="cdc", region=sh, code="YRD-TB-CENTRE"
        ).id,
    }
    session.commit()
    yield out
    get_tb_settings.cache_clear()


def _file(client: TestClient, h: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/tb/samples", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_each_province_sees_its_strains_and_the_region_sees_all(
    client: TestClient, auth_headers: Headers, ids: dict[str, str], session: Session
) -> None:
    spec_sh = auth_headers("specialist", organization_id=ids["lab_sh"])
    centre = auth_headers("cdc", organization_id=ids["centre"])
    sh = _file(client, spec_sh, {"label": "SH-1", "vcf": vcf("761155 C T", *BACKBONE)})
    sid = sh["sample"]["id"]
    # 上海's lab cannot file a strain into 安徽's tenant; the region's centre can.
    r = client.post(
        "/api/v1/tb/samples",
        json={"label": "AH-1", "province": "340000", "vcf": vcf(*BACKBONE, "3000300 N T")},
        headers=spec_sh,
    )
    assert r.status_code == 403 and "tenant" in r.json()["error"]
    session.rollback()  # the refusal is audited by security, kept on rollback
    refused = session.scalars(
        select(AuditEntry).where(
            AuditEntry.resource_type == "TbSample", AuditEntry.action == "access_denied"
        )
    ).all()
    assert [json.loads(e.detail or "{}")["requested_action"] for e in refused] == ["create"]
    ah = _file(
        client,
        centre,
        {"label": "AH-1", "organization_id": ids["lab_sh"], "province": "340000",
         "vcf": vcf(*BACKBONE, "3000300 N T")},
    )  # fmt: skip
    assert ah["sample"]["province"] == "安徽省"
    cdc_ah = auth_headers("cdc", organization_id=ids["cdc_ah"])
    r = client.get(f"/api/v1/tb/samples/{sid}/report", headers=cdc_ah)
    assert r.status_code == 403 and "tenant" in r.json()["error"]
    assert [s["label"] for s in client.get("/api/v1/tb/samples", headers=cdc_ah).json()] == ["AH-1"]
    listed = client.get("/api/v1/tb/samples", headers=centre).json()
    assert sorted(s["label"] for s in listed) == ["AH-1", "SH-1"]
    assert client.get(f"/api/v1/tb/samples/{sid}/report", headers=centre).status_code == 200
    # The cross-border cluster: each province sees its own strain by label and the
    # other's only by province; a province outside it (江苏) does not see it at all.
    cdc_sh = auth_headers("cdc", organization_id=ids["cdc_sh"])
    for who, own, other in ((cdc_ah, "AH-1", "上海市"), (cdc_sh, "SH-1", "安徽省")):
        (c,) = client.get("/api/v1/tb/clusters", headers=who).json()["clusters"]
        assert c["cross_border"] and c["recent"]
        assert [m["label"] for m in c["members"] if m["own"]] == [own]
        (hidden,) = [m for m in c["members"] if not m["own"]]
        assert hidden["label"] is None and hidden["province"] == other
    cdc_js = auth_headers("cdc", organization_id=ids["cdc_js"])
    assert client.get("/api/v1/tb/clusters", headers=cdc_js).json()["clusters"] == []
    (c,) = client.get("/api/v1/tb/clusters", headers=centre).json()["clusters"]
    assert all(m["own"] for m in c["members"])
    page = client.get("/ui/tb/clusters", cookies={"yilian_token": cdc_ah["Authorization"][7:]})
    assert page.status_code == 200 and 'data-testid="tb-other-member"' in page.text
    assert "SH-1" not in page.text


def test_a_names_only_sample_is_listed_as_not_clusterable(
    client: TestClient, session: Session, auth_headers: Headers, ids: dict[str, str]
) -> None:
    spec = auth_headers("specialist", organization_id=ids["lab_sh"])
    _file(client, spec, {"label": "SH-1", "vcf": vcf("761155 C T", *BACKBONE)})
    _file(client, spec, {"label": "SH-2", "vcf": vcf("761155 C T", *BACKBONE)})
    # A nucleotide name is placed on H37Rv and graded like a call (rpoB c.1349C>T is
    # p.Ser450Leu); a protein name has no position. Neither is a genome-wide call set.
    body = {"label": "SH-N", "variants": ["rpoB_c.1349C>T", "katG_p.Ser315Thr"]}
    names = _file(client, spec, body)
    report = names["report"]
    assert report["drtype"] == "MDR-TB"
    (rif,) = [d for d in report["drugs"] if d["drug"] == "rifampicin"]
    assert rif["result"] == "R" and rif["evidence"][0]["pos"] == 761155
    assert rif["evidence"][0]["change"] == "p.Ser450Leu"
    (inh,) = [d for d in report["drugs"] if d["drug"] == "isoniazid"]
    assert inh["result"] == "R" and inh["evidence"][0]["pos"] is None
    view = client.get("/api/v1/tb/clusters", headers=spec).json()
    (cluster,) = view["clusters"]
    assert sorted(m["label"] for m in cluster["members"]) == ["SH-1", "SH-2"]
    (excluded,) = view["not_clusterable"]
    assert excluded["label"] == "SH-N" and excluded["reason"] == "variant_names"
    assert "无全基因组位点" in excluded["reason_zh"]
    sample = session.scalars(select(TbSample).where(TbSample.label == "SH-N")).one()
    ends = (TbSnpLink.sample_a == sample.id) | (TbSnpLink.sample_b == sample.id)
    assert session.scalars(select(TbSnpLink).where(ends)).all() == []
    page = client.get("/ui/tb/clusters", cookies={"yilian_token": spec["Authorization"][7:]})
    assert 'data-testid="tb-not-clusterable-row"' in page.text and "SH-N" in page.text
    # A name whose REF is not H37Rv's is refused, naming the base.
    r = client.post(
        "/api/v1/tb/samples", json={"label": "bad", "variants": ["rpoB_c.1349G>T"]}, headers=spec
    )
    assert r.status_code == 422 and "H37Rv has C at 761155" in r.json()["error"]


def test_a_difference_inside_ppe35_does_not_separate_two_strains(
    client: TestClient, auth_headers: Headers, ids: dict[str, str]
) -> None:
    """PPE35 (gene_locations.csv: 2167649–2170612) is masked by default: two strains that
    differ only there are 0 SNPs apart; one that differs just outside is 1 apart."""
    spec = auth_headers("specialist", organization_id=ids["lab_sh"])
    _file(client, spec, {"label": "A", "vcf": vcf(*BACKBONE)})
    _file(client, spec, {"label": "B", "vcf": vcf(*BACKBONE, "2168000 N G", "2170000 N T")})
    _file(client, spec, {"label": "C", "vcf": vcf(*BACKBONE, "2171000 N G")})
    view = client.get("/api/v1/tb/clusters?threshold=0", headers=spec).json()
    (c,) = view["clusters"]
    assert sorted(m["label"] for m in c["members"]) == ["A", "B"]
    assert [e["distance"] for e in c["edges"]] == [0]


def test_a_gzipped_vcf_upload_is_read_and_a_broken_one_refused(
    client: TestClient, session: Session, auth_headers: Headers, ids: dict[str, str]
) -> None:
    spec = auth_headers("specialist", organization_id=ids["lab_sh"])
    packed = gzip.compress(vcf("761155 C T", *BACKBONE).encode())
    r = client.post(
        "/api/v1/tb/samples",
        data={"label": "GZ-1"},
        files={"vcf": ("gz1.vcf.gz", packed)},
        headers=spec,
    )
    assert r.status_code == 201, r.text
    assert r.json()["report"]["drtype"] == "RR-TB"
    r = client.post(
        "/api/v1/tb/samples",
        data={"label": "GZ-2"},
        files={"vcf": ("gz2.vcf.gz", packed[: len(packed) // 2])},
        headers=spec,
    )
    assert r.status_code == 422 and "cannot be decompressed" in r.json()["error"]
    labels = set(session.scalars(select(TbSample.label)))
    assert labels == {"GZ-1"}
