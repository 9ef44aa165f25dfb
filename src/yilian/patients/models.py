"""Tables of the master patient index (主索引, MPI): persons and the records linked to them.

Identifiers are never stored in clear here: each one is a keyed hash (for
matching), its ciphertext (for display to an authorised user) and a masked form.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, UtcDateTime, utcnow

# Identifier kinds. The reliable ones identify one person on their own (unique per kind).
IDCARD = "idcard"  # 居民身份证号, only when its check digit verifies
INSURANCE = "insurance"  # 医保卡号 / 社会保障卡号
HEALTHCARD = "healthcard"  # 电子健康卡号
MRN = "mrn"  # an institution's 病历号 / 患者ID; the hash includes the source organisation
PHONE = "phone"
RELIABLE_KINDS = (IDCARD, INSURANCE, HEALTHCARD)
IDENTIFIER_KINDS = (*RELIABLE_KINDS, MRN, PHONE)

# How a source record came to be linked to its person.
LINK_AUTO = "auto"
LINK_REVIEW = "review"  # 人工审核: linked provisionally, a person must confirm or split it
LINK_MANUAL = "manual"
LINK_STATUSES = (LINK_AUTO, LINK_REVIEW, LINK_MANUAL)

# A match review (人工审核) of a record the matcher was unsure about.
REVIEW_OPEN = "open"
REVIEW_CONFIRMED = "confirmed"  # the record is the candidate person's
REVIEW_REJECTED = "rejected"  # the record stays its own person
REVIEW_STATUSES = (REVIEW_OPEN, REVIEW_CONFIRMED, REVIEW_REJECTED)

_RELIABLE_SQL = "kind IN ('idcard', 'insurance', 'healthcard')"


class Person(IdMixin, Base):
    """One real person: the stable id every domain refers to (``person_id``)."""

    __tablename__ = "persons"

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # A merged person points at the survivor; readers follow the chain.
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("persons.id"), default=None)


class PersonRecord(IdMixin, Base):
    """One institution's Patient resource, linked to the person it describes."""

    __tablename__ = "person_records"

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    resource_id: Mapped[str] = mapped_column(String(64), unique=True)  # Patient/<resource_id>
    source_org_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id"), index=True, default=None
    )
    link_status: Mapped[str] = mapped_column(String(16), default=LINK_AUTO)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PersonIdentifier(IdMixin, Base):
    """An identifier of a person: keyed hash, ciphertext and masked form, never the clear value."""

    __tablename__ = "person_identifiers"
    __table_args__ = (
        # A reliable identifier belongs to one person: concurrent arrivals of a new
        # person collide here and the loser retries, finding the winner.
        Index(
            "uq_person_identifiers_reliable",
            "kind",
            "value_hash",
            unique=True,
            sqlite_where=text(_RELIABLE_SQL),
            postgresql_where=text(_RELIABLE_SQL),
        ),
        Index("ix_person_identifiers_lookup", "kind", "value_hash"),
    )

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value_hash: Mapped[str] = mapped_column(String(64))
    value_encrypted: Mapped[str] = mapped_column(String(255))
    value_masked: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PersonBlockingKey(Base):
    """A keyed hash of a blocking key (``patients.matching.blocking_keys``) for candidate lookup."""

    __tablename__ = "person_blocking_keys"

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class MatchReview(IdMixin, Base):
    """A record scored between the review and link thresholds, awaiting a person's decision."""

    __tablename__ = "match_reviews"

    record_id: Mapped[str] = mapped_column(ForeignKey("person_records.id"), index=True)
    candidate_person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    probability: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=REVIEW_OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)


class PersonMerge(IdMixin, Base):
    """One merge of a person into a survivor; ``unmerged_at`` set once it was undone."""

    __tablename__ = "person_merges"

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    into_person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    merged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    unmerged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    unmerged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    unmerge_reason: Mapped[str | None] = mapped_column(String(500), default=None)


class PersonMergeRecord(Base):
    """A record a merge moved: unmerging gives exactly these back to the merged person."""

    __tablename__ = "person_merge_records"

    merge_id: Mapped[str] = mapped_column(ForeignKey("person_merges.id"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("person_records.id"), primary_key=True)
