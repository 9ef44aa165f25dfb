"""Projectors of the chronic domain: what it does with resources stored by the exchange.

A Condition coded for a programme (ICD-10 I10–I15 hypertension, E11 type-2
diabetes, or what the configuration adds) enrols the person, idempotently. A write's
Conditions are taken together: one multi-row insert enrols them all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from yilian.chronic import service
from yilian.records.projectors import StoredResource, register_many


def enrol_on_conditions(session: Session, stored: Sequence[StoredResource]) -> None:
    service.enrol_from_conditions(session, stored)


register_many("Condition", enrol_on_conditions)
