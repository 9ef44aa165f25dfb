"""Vocabularies of the registry and the pure checks that keep its hierarchies sound."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class RegionLevel(StrEnum):
    """行政区划层级, from the top down."""

    province = "province"
    city = "city"
    district = "district"
    street = "street"


REGION_LEVEL_LABELS = {
    RegionLevel.province: "省级",
    RegionLevel.city: "地市级",
    RegionLevel.district: "区县级",
    RegionLevel.street: "街道/乡镇",
}

_LEVEL_DEPTH = {level: depth for depth, level in enumerate(RegionLevel)}


def region_parent_allowed(child: RegionLevel, parent: RegionLevel) -> bool:
    """A region sits strictly below its parent (a district in a city, never a city in a district).

    Because every step down the tree goes strictly deeper, a region can never
    become its own ancestor: the level rule is also the cycle check.
    """
    return _LEVEL_DEPTH[parent] < _LEVEL_DEPTH[child]


class OrganizationType(StrEnum):
    """医疗卫生机构类别 as the regional platform distinguishes them."""

    tertiary_hospital = "tertiary_hospital"
    secondary_hospital = "secondary_hospital"
    primary_hospital = "primary_hospital"
    community_health_center = "community_health_center"
    community_health_subcenter = "community_health_subcenter"
    community_health_station = "community_health_station"
    cdc = "cdc"
    maternal_child_health = "maternal_child_health"
    mental_health_center = "mental_health_center"
    tcm_hospital = "tcm_hospital"
    integrated_medicine_hospital = "integrated_medicine_hospital"
    nursing_home = "nursing_home"
    rehabilitation_hospital = "rehabilitation_hospital"
    internet_hospital = "internet_hospital"
    independent_laboratory = "independent_laboratory"
    health_commission = "health_commission"
    insurance_bureau = "insurance_bureau"
    other = "other"


ORGANIZATION_TYPE_LABELS = {
    OrganizationType.tertiary_hospital: "三级医院",
    OrganizationType.secondary_hospital: "二级医院",
    OrganizationType.primary_hospital: "一级医院",
    OrganizationType.community_health_center: "社区卫生服务中心",
    OrganizationType.community_health_subcenter: "社区卫生服务分中心",
    OrganizationType.community_health_station: "社区卫生服务站",
    OrganizationType.cdc: "疾控中心",
    OrganizationType.maternal_child_health: "妇幼保健院",
    OrganizationType.mental_health_center: "精神卫生中心",
    OrganizationType.tcm_hospital: "中医医院",
    OrganizationType.integrated_medicine_hospital: "中西医结合医院",
    OrganizationType.nursing_home: "护理院",
    OrganizationType.rehabilitation_hospital: "康复医院",
    OrganizationType.internet_hospital: "互联网医院",
    OrganizationType.independent_laboratory: "第三方实验室",
    OrganizationType.health_commission: "卫健委",
    OrganizationType.insurance_bureau: "医保局",
    OrganizationType.other: "其他",
}

# Institutions that treat patients, as opposed to the authorities that run or pay for them.
CARE_PROVIDER_TYPES = frozenset(OrganizationType) - {
    OrganizationType.health_commission,
    OrganizationType.insurance_bureau,
    OrganizationType.other,
}

PRIMARY_CARE_TYPES = frozenset(
    {
        OrganizationType.community_health_center,
        OrganizationType.community_health_subcenter,
        OrganizationType.community_health_station,
        OrganizationType.primary_hospital,
    }
)


class ConsortiumKind(StrEnum):
    regional = "regional"  # 医联体 (城市医疗集团 / 县域医共体)
    specialty = "specialty"  # 专科联盟
    tcm = "tcm"  # 中医医联体
    cross_region = "cross_region"  # 跨区域联盟, e.g. 长三角示范区


CONSORTIUM_KIND_LABELS = {
    ConsortiumKind.regional: "医联体",
    ConsortiumKind.specialty: "专科联盟",
    ConsortiumKind.tcm: "中医医联体",
    ConsortiumKind.cross_region: "跨区域联盟",
}


class ConsortiumRole(StrEnum):
    lead = "lead"  # 牵头单位
    member = "member"  # 成员单位


CONSORTIUM_ROLE_LABELS = {ConsortiumRole.lead: "牵头单位", ConsortiumRole.member: "成员单位"}


class Gender(StrEnum):
    """FHIR AdministrativeGender."""

    male = "male"
    female = "female"
    other = "other"
    unknown = "unknown"


GENDER_LABELS = {
    Gender.male: "男",
    Gender.female: "女",
    Gender.other: "其他",
    Gender.unknown: "未知",
}


class PractitionerRoleCode(StrEnum):
    doctor = "doctor"
    family_doctor = "family_doctor"
    specialist = "specialist"
    nurse = "nurse"
    public_health = "public_health"
    health_manager = "health_manager"
    pharmacist = "pharmacist"
    technician = "technician"
    admin_staff = "admin_staff"


PRACTITIONER_ROLE_LABELS = {
    PractitionerRoleCode.doctor: "医师",
    PractitionerRoleCode.family_doctor: "家庭医生",
    PractitionerRoleCode.specialist: "专科医生",
    PractitionerRoleCode.nurse: "护士",
    PractitionerRoleCode.public_health: "公共卫生医师",
    PractitionerRoleCode.health_manager: "健康管理师",
    PractitionerRoleCode.pharmacist: "药师",
    PractitionerRoleCode.technician: "技师",
    PractitionerRoleCode.admin_staff: "行政人员",
}


def find_cycle(parent_of: Mapping[str, str | None]) -> list[str] | None:
    """Return the nodes of one cycle in a child → parent map, or None when it is a forest."""
    done: set[str] = set()
    for start in parent_of:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in on_path:
                return path[path.index(node) :]
            path.append(node)
            on_path.add(node)
            node = parent_of.get(node)
        done.update(path)
    return None


# GB 32100-2015 统一社会信用代码: 18 characters from this alphabet (no I, O, S, V, Z),
# the last a check character over the first 17 with these weights.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def is_uscc(code: str) -> bool:
    """True when ``code`` is a well-formed 统一社会信用代码 with a correct check character."""
    if len(code) != 18 or any(c not in _USCC_ALPHABET for c in code):
        return False
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code, _USCC_WEIGHTS, strict=False))
    check = (31 - total % 31) % 31
    return _USCC_ALPHABET[check] == code[17]
