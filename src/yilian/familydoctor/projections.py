"""Projectors of the familydoctor domain.

- Patient → the resident roster (birth date, street, masked name, encrypted phone).
- Observation → an abnormal result to act on (interpretation H/HH/L/LL/A/AA, or a value
  outside referenceRange). Written whether or not the person has a contract yet: the
  worklist shows only open items of contracted persons within the configured window.
- EpisodeOfCare (a family-doctor contract term) → a contract, its renewal or its end; one
  that cannot be taken in (e.g. the person is under contract elsewhere) → an issue with
  the reason, never a refused bundle (familydoctor/episodes.py).
"""

from __future__ import annotations

from yilian.familydoctor import episodes, service
from yilian.records.projectors import register

register("Patient", service.project_patient)
register("Observation", service.project_observation)
register("EpisodeOfCare", episodes.project_episode)
