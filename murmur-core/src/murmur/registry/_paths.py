"""Importable paths: `my_pkg.outputs.Finding` <-> the object, with clear errors."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel

from murmur.core.errors import SpecValidationError
from murmur.registry._yaml import show

__all__ = ["import_model", "import_object", "object_path"]

_BUILTIN_OUTPUTS: dict[str, type] = {"str": str}
_MAX_PATH = 300


def import_object(path: Any, *, field: str) -> Any:
    """The object at `path` (`pkg.module.Name` or `pkg.module:Name`).

    Raises:
        SpecValidationError: the path is malformed, its module does not import, or the
            module has no such attribute.
    """
    if not isinstance(path, str) or not path.strip() or len(path) > _MAX_PATH:
        raise SpecValidationError(
            f"{field} must be an importable path such as 'my_pkg.outputs.Finding' (at most "
            f"{_MAX_PATH} characters), got {show(path)}"
        )
    path = path.strip()
    if ":" in path:
        module_name, _, attrs = path.partition(":")
        candidates = [(module_name, attrs.split("."))]
    else:
        parts = path.split(".")
        if len(parts) < 2:
            raise SpecValidationError(
                f"{field} {path!r} is not a class path: write module.Name, "
                "e.g. 'my_pkg.outputs.Finding'"
            )
        # Longest importable module prefix first: pkg.mod.Outer.Inner works too.
        candidates = [(".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]
    first_error: str | None = None
    hint = "check the spelling and that the package is installed or on PYTHONPATH"
    for module_name, attrs in candidates:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing and (module_name == missing or module_name.startswith(missing + ".")):
                first_error = first_error or f"no module named {missing!r}"
                continue  # this module does not exist: maybe a shorter prefix is a module
            raise SpecValidationError(
                f"{field} {path!r}: importing module {module_name!r} failed: {exc}"
            ) from None
        except Exception as exc:  # the module exists but is broken: say so
            raise SpecValidationError(
                f"{field} {path!r}: importing module {module_name!r} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        obj: Any = module
        for attr in attrs:
            if not hasattr(obj, attr):
                if first_error is not None:
                    raise SpecValidationError(
                        f"{field} {path!r} does not import ({first_error}); {hint}"
                    )
                raise SpecValidationError(
                    f"{field} {path!r}: module {module_name!r} has no attribute {'.'.join(attrs)!r}"
                )
            obj = getattr(obj, attr)
        return obj
    raise SpecValidationError(f"{field} {path!r} does not import ({first_error}); {hint}")


def import_model(path: Any, *, field: str, allow_str: bool = False) -> Any:
    """The pydantic model class at `path` (or `str` when `allow_str` and path is "str").

    Raises:
        SpecValidationError: the path does not import or is not a `BaseModel` subclass.
    """
    if allow_str and isinstance(path, str) and path in _BUILTIN_OUTPUTS:
        return _BUILTIN_OUTPUTS[path]
    obj = import_object(path, field=field)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        kind = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__name__}"
        raise SpecValidationError(
            f"{field} {path!r} is not a pydantic BaseModel subclass (it is a {kind}); point it "
            "at a class that inherits from pydantic.BaseModel"
        )
    return obj


def object_path(obj: Any, *, field: str, owner: str) -> str:
    """The import path that leads back to `obj` (for writing YAML).

    Raises:
        SpecValidationError: `obj` cannot be found again by import (a lambda, a local
            class or function).
    """
    if obj in _BUILTIN_OUTPUTS.values():
        return obj.__name__
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise SpecValidationError(
            f"{owner} cannot be written as YAML: its {field} {obj!r} is not importable "
            "(a lambda or something defined inside a function); move it to module level"
        )
    path = f"{module}.{qualname}"
    try:
        found = import_object(path, field=field)
    except SpecValidationError:
        found = None
    if found is not obj:
        raise SpecValidationError(
            f"{owner} cannot be written as YAML: its {field} {path!r} does not import back "
            "to the same object"
        )
    return path
