"""Reading and writing YAML spec documents (PyYAML, safe loader and dumper only)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from murmur.core.errors import MurmurError, SpecValidationError

__all__ = [
    "SPEC_VERSION",
    "check_fields",
    "check_version",
    "dump_yaml",
    "parse_yaml",
    "read_source",
    "with_origin",
]

SPEC_VERSION = 1


def read_source(source: str | os.PathLike[str]) -> tuple[str, str | None]:
    """`(text, origin)`: `source` is YAML text, or a path to a spec file (then origin is it).

    A string is a path when it is a single line naming an existing file or ending in
    `.yaml` / `.yml`; anything else is YAML text.
    """
    if isinstance(source, str):
        one_line = "\n" not in source and source.strip() == source
        if not (one_line and (source.endswith((".yaml", ".yml")) or Path(source).is_file())):
            return source, None
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise SpecValidationError(
            f"{path}: cannot read spec file: {exc.strerror or exc}", details={"file": str(path)}
        ) from None


def parse_yaml(text: str) -> dict[str, Any]:
    """One YAML mapping.

    Raises:
        SpecValidationError: malformed YAML, several documents, or not a mapping.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecValidationError(f"malformed YAML{where}: {problem}", code="malformed") from None
    if doc is None:
        raise SpecValidationError("the spec is empty", code="malformed")
    if not isinstance(doc, dict):
        raise SpecValidationError(
            f"a spec is a YAML mapping (name: ..., model: ...), got a {type(doc).__name__}",
            code="malformed",
        )
    return {str(k): v for k, v in doc.items()}


def check_version(doc: Mapping[str, Any]) -> None:
    """Refuse spec versions this murmur cannot read."""
    version = doc.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        raise SpecValidationError(
            f"unsupported spec version {version!r}; this murmur reads version: {SPEC_VERSION}"
        )


def check_fields(
    doc: Mapping[str, Any],
    known: Iterable[str],
    what: str,
    nested: Mapping[str, str] | None = None,
) -> None:
    """Refuse unknown top-level fields, suggesting the closest known one.

    `nested` maps names that belong one level down to their parent field (e.g.
    `temperature` -> `model_settings`), for a better suggestion.
    """
    allowed = list(known)
    unknown = [k for k in doc if k not in allowed]
    if not unknown:
        return
    nested = nested or {}
    messages = []
    for key in unknown:
        close = difflib.get_close_matches(key, [*allowed, *nested], n=1)
        if not close:
            messages.append(repr(key))
        elif close[0] in nested:
            messages.append(f"{key!r} (did you mean {close[0]!r} under {nested[close[0]]}:?)")
        else:
            messages.append(f"{key!r} (did you mean {close[0]!r}?)")
    raise SpecValidationError(
        f"unknown field{'s' if len(unknown) > 1 else ''} in {what} spec: "
        f"{', '.join(messages)}; valid fields: {', '.join(allowed)}",
        code="unknown_field",
        details={"fields": unknown},
    )


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(doc: Mapping[str, Any]) -> str:
    """A mapping as block-style YAML, keys in the given order, multi-line text as `|`."""
    return yaml.dump(
        dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def with_origin(exc: MurmurError, origin: str | None) -> MurmurError:
    """The same error, its message prefixed with the file it came from."""
    if origin is None or exc.details.get("file"):
        return exc
    return type(exc)(
        f"{origin}: {exc.message}", code=exc.code, details={**exc.details, "file": origin}
    )
