"""Projectors of the familydoctor domain, each given all resources of its type in a write.

- Patient → the resident roster (birth date, street, masked name, encrypted phone).
- Observation → an abnormal result to act on (interpretation H/HH/L/LL/A/AA, or a value
  outside referenceRange). Written whether or not the person has a contract yet: the
  worklist shows only open items of contracted persons within the configured window.
- EpisodeOfCare (a family-doctor contract term) → a contract, its renewal or its end; one
  that cannot be taken in (e.g. the person is under contract elsewhere) → an issue with
  the reason, never a refused bundle (familydoctor/episodes.py).

Each looks up what the batch needs once and writes in sets; resources are taken in the
order they were stored, so the result is the one of taking them one by one.
"""

from __future__ import annotations

from yilian.familydoctor import episodes, service
from yilian.records.projectors import register_many

register_many("Patient", service.project_patients)
register_many("Observation", service.project_observations)
register_many("EpisodeOfCare", episodes.project_episodes)
