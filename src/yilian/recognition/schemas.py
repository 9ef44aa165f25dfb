"""API shapes of 检验检查结果互认. Every string and number is bounded to fit its column."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from yilian.recognition.rules import QC_STATUSES, RETEST_REASONS

ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
ITEM_CODE = r"^[0-9A-Za-z][0-9A-Za-z_.\-]*$"

ItemCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=ITEM_CODE)
]
CatalogueCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ITEM_CODE)
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=ONE_LINE)
]
LongName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=ONE_LINE)]
RefId = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")
]
# What a clinician may type to name an item: a catalogue code, a LOINC code, or system|code.
Requested = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=ONE_LINE)
]
Level = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20, pattern=ONE_LINE)]
Kind = Literal["lab", "imaging"]
Group = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[a-z0-9_]+$"),
]
Days = Annotated[int, Field(ge=0, le=3650)]
Price = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
QcStatus = Literal["passed", "failed", "suspended", "pending"]
RetestReason = Literal[
    "condition-changed",
    "fast-changing",
    "pre-surgery-or-transfusion",
    "emergency",
    "legal-assessment",
    "other",
]
assert set(QC_STATUSES) == {"passed", "failed", "suspended", "pending"}
assert set(RETEST_REASONS) == set(RetestReason.__args__)  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------ catalogue


class ItemIn(_Strict):
    item_code: ItemCode
    name: Name
    kind: Kind
    group: Group = "chemistry"
    validity_days: Days | None = None  # None: the group's default window
    min_level: Level | None = None
    requires_qc: bool = True
    reference_price: Price = 0.0
    active: bool = True
    codes: list[Annotated[str, StringConstraints(max_length=360, pattern=ONE_LINE)]] = Field(
        default_factory=list, max_length=50, description="system|code pairs mapped to the item"
    )


class ItemUpdate(_Strict):
    name: Name | None = None
    validity_days: Days | None = None
    min_level: Level | None = None
    requires_qc: bool | None = None
    reference_price: Price | None = None
    active: bool | None = None


class ParticipantIn(_Strict):
    organization_id: RefId
    qc_status: QcStatus | None = None
    note: Note | None = None


class ParticipantBody(_Strict):
    qc_status: QcStatus | None = None
    note: Note | None = None


class CatalogueIn(_Strict):
    code: CatalogueCode
    name: LongName
    region_id: RefId | None = None
    consortium_id: RefId | None = None
    source: Annotated[str, StringConstraints(max_length=4000)] | None = None
    active: bool = True
    items: list[ItemIn] = Field(default_factory=list, max_length=1000)
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=5000)


class CatalogueUpdate(_Strict):
    name: LongName | None = None
    source: Annotated[str, StringConstraints(max_length=4000)] | None = None
    active: bool | None = None


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    item_code: str
    name: str
    kind: str
    group: str = Field(validation_alias=AliasChoices("group", "item_group"))
    validity_days: int
    min_level: str | None
    requires_qc: bool
    reference_price: float
    active: bool


class ParticipantOut(BaseModel):
    organization_id: str
    organization_name: str | None
    organization_code: str | None
    level: str | None
    qc_status: str
    note: str | None


class CatalogueSummary(BaseModel):
    id: str
    code: str
    name: str
    region_id: str | None
    consortium_id: str | None
    source: str | None
    active: bool
    lab_items: int
    imaging_categories: int
    participants: int


class CatalogueOut(CatalogueSummary):
    items: list[ItemOut]
    institutions: list[ParticipantOut]


# ------------------------------------------------------------------------ check


class CheckIn(_Strict):
    person_id: RefId
    items: list[Requested] = Field(min_length=1, max_length=500)

    @field_validator("items")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class InstitutionOut(BaseModel):
    id: str | None
    name: str | None
    level: str | None


class ResultOut(BaseModel):
    id: str
    value: str | None
    unit: str | None
    effective: datetime
    age_days: int
    institution: InstitutionOut
    resource: str  # Type/id
    report: str | None  # DiagnosticReport/id
    hr_marked: bool
    recognisable: bool
    problem: str | None
    explanation: str | None


class CheckItemOut(BaseModel):
    id: str
    requested: str
    item_code: str | None
    name: str | None
    kind: str | None
    catalogue: str | None
    validity_days: int | None
    reference_price: float
    verdict: str
    reason: str | None
    result: ResultOut | None
    candidates: list[ResultOut]
    decision: str | None = None
    retest_reason: str | None = None
    note: str | None = None


class CheckOut(BaseModel):
    id: str
    person_id: str
    organization_id: str | None
    checked_at: datetime
    items: list[CheckItemOut]


class DecisionIn(_Strict):
    requested: Requested
    decision: Literal["reused", "reordered"]
    retest_reason: RetestReason | None = None
    note: Note | None = None
    result_id: RefId | None = None  # reuse this result rather than the suggested one


class DecisionsIn(_Strict):
    decisions: list[DecisionIn] = Field(min_length=1, max_length=500)


class DecisionOut(BaseModel):
    requested: str
    item_code: str | None
    decision: str
    retest_reason: str | None
    note: str | None
    result_id: str | None
    saved: float


# ------------------------------------------------------------------------ statistics


class StatsRow(BaseModel):
    key: str | None
    label: str
    checks: int
    checks_recognisable: int
    checks_reused: int
    person_visit_rate: float | None
    items_checked: int
    items_recognisable: int
    items_reused: int
    item_rate: float | None
    avoided_tests: int
    money_saved: float


class StatsOut(BaseModel):
    by: str
    since: str | None
    until: str | None
    reference_person_visit_rate: float
    total: StatsRow
    rows: list[StatsRow]
