"""Import every domain's tables so that ``Base.metadata`` knows the whole schema."""

from __future__ import annotations

import importlib
import importlib.util

from yilian.db import Base

MODEL_MODULES = [
    "yilian.security.models",
    "yilian.audit.models",
    "yilian.registry.models",
    "yilian.patients.models",
    "yilian.records.models",
]


def load_all() -> type[Base]:
    for name in MODEL_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return Base
