"""Projectors of the surveillance domain: what it does with resources stored by the exchange.

A notifiable-disease Condition (法定传染病报告卡) adds a case to its disease × area series;
a pathogen test Observation with a positive/negative value adds to the positivity series.
Each resource counts once (an update of it changes nothing), in the storing transaction.
A write's resources of a type are counted together, in a few set-wise statements.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from yilian.records import projectors
from yilian.records.projectors import StoredResource
from yilian.surveillance import service


def on_condition(session: Session, stored: StoredResource) -> None:
    on_conditions(session, [stored])


def on_conditions(session: Session, stored: Sequence[StoredResource]) -> None:
    service.project_conditions(session, [(s.id, s.resource, s.source_org_id) for s in stored])


def on_observation(session: Session, stored: StoredResource) -> None:
    on_observations(session, [stored])


def on_observations(session: Session, stored: Sequence[StoredResource]) -> None:
    service.project_observations(session, [(s.id, s.resource, s.source_org_id) for s in stored])


projectors.register_many("Condition", on_conditions)
projectors.register_many("Observation", on_observations)
