"""The tb API on both databases: catalogue import, samples, reports, clusters, alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.tb.conftest import DATA, vcf
from yilian.tb import service
from yilian.tb.catalogue import CatalogueFiles
from yilian.tb.models import TbClusterAlert, TbSample


def _setup(
    session: Session,
    files: CatalogueFiles,
    make_region: Callable[..., Any],
    make_org: Callable[..., Any],
) -> dict[str, Any]:
    service.store_catalogue(session, files)
    sh = make_region(name="上海市", code="310000", level="province")
    js = make_region(name="江苏省", code="320000", level="province")
    lab_sh = make_org(name="上海市肺科医院", type="tertiary_hospital", region=sh)
    lab_js = make_org(name="苏州市第五人民医院", type="tertiary_hospital", region=js)
    cdc_sh = make_org(name="上海市疾控中心", type="cdc", region=sh)
    cdc_js = make_org(name="江苏省疾控中心", type="cdc", region=js)
    session.commit()
    return {"lab_sh": lab_sh.id, "lab_js": lab_js.id, "cdc_sh": cdc_sh.id, "cdc_js": cdc_js.id}


def test_import_and_predict_and_cross_border_alert(
    session: Session,
    client: TestClient,
    auth_headers: Callable[..., dict[str, str]],
    catalogue_files: CatalogueFiles,
    make_region: Callable[..., Any],
    make_org: Callable[..., Any],
) -> None:
    ids = _setup(session, catalogue_files, make_region, make_org)
    cdc = auth_headers("cdc", organization_id=ids["cdc_sh"])
    assert (
        client.get("/api/v1/tb/catalogue", headers=cdc).json()["version"]
        == "WHO-UCN-GTB-PCI-2023.5"
    )
    spec = auth_headers("specialist", organization_id=ids["lab_sh"])
    body = {
        "label": "SH-001",
        "vcf": vcf("761155 C T", "3000000 N A", "3000100 N G"),
        "collection_date": "2024-03-01",
    }
    r = client.post("/api/v1/tb/samples", json=body, headers=spec)
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert (
        report["drtype"] == "RR-TB" and report["catalogue"]["version"] == "WHO-UCN-GTB-PCI-2023.5"
    )
    sid = r.json()["sample"]["id"]
    assert client.get(f"/api/v1/tb/samples/{sid}/report", headers=cdc).json()["drtype"] == "RR-TB"
    # A Jiangsu strain 1 SNP away: a new cross-border cluster alerts both provinces' CDCs.
    spec_js = auth_headers("specialist", organization_id=ids["lab_js"])
    files = {
        "vcf": ("js.vcf", vcf("761155 C T", "3000000 N A", "3000100 N G", "3000200 N C").encode())
    }
    r2 = client.post("/api/v1/tb/samples", data={"label": "JS-001"}, files=files, headers=spec_js)
    assert r2.status_code == 201, r2.text
    view = client.get("/api/v1/tb/clusters", headers=cdc).json()
    (cluster,) = view["clusters"]
    assert cluster["cross_border"] and cluster["recent"] and cluster["size"] == 2
    alerts = client.get("/api/v1/tb/alerts", headers=cdc).json()
    assert [a["organization_id"] for a in alerts] == [ids["cdc_sh"]]
    js_alerts = client.get(
        "/api/v1/tb/alerts", headers=auth_headers("cdc", organization_id=ids["cdc_js"])
    ).json()
    assert len(js_alerts) == 1 and sorted(js_alerts[0]["provinces"]) == ["上海市", "江苏省"]
    page = client.get(
        f"/ui/tb/samples/{sid}",
        headers=cdc,
        cookies={"yilian_token": cdc["Authorization"].split()[1]},
    )
    assert (
        page.status_code == 200 and "RR-TB" in page.text and "WHO-UCN-GTB-PCI-2023.5" in page.text
    )
    cpage = client.get("/ui/tb/clusters", cookies={"yilian_token": cdc["Authorization"].split()[1]})
    assert cpage.status_code == 200 and 'data-testid="tb-cross-border"' in cpage.text


def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    session: Session,
    client: TestClient,
    auth_headers: Callable[..., dict[str, str]],
    catalogue_files: CatalogueFiles,
    make_region: Callable[..., Any],
    make_org: Callable[..., Any],
) -> None:
    ids = _setup(session, catalogue_files, make_region, make_org)
    spec = auth_headers("specialist", organization_id=ids["lab_sh"])
    cases = [
        (vcf("761155 C T").replace("NC_000962.3\t", "chr1\t"), "not H37Rv"),
        (vcf("761155 C T").replace("\tC\tT\t", "\tC\n"), "columns"),
        (vcf(), "no variant records"),
    ]
    for i, (text, needle) in enumerate(cases):
        r = client.post("/api/v1/tb/samples", json={"label": f"bad-{i}", "vcf": text}, headers=spec)
        assert r.status_code == 422 and needle in r.json()["error"], r.text
    r = client.post("/api/v1/tb/samples", json={"label": "x", "variants": ["S450L"]}, headers=spec)
    assert r.status_code == 422 and "gene_change" in r.json()["error"]
    r = client.post("/api/v1/tb/samples", json={"label": "x"}, headers=spec)
    assert r.status_code == 422
    assert session.scalar(select(func.count()).select_from(TbSample)) == 0
    assert session.scalar(select(func.count()).select_from(TbClusterAlert)) == 0
    r = client.post(
        "/api/v1/tb/samples",
        json={"label": "x", "variants": ["rpoB_p.Ser450Leu"]},
        headers=auth_headers("insurer"),
    )
    assert r.status_code == 403


def test_wrong_catalogue_version_is_refused(session: Session, tmp_path: Any) -> None:
    import pytest

    from yilian.kit.errors import Unprocessable

    rules = (
        (DATA / "oxfordmmm_expert-rules.csv")
        .read_text()
        .replace("WHO-UCN-GTB-PCI-2023.5", "WHO-UCN-GTB-PCI-2021.7")
    )
    (tmp_path / "rules.csv").write_text(rules)
    for name in (
        "gene_locations.csv",
        "tbdb_mutations_6aed5d9_2024-01-30.csv",
        "WHO2023_Genomic_coordinates_7May2024.vcf.gz",
    ):
        (tmp_path / name).symlink_to(DATA / name)
    with pytest.raises(Unprocessable, match=r"2021\.7"):
        service.import_catalogue(session, [tmp_path])
