"""Structural checks of incoming FHIR resources (R4, validated with the fhir.resources R4B models).

R4B changed none of the elements of the types this store takes: every official
R4 example of them validates unchanged (tests/records/test_hl7_examples.py). A
difference met later is handled here, explicitly, before the R4B model sees it.

Two things make validation cheaper without changing its verdicts:

- ``fhir_core`` validates every nested complex element (a Coding, a Reference, a
  Meta, …) by calling back into Python (``FhirBase.fhir_model_validator``), which
  is most of the ~0.35 ms a resource costs. The same elements recur across a
  stream of resources (the codes of a lab panel, the sending organisation's
  reference), so while :func:`check_resource` runs, an element already validated
  as the same type with the same JSON is not validated again (:class:`_Repeats`).
  Its verdict depends on nothing but the type and the JSON, and failures are never
  kept, so an invalid element is reported at its own path as before.
- :func:`load_models` imports every model class the supported types reach (they are
  otherwise imported on first use), so forked validation workers inherit them.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import FhirBase
from pydantic import ValidationError

from yilian.kit.errors import BadRequest, NotFound, Unprocessable
from yilian.records.indexing import REGISTRY_TYPES, SUPPORTED_TYPES

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_ISSUES = 20


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


class _Repeats:
    """Nested elements already validated: (annotation type, model class, JSON) → model.

    Bounded: emptied when full (a stream's recurring elements come back at once).
    """

    SIZE = 20_000
    # Values that JSON cannot tell apart from a string (a datetime) are not keyed.
    _OPTIONS = (
        orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )

    def __init__(self) -> None:
        self.seen: dict[tuple[Any, Any, bytes], Any] = {}

    def validate(self, original: Callable[..., Any], cls: Any, value: Any, model: Any) -> Any:
        try:
            key = (cls, model, orjson.dumps(value, option=self._OPTIONS))
        except TypeError:  # orjson.JSONEncodeError: not plain JSON
            return original(cls, value, model)
        found = self.seen.get(key)
        if found is None:
            found = original(cls, value, model)  # raises for an invalid element: not kept
            if len(self.seen) >= self.SIZE:
                self.seen.clear()
            self.seen[key] = found
        return found


_REPEATS = _Repeats()
_ACTIVE: ContextVar[_Repeats | None] = ContextVar("yilian_fhir_repeats", default=None)


def _install_repeats() -> bool:
    """Route fhir_core's nested-element validator through :data:`_ACTIVE` when set."""
    attr = FhirBase.__dict__.get("fhir_model_validator")
    if not isinstance(attr, classmethod) or getattr(attr.__func__, "_yilian", False):
        return isinstance(attr, classmethod)
    original = attr.__func__

    def fhir_model_validator(cls: Any, value: Any, model_klass: Any) -> Any:
        repeats = _ACTIVE.get()
        if repeats is None or type(value) is not dict:
            return original(cls, value, model_klass)
        return repeats.validate(original, cls, value, model_klass)

    fhir_model_validator._yilian = True  # type: ignore[attr-defined]
    FhirBase.fhir_model_validator = classmethod(fhir_model_validator)  # type: ignore[method-assign,assignment]
    return True


REPEATS_INSTALLED = _install_repeats()


def _reject_null_complex_elements(cls: Any, data: Any) -> Any:
    """fhir_core's check, with the model's complex-list fields found once per model class.

    Runs as the code of ``FHIRAbstractModel.reject_null_complex_elements`` (its globals are
    fhir_core's module), so it must use nothing but what that module defines and
    ``_yilian_null_keys``. Same errors, same order, as the original.
    """
    if not isinstance(data, dict):
        return data
    keys = _yilian_null_keys.get(cls)  # type: ignore[name-defined]  # noqa: F821
    if keys is None:
        keys = _yilian_null_keys[cls] = tuple(  # type: ignore[name-defined]  # noqa: F821
            (name, field.alias)
            for name, field in cls.model_fields.items()
            if is_list_type(field)  # type: ignore[name-defined]  # noqa: F821
            and not is_primitive_type(field)  # type: ignore[name-defined]  # noqa: F821
            and not name.endswith("__ext")
        )
    errors: list[Any] = []
    for name, alias in keys:
        key = alias if alias and alias in data else name
        value = data.get(key)
        if isinstance(value, list) and any(item is None for item in value):
            errors.append(
                {
                    "type": PydanticCustomError(  # type: ignore[name-defined]  # noqa: F821
                        "list_type",
                        "None is not allowed as an element of {field}",
                        {"field": key},
                    ),
                    "loc": (key,),
                    "input": value,
                }
            )
    if errors:
        raise ValidationError.from_exception_data(cls.__name__, errors)
    return data


# What the original reads (its co_names): if a fhir_core release changes the check, the
# fields it looks at may change too, and it is left as it is (slower, never different).
_NULL_CHECK_NAMES = (
    "isinstance", "dict", "model_fields", "items", "is_list_type", "is_primitive_type",
    "endswith", "alias", "get", "list", "any", "append", "PydanticCustomError",
    "ValidationError", "from_exception_data", "__name__",
)  # fmt: skip


_NULL_CHECK_ORIGINAL: list[tuple[Any, Any]] = []


def _install_null_check() -> bool:
    """Make ``reject_null_complex_elements`` look up the model's list fields once per class.

    fhir_core runs it before validating every model (each resource and each nested
    element not remembered by :class:`_Repeats`) and it walked all of the model's fields
    (an Observation has ~80) to find the few complex lists: about a quarter of
    validation. pydantic holds the function in every compiled model validator, so its
    code is swapped in place; the verdict and the errors stay the same
    (tests/records/test_validation.py).
    """
    import fhir_core.fhirabstractmodel as fam

    attr = fam.FHIRAbstractModel.__dict__.get("reject_null_complex_elements")
    original = getattr(attr, "__func__", None)
    if original is None or getattr(original, "_yilian", False):
        return original is not None
    code = original.__code__
    if code.co_freevars or set(code.co_names) != set(_NULL_CHECK_NAMES):
        return False
    fam._yilian_null_keys = {}  # type: ignore[attr-defined]
    _NULL_CHECK_ORIGINAL.append((original, code))  # for the tests' comparison
    original.__code__ = _reject_null_complex_elements.__code__
    original._yilian = True
    return True


NULL_CHECK_INSTALLED = _install_null_check()


def _fhir_types(annotation: Any) -> Iterator[type[FhirBase]]:
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _fhir_types(arg)


def load_models() -> int:
    """Import the model classes of the supported types and of all they contain; how many."""
    seen: set[Any] = set()
    todo = [_model(t) for t in sorted(SUPPORTED_TYPES)]
    while todo:
        klass = todo.pop()
        if klass in seen:
            continue
        seen.add(klass)
        for field in klass.model_fields.values():
            todo.extend(t.get_model_klass() for t in _fhir_types(field.annotation))
    return len(seen)


def fhir_path(where: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """FHIRPath of a pydantic error location: ("code", "coding", 0) → where.code.coding[0]."""
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def check_type(resource_type: str, *, field: str | None = None, in_url: bool = False) -> None:
    """Refuse a type this store does not hold: 404 in a URL, 400 in a body."""
    if resource_type in SUPPORTED_TYPES:
        return
    if resource_type in REGISTRY_TYPES:
        message = (
            f"{resource_type} is managed by the registry (区域机构与人员注册): "
            "maintain it through /api/v1/registry; the FHIR store takes no writes of it"
        )
    else:
        message = f"resource type {resource_type!r} is not supported by this FHIR store"
    if in_url:
        raise NotFound(message, field=field)
    raise BadRequest(message, field=field)


def check_resource(resource: Any, where: str, expected_type: str | None = None) -> str:
    """Validate one resource; raise 400/422 naming the failing element; its type."""
    if not isinstance(resource, dict):
        raise BadRequest("a resource must be a JSON object", field=where)
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise BadRequest("resourceType is missing", field=f"{where}.resourceType")
    check_type(rtype, field=f"{where}.resourceType")
    if expected_type is not None and rtype != expected_type:
        raise BadRequest(
            f"resourceType is {rtype} but the request is for {expected_type}",
            field=f"{where}.resourceType",
        )
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_PATTERN.match(rid)):
        raise Unprocessable("id must be 1-64 letters, digits, '-' or '.'", field=f"{where}.id")
    active = _ACTIVE.set(_REPEATS)
    try:
        _model(rtype).model_validate(resource)
    except ValidationError as exc:
        detail = [
            {"field": fhir_path(where, err["loc"]), "message": str(err["msg"])}
            for err in exc.errors()[:MAX_ISSUES]
        ]
        first = detail[0]
        raise Unprocessable(
            f"{rtype} is not valid FHIR R4: {first['field']}: {first['message']}", detail=detail
        ) from None
    finally:
        _ACTIVE.reset(active)
    return rtype
