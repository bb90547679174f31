"""What a run's input and metadata may hold: JSON every store and response can carry.

The HTTP models check it as a field validator (a `422` naming the field) and
`LocalClient` checks it before a run is recorded (an `input_invalid` error), so neither
path can store a value that a store cannot encode or that reads back changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from murmur.core.errors import MurmurError

__all__ = ["MAX_JSON_DEPTH", "check_json", "json_problem"]

MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays accepted in a run's input or metadata."""


def _bad_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\\ud800": not Unicode text
        return True
    return False


def _short(path: str) -> str:
    return path if len(path) <= 120 else f"{path[:60]}...{path[-50:]}"


def _at(path: str, key: object) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{str(key)[:40]!r}"


def json_problem(value: Any, where: str = "value") -> str | None:
    """What makes `value` unacceptable as run input or metadata, or None when it is fine.

    Acceptable: None, bools, ints, finite floats, Unicode strings (no lone surrogates),
    and lists and string-keyed mappings of those nested at most `MAX_JSON_DEPTH` deep.
    """
    stack: list[tuple[Any, int, str]] = [(value, 0, where)]
    while stack:
        item, depth, path = stack.pop()
        path = _short(path)
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{path} is {item!r}: JSON has no NaN or Infinity; send a number or null"
            continue
        if isinstance(item, str):
            if _bad_text(item):
                return f"{path} holds a lone UTF-16 surrogate (e.g. \\ud800): not Unicode text"
            continue
        if isinstance(item, Mapping | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                return (
                    f"{where} is nested more than {MAX_JSON_DEPTH} levels deep (at {path}); "
                    "flatten it"
                )
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return f"{path} has a non-string key {key!r:.40}: JSON keys are strings"
                    if _bad_text(key):
                        return f"{path} has a key with a lone UTF-16 surrogate: not Unicode text"
                    stack.append((child, depth + 1, _at(path, key)))
            else:
                stack.extend((child, depth + 1, _at(path, i)) for i, child in enumerate(item))
            continue
        return f"{path} is a {type(item).__name__}, not JSON"
    return None


def check_json(value: Any, where: str) -> None:
    """Raise when `value` is not acceptable run input or metadata (see `json_problem`).

    Raises:
        MurmurError: code `input_invalid`, naming where in `value` the problem is.
    """
    problem = json_problem(value, where)
    if problem is not None:
        raise MurmurError(problem, code="input_invalid", details={"field": where})
