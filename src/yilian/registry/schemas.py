"""Registry API shapes. Every string and number is bounded: what passes here fits the columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from yilian.registry.rules import (
    ConsortiumKind,
    ConsortiumRole,
    Gender,
    OrganizationType,
    PractitionerRoleCode,
    RegionLevel,
)

# No control characters in one-line text: PostgreSQL refuses NUL, and the rest is never meant.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
CODE = r"^[0-9A-Za-z][0-9A-Za-z_.\-]*$"
ID = r"^[A-Za-z0-9._\-]+$"


def _text(max_length: int) -> Any:
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=max_length, pattern=ONE_LINE
    )


Code = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64, pattern=CODE)]
RegionCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32, pattern=CODE)]
RefId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID)]
Name = Annotated[str, _text(200)]
ShortName = Annotated[str, _text(100)]
PersonName = Annotated[str, _text(100)]
Label = Annotated[str, _text(50)]
OrgLevel = Annotated[str, _text(20)]
Address = Annotated[str, _text(300)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()#,转 \-]{3,}$")
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=MULTI_LINE)
]
AreaKm2 = Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False)]
Population = Annotated[int, Field(ge=0, le=2_000_000_000)]
Gdp = Annotated[float, Field(ge=0, le=100_000_000, allow_inf_nan=False)]  # 亿元
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
JoinedOn = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2100, 12, 31))]
Specialties = Annotated[list[Label], Field(max_length=20)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _drop_null_branch(schema: dict[str, Any], cls: type) -> None:
    """Tell OpenAPI the truth: a patchable field that refuses ``null`` is not nullable."""
    for name in getattr(cls, "not_null", ()):
        prop = schema.get("properties", {}).get(name)
        if prop and "anyOf" in prop:
            branches = [b for b in prop.pop("anyOf") if b.get("type") != "null"]
            prop.pop("default", None)
            if len(branches) == 1:
                prop.update(branches[0])
            else:
                prop["anyOf"] = branches


class _Patch(_In):
    """Partial update: omitted fields stay as they are; ``null`` clears only optional columns."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_branch)
    not_null: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name in cls.not_null:
            raise ValueError("may not be null")
        return value


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    """One page of a list: ``items`` plus the ``total`` that matched."""

    items: list[T]
    total: int
    limit: int
    offset: int


# --- regions ---------------------------------------------------------------


class RegionCreate(_In):
    code: RegionCode
    name: Name
    level: RegionLevel
    parent_id: RefId | None = None
    area_km2: AreaKm2 | None = None
    population: Population | None = None
    gdp: Gdp | None = None


class RegionUpdate(_Patch):
    not_null = frozenset({"code", "name", "level"})
    code: RegionCode | None = None
    name: Name | None = None
    level: RegionLevel | None = None
    parent_id: RefId | None = None
    area_km2: AreaKm2 | None = None
    population: Population | None = None
    gdp: Gdp | None = None


class RegionRead(_Out):
    id: str
    code: str
    name: str
    level: RegionLevel
    parent_id: str | None
    area_km2: float | None
    population: int | None
    gdp: float | None
    created_at: datetime
    updated_at: datetime


class RegionNode(BaseModel):
    """A region in the tree, with the organisations in it and (``organization_count``) below it."""

    id: str
    code: str
    name: str
    level: RegionLevel
    direct_organization_count: int
    organization_count: int
    children: list[RegionNode] = []


# --- organisations ---------------------------------------------------------


class OrganizationCreate(_In):
    code: Code
    name: Name
    short_name: ShortName | None = None
    type: OrganizationType
    level: OrgLevel | None = None
    parent_id: RefId | None = None
    region_id: RefId
    insurance_designated: bool = False
    address: Address | None = None
    phone: Phone | None = None
    active: bool = True
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class OrganizationUpdate(_Patch):
    not_null = frozenset({"code", "name", "type", "region_id", "insurance_designated", "active"})
    code: Code | None = None
    name: Name | None = None
    short_name: ShortName | None = None
    type: OrganizationType | None = None
    level: OrgLevel | None = None
    parent_id: RefId | None = None
    region_id: RefId | None = None
    insurance_designated: bool | None = None
    address: Address | None = None
    phone: Phone | None = None
    active: bool | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class OrganizationRead(_Out):
    id: str
    code: str
    name: str
    short_name: str | None
    type: OrganizationType
    type_label: str
    level: str | None
    parent_id: str | None
    region_id: str
    region_name: str
    insurance_designated: bool
    address: str | None
    phone: str | None
    active: bool
    latitude: float | None
    longitude: float | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OrganizationFilter:
    """What the organisation list can be narrowed by; ``None`` means "any"."""

    region_id: str | None = None  # this region and every region below it
    type: OrganizationType | None = None
    q: str | None = None  # part of the name, short name or code
    name: str | None = None  # part of the name or short name
    code: str | None = None  # exactly
    consortium_id: str | None = None
    insurance_designated: bool | None = None
    active: bool | None = None
    parent_id: str | None = None


# --- consortia -------------------------------------------------------------


class ConsortiumCreate(_In):
    code: Code
    name: Name
    kind: ConsortiumKind
    lead_organization_id: RefId
    region_id: RefId | None = None
    description: Description | None = None
    member_ids: Annotated[list[RefId], Field(max_length=500)] = []


class ConsortiumUpdate(_Patch):
    not_null = frozenset({"code", "name", "kind", "lead_organization_id"})
    code: Code | None = None
    name: Name | None = None
    kind: ConsortiumKind | None = None
    lead_organization_id: RefId | None = None
    region_id: RefId | None = None
    description: Description | None = None


class ConsortiumRead(_Out):
    id: str
    code: str
    name: str
    kind: ConsortiumKind
    kind_label: str
    lead_organization_id: str
    lead_name: str
    region_id: str | None
    description: str | None
    member_count: int
    created_at: datetime
    updated_at: datetime


class MemberCreate(_In):
    organization_id: RefId
    joined_on: JoinedOn | None = None


class MemberRead(_Out):
    id: str
    consortium_id: str
    organization_id: str
    organization_name: str
    role: ConsortiumRole
    joined_on: date | None


# --- practitioners ---------------------------------------------------------


class PractitionerRoleRead(_Out):
    id: str
    practitioner_id: str
    practitioner_name: str
    organization_id: str
    organization_name: str
    role: PractitionerRoleCode
    specialty: str | None
    is_primary: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class PractitionerCreate(_In):
    name: PersonName
    gender: Gender | None = None
    title: Label | None = None
    license_no: Code | None = None
    specialties: Specialties = []
    active: bool = True


class PractitionerUpdate(_Patch):
    not_null = frozenset({"name", "specialties", "active"})
    name: PersonName | None = None
    gender: Gender | None = None
    title: Label | None = None
    license_no: Code | None = None
    specialties: Specialties | None = None
    active: bool | None = None


class PractitionerRead(_Out):
    id: str
    name: str
    gender: Gender | None
    title: str | None
    license_no: str | None
    specialties: list[str]
    active: bool
    roles: list[PractitionerRoleRead]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PractitionerFilter:
    organization_id: str | None = None  # holds a role there
    q: str | None = None  # part of the name or licence number
    name: str | None = None  # part of the name
    license_no: str | None = None  # exactly
    specialty: str | None = None  # listed in specialties or on one of the roles
    active: bool | None = None


class PractitionerRoleCreate(_In):
    practitioner_id: RefId
    organization_id: RefId
    role: PractitionerRoleCode
    specialty: Label | None = None
    is_primary: bool = False
    active: bool = True


class PractitionerRoleUpdate(_Patch):
    not_null = frozenset({"organization_id", "role", "is_primary", "active"})
    organization_id: RefId | None = None
    role: PractitionerRoleCode | None = None
    specialty: Label | None = None
    is_primary: bool | None = None
    active: bool | None = None


@dataclass(frozen=True)
class PractitionerRoleFilter:
    practitioner_id: str | None = None
    organization_id: str | None = None
    role: PractitionerRoleCode | None = None
    specialty: str | None = None
    active: bool | None = None


# --- bulk load ---------------------------------------------------------------


class RegionSeed(_In):
    code: RegionCode
    name: Name
    level: RegionLevel
    parent_code: RegionCode | None = None
    area_km2: AreaKm2 | None = None
    population: Population | None = None
    gdp: Gdp | None = None


class OrganizationSeed(_In):
    code: Code
    name: Name
    type: OrganizationType
    region_code: RegionCode
    parent_code: Code | None = None
    short_name: ShortName | None = None
    level: OrgLevel | None = None
    insurance_designated: bool = False
    address: Address | None = None
    phone: Phone | None = None
    active: bool = True
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class ConsortiumSeed(_In):
    code: Code
    name: Name
    kind: ConsortiumKind
    lead_code: Code
    region_code: RegionCode | None = None
    description: Description | None = None
    member_codes: list[Code] = []


class RoleSeed(_In):
    organization_code: Code
    role: PractitionerRoleCode
    specialty: Label | None = None
    is_primary: bool = False


class PractitionerSeed(_In):
    license_no: Code
    name: PersonName
    gender: Gender | None = None
    title: Label | None = None
    specialties: list[Label] = []
    active: bool = True
    roles: list[RoleSeed] = []
