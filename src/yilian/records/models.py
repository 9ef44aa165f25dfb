"""Tables of the FHIR store: one row per resource (its current version) and its search tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, UtcDateTime, utcnow

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

ID_LENGTH = 64  # FHIR id: [A-Za-z0-9\-\.]{1,64}
TOKEN_LENGTH = 255


class FhirResource(Base):
    """The current version of one FHIR resource, as the institution sent it.

    ``identifier_key`` is the keyed hash of the resource's business identifier
    (``system|value``): a re-send from the same source updates the row instead
    of adding one, and concurrent sends collide on the unique index.
    """

    __tablename__ = "fhir_resources"
    __table_args__ = (
        Index("ix_fhir_resources_type_effective", "resource_type", "effective"),
        Index("ix_fhir_resources_type_patient", "resource_type", "patient_id"),
        Index("ix_fhir_resources_patient", "patient_id"),
    )

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, default=1)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"), index=True)
    # The Patient resource it is about (``Patient/<patient_id>``); its own id for a Patient.
    patient_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    source_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    identifier_key: Mapped[str | None] = mapped_column(String(64))
    # The clinically relevant time (Observation.effective, Encounter.period.start, …).
    effective: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resource: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class FhirToken(Base):
    """A token search value of a resource: code, category, identifier (hashed), name, …

    Tokens are an index derived from the resource, written only by
    ``records.repository.replace_tokens`` in the transaction that writes the resource
    (and replaced with it), like a database index: no foreign key to ``fhir_resources``.
    On PostgreSQL its per-row check was a seventh of the server's work during an import
    (five tokens per resource); resources are never deleted, so its cascade never ran.
    """

    __tablename__ = "fhir_tokens"
    __table_args__ = (Index("ix_fhir_tokens_search", "resource_type", "param", "code", "system"),)

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    param: Mapped[str] = mapped_column(String(32), primary_key=True)
    system: Mapped[str] = mapped_column(String(TOKEN_LENGTH), primary_key=True, default="")
    code: Mapped[str] = mapped_column(String(TOKEN_LENGTH), primary_key=True)


# Platform-level writers (admin) have no source organisation; coalesce keeps their
# identifiers unique too (NULLs would never collide).
Index(
    "uq_fhir_resources_business_id",
    FhirResource.resource_type,
    func.coalesce(FhirResource.source_org_id, ""),
    FhirResource.identifier_key,
    unique=True,
)
