"""Registry tables: regions, organisations, consortia and the people who work in them.

Other domains put foreign keys on ``organizations.id``, ``regions.id`` and
``practitioners.id``; they read them through :mod:`yilian.registry.service`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from yilian.db import Base, IdMixin, TimestampMixin
from yilian.registry.rules import (
    CONSORTIUM_KIND_LABELS,
    ORGANIZATION_TYPE_LABELS,
    ConsortiumKind,
    ConsortiumRole,
    Gender,
    OrganizationType,
    PractitionerRoleCode,
    RegionLevel,
)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # Stored as VARCHAR of the value on both engines, so adding a member needs no DDL.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=40,
        values_callable=lambda e: [m.value for m in e],
    )


class Region(IdMixin, TimestampMixin, Base):
    """行政区划: province, city, district or street, nested through ``parent_id``."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(32), unique=True)  # 行政区划代码 (GB/T 2260)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[RegionLevel] = mapped_column(_enum(RegionLevel, "region_level"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), index=True)
    area_km2: Mapped[float | None] = mapped_column(Float)
    population: Mapped[int | None] = mapped_column(BigInteger)  # 常住人口
    gdp: Mapped[float | None] = mapped_column(Float)  # 亿元

    __table_args__ = (Index("ix_regions_level_name", "level", "name"),)


class Organization(IdMixin, TimestampMixin, Base):
    """医疗卫生机构 or health authority; a station hangs under its centre through ``parent_id``."""

    __tablename__ = "organizations"

    code: Mapped[str] = mapped_column(String(64), unique=True)  # 统一社会信用代码 or local code
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[OrganizationType] = mapped_column(
        _enum(OrganizationType, "organization_type"), index=True
    )
    level: Mapped[str | None] = mapped_column(String(20))  # 医院等级, e.g. 三级甲等
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"), index=True)
    insurance_designated: Mapped[bool] = mapped_column(Boolean, default=False)  # 医保定点
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)

    region: Mapped[Region] = relationship(lazy="raise_on_sql")
    parent: Mapped[Organization | None] = relationship(
        remote_side="Organization.id", lazy="raise_on_sql"
    )

    @property
    def type_label(self) -> str:
        return ORGANIZATION_TYPE_LABELS[self.type]

    @property
    def region_name(self) -> str:
        return self.region.name


class ConsortiumMember(IdMixin, TimestampMixin, Base):
    """An organisation's membership of a consortium (牵头单位 or 成员单位)."""

    __tablename__ = "consortium_members"

    consortium_id: Mapped[str] = mapped_column(ForeignKey("consortia.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[ConsortiumRole] = mapped_column(_enum(ConsortiumRole, "consortium_role"))
    joined_on: Mapped[date | None] = mapped_column(Date)

    organization: Mapped[Organization] = relationship(lazy="raise_on_sql")

    # The unique pair also serves "members of consortium X" through its leading column.
    __table_args__ = (UniqueConstraint("consortium_id", "organization_id"),)

    @property
    def organization_name(self) -> str:
        return self.organization.name


class Consortium(IdMixin, TimestampMixin, Base):
    """医联体, 专科联盟, 中医医联体 or 跨区域联盟, led by one organisation."""

    __tablename__ = "consortia"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ConsortiumKind] = mapped_column(_enum(ConsortiumKind, "consortium_kind"))
    lead_organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)

    lead_organization: Mapped[Organization] = relationship(lazy="raise_on_sql")
    if TYPE_CHECKING:
        member_count: int

    @property
    def kind_label(self) -> str:
        return CONSORTIUM_KIND_LABELS[self.kind]

    @property
    def lead_name(self) -> str:
        return self.lead_organization.name


# Consortia are few; counting members with every load is cheaper than a second query.
# Assigned after the class because the subquery needs the mapped ``Consortium.id``.
setattr(  # noqa: B010
    Consortium,
    "member_count",
    column_property(
        select(func.count(ConsortiumMember.id))
        .where(ConsortiumMember.consortium_id == Consortium.id)
        .correlate_except(ConsortiumMember)
        .scalar_subquery()
    ),
)


class Practitioner(IdMixin, TimestampMixin, Base):
    """医务人员; where and as what they work is in :class:`PractitionerRole`."""

    __tablename__ = "practitioners"

    name: Mapped[str] = mapped_column(String(100), index=True)
    gender: Mapped[Gender | None] = mapped_column(_enum(Gender, "gender"))
    title: Mapped[str | None] = mapped_column(String(50))  # 职称, e.g. 主任医师
    license_no: Mapped[str | None] = mapped_column(String(64), unique=True)  # 执业证号
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    roles: Mapped[list[PractitionerRole]] = relationship(
        lazy="raise",
        back_populates="practitioner",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PractitionerRole.created_at",
    )


class PractitionerRole(IdMixin, TimestampMixin, Base):
    """What a practitioner does at one organisation; 多点执业 is several of these."""

    __tablename__ = "practitioner_roles"

    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[PractitionerRoleCode] = mapped_column(
        _enum(PractitionerRoleCode, "practitioner_role_code")
    )
    specialty: Mapped[str | None] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)  # 第一执业地点
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    practitioner: Mapped[Practitioner] = relationship(lazy="raise_on_sql", back_populates="roles")
    organization: Mapped[Organization] = relationship(lazy="raise_on_sql")

    @property
    def practitioner_name(self) -> str:
        return self.practitioner.name

    @property
    def organization_name(self) -> str:
        return self.organization.name
