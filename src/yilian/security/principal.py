"""Who is calling: a person at an organisation, or an institution's system."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    commission = "commission"  # 卫健委
    doctor = "doctor"  # 家庭医生 / 临床医生
    specialist = "specialist"  # 区域医疗中心专家
    cdc = "cdc"  # 疾控
    insurer = "insurer"  # 医保
    system = "system"  # an institution's HIS/LIS/PACS, client credentials


ROLE_LABELS_ZH = {
    Role.admin: "系统管理员",
    Role.commission: "卫健委",
    Role.doctor: "医生",
    Role.specialist: "专家",
    Role.cdc: "疾控",
    Role.insurer: "医保",
    Role.system: "机构系统",
}


@dataclass(frozen=True)
class Principal:
    subject: str  # user id or API client id
    name: str  # username or client name
    role: Role
    organization_id: str | None
    kind: str = "user"  # "user" | "client"

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


def institution_system(code: str, organization_id: str, *, via: str) -> Principal:
    """An institution's own system (its HIS) sending its records, as the audit names it.

    ``via`` says which channel sends for it (``import``, ``demo``, ``bench``): the
    subject is ``<via>-<code>``.
    """
    return Principal(
        subject=f"{via}-{code}",
        name=f"{code} HIS ({via})",
        role=Role.system,
        organization_id=organization_id,
        kind="client",
    )
