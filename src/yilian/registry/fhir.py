"""FHIR R4 views of the registry, as plain dicts: Organization, Practitioner,
PractitionerRole, and Location for regions.

Names and displays are Chinese (``language`` is zh-CN); codes are the registry's
English enum values in local CodeSystems, with HL7 codes beside them where one fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from yilian.kit.fhir import NAMESPACE
from yilian.registry.models import Organization, Practitioner, PractitionerRole, Region
from yilian.registry.rules import (
    ORGANIZATION_TYPE_LABELS,
    PRACTITIONER_ROLE_LABELS,
    REGION_LEVEL_LABELS,
    OrganizationType,
    RegionLevel,
    is_uscc,
)

BASE = NAMESPACE
SID_ORG_CODE = f"{BASE}/sid/org-code"  # the platform's local institution code
SID_USCC = f"{BASE}/sid/uscc"  # 统一社会信用代码 (GB 32100)
SID_REGION_CODE = f"{BASE}/sid/admin-division"  # 行政区划代码 (GB/T 2260)
SID_LICENSE = f"{BASE}/sid/practitioner-license"  # 执业证书编码
CS_ORG_TYPE = f"{BASE}/CodeSystem/organization-type"
CS_REGION_LEVEL = f"{BASE}/CodeSystem/region-level"
CS_PRACTITIONER_ROLE = f"{BASE}/CodeSystem/practitioner-role"
EXT_INSURANCE_DESIGNATED = f"{BASE}/StructureDefinition/insurance-designated"  # 医保定点
EXT_PRIMARY_SITE = f"{BASE}/StructureDefinition/primary-practice-site"  # 第一执业地点
HL7_ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
HL7_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
LANGUAGE = "zh-CN"

_HL7_ORG_TYPE = {
    OrganizationType.health_commission: ("govt", "Government"),
    OrganizationType.insurance_bureau: ("pay", "Payer"),
    OrganizationType.other: ("other", "Other"),
}
_PROVIDER = ("prov", "Healthcare Provider")

# Which address part a region of each level fills.
_ADDRESS_PART = {
    RegionLevel.province: "state",
    RegionLevel.city: "city",
    RegionLevel.district: "district",
}


class NoMatch(Exception):
    """A search parameter that no resource can satisfy (a foreign system, an unknown code)."""


E = TypeVar("E", bound=StrEnum)


def token(value: str, systems: Sequence[str]) -> str:
    """The code of a ``[system|]code`` token; NoMatch when the system is not one of ``systems``."""
    if "|" not in value:
        return value
    system, code = value.split("|", 1)
    if system and system not in systems:
        raise NoMatch(value)
    return code


def enum_token(value: str, enum: type[E], system: str) -> E:
    code = token(value, [system])
    try:
        return enum(code)
    except ValueError as exc:
        raise NoMatch(value) from exc


def reference_id(value: str, resource_type: str) -> str:
    """The id in ``Type/id``, an absolute URL ending so, or a bare id."""
    parts = value.rstrip("/").split("/")
    if len(parts) == 1:
        return parts[0]
    if parts[-2] != resource_type:
        raise NoMatch(value)
    return parts[-1]


def _instant(value: datetime) -> str:
    # SQLite hands back naive datetimes; they were written in UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _meta(updated_at: datetime) -> dict[str, Any]:
    return {"lastUpdated": _instant(updated_at)}


def _ref(resource_type: str, id_: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"{resource_type}/{id_}"}
    if display:
        ref["display"] = display
    return ref


def _address(org: Organization, regions: Mapping[str, Region]) -> dict[str, Any] | None:
    address: dict[str, Any] = {}
    region = regions.get(org.region_id)
    while region is not None:
        part = _ADDRESS_PART.get(region.level)
        if part and part not in address:
            address[part] = region.name
        region = regions.get(region.parent_id) if region.parent_id else None
    if org.address:
        address["text"] = org.address
    if not address:
        return None
    return {"use": "work", **address, "country": "CN"}


def organization(org: Organization, regions: Mapping[str, Region] | None = None) -> dict[str, Any]:
    """Organization; ``regions`` (the org's region and its ancestors) fill the address parts.

    ``org.parent`` must be loaded when the organisation has a parent.
    """
    label = ORGANIZATION_TYPE_LABELS[org.type]
    hl7_code, hl7_display = _HL7_ORG_TYPE.get(org.type, _PROVIDER)
    types: list[dict[str, Any]] = [
        {
            "coding": [{"system": CS_ORG_TYPE, "code": org.type.value, "display": label}],
            "text": label,
        },
        {"coding": [{"system": HL7_ORG_TYPE, "code": hl7_code, "display": hl7_display}]},
    ]
    if org.level:
        types.append({"text": org.level})
    identifiers = [{"use": "official", "system": SID_ORG_CODE, "value": org.code}]
    if is_uscc(org.code):
        identifiers.append({"use": "official", "system": SID_USCC, "value": org.code})
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": org.id,
        "meta": _meta(org.updated_at),
        "language": LANGUAGE,
        "extension": [{"url": EXT_INSURANCE_DESIGNATED, "valueBoolean": org.insurance_designated}],
        "identifier": identifiers,
        "active": org.active,
        "type": types,
        "name": org.name,
    }
    if org.short_name:
        resource["alias"] = [org.short_name]
    if org.phone:
        resource["telecom"] = [{"system": "phone", "value": org.phone, "use": "work"}]
    address = _address(org, regions or {})
    if address:
        resource["address"] = [address]
    if org.parent_id:
        parent = org.parent
        resource["partOf"] = _ref("Organization", org.parent_id, parent.name if parent else None)
    return resource


def practitioner(p: Practitioner) -> dict[str, Any]:
    """Practitioner; the 职称 is its qualification, the workplaces are PractitionerRoles."""
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": p.id,
        "meta": _meta(p.updated_at),
        "language": LANGUAGE,
        "active": p.active,
        "name": [{"use": "official", "text": p.name}],
    }
    if p.license_no:
        resource["identifier"] = [{"use": "official", "system": SID_LICENSE, "value": p.license_no}]
    if p.gender:
        resource["gender"] = p.gender.value
    if p.title:
        resource["qualification"] = [{"code": {"text": p.title}}]
    return resource


def practitioner_role(role: PractitionerRole) -> dict[str, Any]:
    """PractitionerRole; ``role.practitioner`` and ``role.organization`` must be loaded."""
    label = PRACTITIONER_ROLE_LABELS[role.role]
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": role.id,
        "meta": _meta(role.updated_at),
        "language": LANGUAGE,
        "active": role.active,
        "practitioner": _ref("Practitioner", role.practitioner_id, role.practitioner.name),
        "organization": _ref("Organization", role.organization_id, role.organization.name),
        "code": [
            {
                "coding": [
                    {"system": CS_PRACTITIONER_ROLE, "code": role.role.value, "display": label}
                ],
                "text": label,
            }
        ],
    }
    if role.is_primary:
        resource["extension"] = [{"url": EXT_PRIMARY_SITE, "valueBoolean": True}]
    if role.specialty:
        resource["specialty"] = [{"text": role.specialty}]
    return resource


def region_location(region: Region, parent: Region | None = None) -> dict[str, Any]:
    """Location for a region: one specific area (mode ``instance``), partOf its parent region."""
    label = REGION_LEVEL_LABELS[region.level]
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": region.id,
        "meta": _meta(region.updated_at),
        "language": LANGUAGE,
        "identifier": [{"use": "official", "system": SID_REGION_CODE, "value": region.code}],
        "status": "active",
        "name": region.name,
        "mode": "instance",
        "type": [
            {
                "coding": [
                    {"system": CS_REGION_LEVEL, "code": region.level.value, "display": label}
                ],
                "text": label,
            }
        ],
        "physicalType": {
            "coding": [{"system": HL7_PHYSICAL_TYPE, "code": "area", "display": "Area"}]
        },
    }
    if region.parent_id:
        resource["partOf"] = _ref("Location", region.parent_id, parent.name if parent else None)
    return resource
