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
]


def load_all() -> type[Base]:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base
