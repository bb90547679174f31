"""Pydantic model instances from values the kernel built itself, without validating them again.

A run builds a `TaskSpec` and, with an emitter listening, a `RuntimeEvent` per lifecycle step.
Validating them is cheap in a loop (2-3 us) but not inside a real run, where pydantic-core's
validator for the model is cold: measured in pairs of runs, one validated `TaskSpec` adds about
1% to a no-work run. Where every value is known to be right (an `Any` field, the kernel's own
ids and event fields), the instance is assembled the way `BaseModel.model_construct` does it,
without its per-field Python loop. Only for models with no aliases, extra fields, private
attributes or `model_post_init` (`tests/core/test_trusted_models.py` holds each one to an
instance built with validation).
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["fill_trusted", "trusted_model"]

ModelT = TypeVar("ModelT")

_set = object.__setattr__


def trusted_model(cls: type[ModelT], values: dict[str, Any], fields_set: set[str]) -> ModelT:
    """An instance of the pydantic model `cls` holding `values` (every field, in order).

    `fields_set` names the fields the caller gave explicitly (what `model_fields_set` says).
    """
    model = object.__new__(cls)
    fill_trusted(model, values, fields_set)
    return model


def fill_trusted(model: object, values: dict[str, Any], fields_set: set[str]) -> None:
    """Fill a pydantic model instance being initialised (`trusted_model`, from `__init__`)."""
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields_set)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
