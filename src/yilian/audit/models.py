"""Audit tables: the hash-chained entries and the one-row head that serialises appends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, UtcDateTime

HEAD_ID = 1
GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    """One audited event; ``hash`` chains it to the entry before (``prev_hash``)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_person_seq", "person_id", "seq"),
        Index("ix_audit_entries_actor_seq", "actor_id", "seq"),
    )

    # Gapless from 1; the primary key, so the chain has one order.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    organization_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    person_id: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last ``seq`` and ``hash``; updating it first is the append lock."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
