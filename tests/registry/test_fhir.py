"""FHIR views: every resource the registry produces validates as FHIR R4 (fhir.resources R4B)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization as FhirOrganization
from fhir.resources.R4B.practitioner import Practitioner as FhirPractitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole as FhirPractitionerRole

from yilian.registry import fhir
from yilian.registry.models import Organization, Practitioner, PractitionerRole, Region

from ..fixtures.auth import HeaderFactory

MODELS: dict[str, Any] = {
    "Organization": FhirOrganization,
    "Practitioner": FhirPractitioner,
    "PractitionerRole": FhirPractitionerRole,
    "Location": Location,
    "Bundle": Bundle,
    "OperationOutcome": OperationOutcome,
}


def _valid(body: dict[str, Any]) -> dict[str, Any]:
    MODELS[body["resourceType"]].model_validate(body)
    for entry in body.get("entry", []):
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    return body


@pytest.fixture
def world(
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_practitioner: Callable[..., Practitioner],
    make_role: Callable[..., PractitionerRole],
) -> dict[str, Any]:
    shanghai = make_region(name="上海市", level="province", code="310000")
    city = make_region(name="上海市市辖区", level="city", code="310100", parent=shanghai)
    changning = make_region(name="长宁区", level="district", code="310105", parent=city)
    hospital = make_org(
        region=changning,
        name="上海市同仁医院",
        short_name="同仁医院",
        code="91350100M000100Y43",  # a well-formed 统一社会信用代码
        type="tertiary_hospital",
        level="三级乙等",
        phone="021-52039999",
        address="长宁区仙霞路 1111 号",
        insurance_designated=True,
    )
    centre = make_org(region=changning, name="华阳街道社区卫生服务中心", code="HY001")
    station = make_org(
        region=changning,
        name="华阳街道第一社区卫生服务站",
        code="HY001-01",
        type="community_health_station",
        parent=centre,
    )
    doctor = make_practitioner(
        name="王芳", license_no="110310000012345", gender="female", title="主治医师"
    )
    primary = make_role(doctor, centre, "family_doctor", specialty="全科", is_primary=True)
    make_role(doctor, hospital, "specialist", specialty="心内科")
    return {
        "shanghai": shanghai,
        "changning": changning,
        "hospital": hospital,
        "centre": centre,
        "station": station,
        "doctor": doctor,
        "primary": primary,
    }


def _get(client: TestClient, headers: dict[str, str], url: str, **params: Any) -> Any:
    r = client.get(url, params=params, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    return _valid(r.json())


def test_organization_read(
    client: TestClient, auth_headers: HeaderFactory, world: dict[str, Any]
) -> None:
    hospital = _get(client, auth_headers("doctor"), f"/fhir/Organization/{world['hospital'].id}")
    assert hospital["name"] == "上海市同仁医院"
    assert hospital["alias"] == ["同仁医院"]
    assert hospital["active"] is True
    systems = {i["system"]: i["value"] for i in hospital["identifier"]}
    assert systems[fhir.SID_ORG_CODE] == "91350100M000100Y43"
    assert systems[fhir.SID_USCC] == "91350100M000100Y43"
    local = hospital["type"][0]["coding"][0]
    assert (local["system"], local["code"], local["display"]) == (
        fhir.CS_ORG_TYPE,
        "tertiary_hospital",
        "三级医院",
    )
    assert hospital["type"][1]["coding"][0]["code"] == "prov"
    assert {"text": "三级乙等"} in hospital["type"]
    assert hospital["telecom"] == [{"system": "phone", "value": "021-52039999", "use": "work"}]
    address = hospital["address"][0]
    assert address["text"] == "长宁区仙霞路 1111 号"
    assert (address["state"], address["city"], address["district"]) == (
        "上海市",
        "上海市市辖区",
        "长宁区",
    )
    station = _get(client, auth_headers(), f"/fhir/Organization/{world['station'].id}")
    assert station["partOf"] == {
        "reference": f"Organization/{world['centre'].id}",
        "display": "华阳街道社区卫生服务中心",
    }
    assert [i["system"] for i in station["identifier"]] == [fhir.SID_ORG_CODE]


def test_organization_search_bundle_with_paging_links(
    client: TestClient, auth_headers: HeaderFactory, world: dict[str, Any]
) -> None:
    h = auth_headers("system")
    bundle = _get(client, h, "/fhir/Organization", _count=2)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 3
    assert len(bundle["entry"]) == 2
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert "_offset=2" in links["next"]
    second = _get(client, h, "/fhir/Organization", _count=2, _offset=2)
    assert len(second["entry"]) == 1
    assert "next" not in {link["relation"] for link in second["link"]}
    first_ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert second["entry"][0]["resource"]["id"] not in first_ids
    assert bundle["entry"][0]["fullUrl"].startswith("http")
    assert bundle["entry"][0]["fullUrl"].endswith(
        f"/fhir/Organization/{bundle['entry'][0]['resource']['id']}"
    )

    def names(**params: Any) -> list[str]:
        return sorted(
            e["resource"]["name"] for e in _get(client, h, "/fhir/Organization", **params)["entry"]
        )

    assert names(name="同仁") == ["上海市同仁医院"]
    assert names(type="community_health_station") == ["华阳街道第一社区卫生服务站"]
    assert names(type=f"{fhir.CS_ORG_TYPE}|tertiary_hospital") == ["上海市同仁医院"]
    assert names(type="http://other.example/cs|tertiary_hospital") == []
    assert names(type="no_such_type") == []
    assert names(partof=f"Organization/{world['centre'].id}") == ["华阳街道第一社区卫生服务站"]
    assert names(partof=f"Location/{world['centre'].id}") == []
    assert names(identifier=f"{fhir.SID_USCC}|91350100M000100Y43") == ["上海市同仁医院"]
    assert names(identifier="HY001") == ["华阳街道社区卫生服务中心"]
    only_total = _get(client, h, "/fhir/Organization", _count=0)
    assert only_total["total"] == 3 and only_total["entry"] == []


def test_practitioner_and_roles(
    client: TestClient, auth_headers: HeaderFactory, world: dict[str, Any]
) -> None:
    h = auth_headers("doctor")
    doc = _get(client, h, f"/fhir/Practitioner/{world['doctor'].id}")
    assert doc["name"] == [{"use": "official", "text": "王芳"}]
    assert doc["gender"] == "female"
    assert doc["identifier"][0] == {
        "use": "official",
        "system": fhir.SID_LICENSE,
        "value": "110310000012345",
    }
    assert doc["qualification"][0]["code"]["text"] == "主治医师"
    found = _get(client, h, "/fhir/Practitioner", name="王")
    assert [e["resource"]["id"] for e in found["entry"]] == [world["doctor"].id]
    assert _get(client, h, "/fhir/Practitioner", identifier="nope")["total"] == 0

    role = _get(client, h, f"/fhir/PractitionerRole/{world['primary'].id}")
    assert role["practitioner"] == {
        "reference": f"Practitioner/{world['doctor'].id}",
        "display": "王芳",
    }
    assert role["organization"]["display"] == "华阳街道社区卫生服务中心"
    assert role["code"][0]["coding"][0]["code"] == "family_doctor"
    assert role["code"][0]["text"] == "家庭医生"
    assert role["specialty"] == [{"text": "全科"}]
    assert role["extension"] == [{"url": fhir.EXT_PRIMARY_SITE, "valueBoolean": True}]
    roles = _get(
        client, h, "/fhir/PractitionerRole", practitioner=f"Practitioner/{world['doctor'].id}"
    )
    assert roles["total"] == 2  # 多点执业: two organisations
    at_hospital = _get(client, h, "/fhir/PractitionerRole", organization=world["hospital"].id)
    assert [e["resource"]["specialty"][0]["text"] for e in at_hospital["entry"]] == ["心内科"]
    assert _get(client, h, "/fhir/PractitionerRole", role="nurse")["total"] == 0


def test_regions_as_locations(
    client: TestClient, auth_headers: HeaderFactory, world: dict[str, Any]
) -> None:
    h = auth_headers()
    loc = _get(client, h, f"/fhir/Location/{world['changning'].id}")
    assert loc["name"] == "长宁区"
    assert loc["mode"] == "instance"
    assert loc["physicalType"]["coding"][0]["code"] == "area"
    assert loc["type"][0]["coding"][0] == {
        "system": fhir.CS_REGION_LEVEL,
        "code": "district",
        "display": "区县级",
    }
    assert loc["identifier"][0]["value"] == "310105"
    assert loc["partOf"]["display"] == "上海市市辖区"
    top = _get(client, h, f"/fhir/Location/{world['shanghai'].id}")
    assert "partOf" not in top
    districts = _get(client, h, "/fhir/Location", type="district")
    assert [e["resource"]["name"] for e in districts["entry"]] == ["长宁区"]
    assert (
        _get(client, h, "/fhir/Location", identifier=f"{fhir.SID_REGION_CODE}|310000")["total"] == 1
    )
    children = _get(client, h, "/fhir/Location", partof=f"Location/{world['shanghai'].id}")
    assert [e["resource"]["name"] for e in children["entry"]] == ["上海市市辖区"]


@pytest.mark.parametrize("path", ["Organization", "Practitioner", "PractitionerRole", "Location"])
def test_unknown_id_is_an_operation_outcome_404(
    client: TestClient, auth_headers: HeaderFactory, path: str
) -> None:
    r = client.get(f"/fhir/{path}/does-not-exist", headers=auth_headers())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/fhir+json")
    outcome = _valid(r.json())
    assert outcome["issue"][0]["code"] == "not-found"


def test_fhir_needs_a_principal_and_validates_parameters(
    client: TestClient, auth_headers: HeaderFactory
) -> None:
    r = client.get("/fhir/Organization")
    assert r.status_code == 401
    assert _valid(r.json())["issue"][0]["code"] == "login"
    r = client.get("/fhir/Organization", params={"_count": 501}, headers=auth_headers())
    assert r.status_code == 422
    assert _valid(r.json())["issue"][0]["expression"] == ["query._count"]
    r = client.get("/fhir/Organization/bad%20id", headers=auth_headers())
    assert r.status_code == 422
