"""Projectors of the surveillance domain: what it does with resources stored by the exchange.

A notifiable-disease Condition (法定传染病报告卡) adds a case to its disease × area series;
a pathogen test Observation with a positive/negative value adds to the positivity series.
Each resource counts once (an update of it changes nothing), in the storing transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.records import projectors
from yilian.records.projectors import StoredResource
from yilian.surveillance import service


def on_condition(session: Session, stored: StoredResource) -> None:
    service.project_condition(session, stored.id, stored.resource, stored.source_org_id)


def on_observation(session: Session, stored: StoredResource) -> None:
    service.project_observation(session, stored.id, stored.resource, stored.source_org_id)


projectors.register("Condition", on_condition)
projectors.register("Observation", on_observation)
