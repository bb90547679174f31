"""JSON conversion of task inputs and run outputs: one converter, two policies.

`dump_value` makes anything JSON-safe for a record (a value JSON cannot hold becomes its
`repr`); `wire_input` makes a task input JSON for a broker and refuses what cannot cross
one. Both turn pydantic models into their JSON form, tuples into lists and keys into str.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from murmur.core.errors import SpawnError

__all__ = ["dump_value", "wire_input"]


def _convert(value: Any, *, strict: bool) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_convert(v, strict=strict) for v in value]
    if isinstance(value, dict):
        return {str(k): _convert(v, strict=strict) for k, v in value.items()}
    if strict:
        raise SpawnError(
            f"a task input of type {type(value).__name__} cannot be sent over a broker; use a "
            "str, a JSON-compatible dict/list, or a pydantic model",
            code="not_serializable",
        )
    return repr(value)


def dump_value(value: Any) -> Any:
    """A JSON-safe form of an input or output (for run records, checkpoints and results).

    Pydantic models become their JSON-mode dump; a value JSON cannot hold becomes its repr.
    """
    return _convert(value, strict=False)


def wire_input(value: Any) -> Any:
    """A task input as JSON for a broker.

    A pydantic model becomes its JSON string (what a local run would prompt with); str,
    numbers, bools, None, and lists and dicts of those (and of models) pass through.

    Raises:
        SpawnError: The value cannot cross a broker (code `"not_serializable"`).
    """
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return _convert(value, strict=True)
