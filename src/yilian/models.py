"""Import every domain's tables so that ``Base.metadata`` knows the whole schema."""

from __future__ import annotations

import importlib

from yilian.db import Base

# A domain with tables is listed here; Alembic and the tests read the schema from it.
MODEL_MODULES = [
    "yilian.security.models",
    "yilian.audit.models",
    "yilian.registry.models",
    "yilian.patients.models",
    "yilian.records.models",
    "yilian.recognition.models",
    "yilian.referral.models",
    "yilian.consult.models",
    "yilian.familydoctor.models",
    "yilian.chronic.models",
    "yilian.surveillance.models",
    "yilian.tb.models",
    "yilian.tb.care_models",
]


# A domain that reacts to stored FHIR resources registers its projectors when its
# module here is imported (records.projectors.register); the app, the CLI and the
# tests import them all through load_all.
PROJECTION_MODULES = [
    "yilian.recognition.projections",
    "yilian.familydoctor.projections",
    "yilian.chronic.projections",
    "yilian.surveillance.projections",
    "yilian.tb.projections",
    "yilian.tb.care_projections",
]


def load_all() -> type[Base]:
    for name in (*MODEL_MODULES, *PROJECTION_MODULES):
        importlib.import_module(name)
    return Base
