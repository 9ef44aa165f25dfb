"""Projectors of the chronic domain: what it does with resources stored by the exchange.

A Condition coded for a programme (ICD-10 I10–I15 hypertension, E11 type-2
diabetes, or what the configuration adds) enrols the person, idempotently.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.chronic import service
from yilian.records.projectors import StoredResource, register


def enrol_on_condition(session: Session, stored: StoredResource) -> None:
    service.enrol_from_condition(session, stored)


register("Condition", enrol_on_condition)
