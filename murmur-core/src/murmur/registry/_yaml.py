"""Reading and writing YAML spec documents (PyYAML, safe loader and dumper only)."""

from __future__ import annotations

import difflib
import os
import reprlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from murmur.core.errors import MurmurError, SpecValidationError

__all__ = [
    "MAX_SPEC_CHARS",
    "MAX_SPEC_DEPTH",
    "MAX_SPEC_NODES",
    "SPEC_VERSION",
    "check_fields",
    "check_version",
    "dump_yaml",
    "invalid_spec",
    "parse_yaml",
    "read_source",
    "read_spec_file",
    "show",
    "with_origin",
]

SPEC_VERSION = 1


def read_source(source: str | os.PathLike[str]) -> tuple[str, str | None]:
    """`(text, origin)`: `source` is YAML text, or a path to a spec file (then origin is it).

    A string is a path when it is a single line naming an existing file or ending in
    `.yaml` / `.yml`; anything else is YAML text.
    """
    if isinstance(source, str) and not _names_a_file(source):
        return source, None
    path = Path(source)
    return read_spec_file(path), str(path)


def _names_a_file(source: str) -> bool:
    if "\n" in source or source.strip() != source or len(source) > 4096:
        return False
    if source.endswith((".yaml", ".yml")):
        return True
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # too long for a file name, or holding a NUL
        return False


def read_spec_file(path: Path) -> str:
    """The text of a spec file, read no further than the size limit allows.

    Raises:
        SpecValidationError: the file cannot be read, is not UTF-8, or is larger than
            `MAX_SPEC_CHARS` characters.
    """
    limit = MAX_SPEC_CHARS * 4  # bytes: UTF-8 takes up to 4 per character
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
        text = data.decode("utf-8")
    except OSError as exc:
        raise SpecValidationError(
            f"{path}: cannot read spec file: {exc.strerror or exc}", details={"file": str(path)}
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecValidationError(
            f"{path}: the spec file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            code="malformed",
            details={"file": str(path)},
        ) from None
    if len(data) > limit or len(text) > MAX_SPEC_CHARS:
        raise SpecValidationError(
            f"{path}: the spec file is larger than {MAX_SPEC_CHARS} characters",
            code="malformed",
            details={"file": str(path)},
        )
    return text


MAX_SPEC_CHARS = 1_048_576
"""The most text a spec may hold: its file, and its scalars with aliases expanded."""

MAX_SPEC_NODES = 10_000
"""The most values (mappings, lists, scalars) a spec may hold, with aliases expanded."""

MAX_SPEC_DEPTH = 64
"""The deepest nesting of mappings and lists in a spec, with aliases expanded."""

_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 80
_SHOW.maxlevel = 3
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 6


def show(value: Any) -> str:
    """A short repr of a spec value for an error message (long text and lists cut)."""
    return _SHOW.repr(value)


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _Limit(Exception):
    """A spec went over one of the limits above (raised while composing)."""


class _PyParser(Reader, Scanner, Parser):
    """PyYAML's pure-Python parser (used when libyaml is not installed)."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


def _parser_class() -> type:
    if yaml.__with_libyaml__:
        from yaml.cyaml import CParser

        return CParser
    return _PyParser


_ParserBase: Any = _parser_class()


class _SpecLoader(Composer, _ParserBase, SafeConstructor, Resolver):
    """A YAML loader that parses fast and refuses documents that nest or expand beyond the limits.

    It uses libyaml's C parser for speed, PyYAML's composer (a Python one does not crash on deep
    nesting, and counts as it goes) and safe constructor. Refuses, while composing, a document that
    nests, or expands through aliases, beyond the limits.
    """

    def __init__(self, text: str) -> None:
        _ParserBase.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0
        self._chars = 0
        self._reach = 0  # the deepest level reached under the node being composed
        self._anchored: dict[str, tuple[int, int, int]] = {}  # anchor: (nodes, chars, depth)

    def get_single_node(self) -> Any:
        return Composer.get_single_node(self)

    def _count(self, nodes: int, chars: int, depth: int) -> None:
        self._nodes += nodes
        self._chars += chars
        self._reach = max(self._reach, depth)
        if self._nodes > MAX_SPEC_NODES:
            raise _Limit(
                f"the spec holds more than {MAX_SPEC_NODES} values with its aliases expanded"
            )
        if self._chars > MAX_SPEC_CHARS:
            raise _Limit(
                f"the spec holds more than {MAX_SPEC_CHARS} characters of text with its "
                "aliases expanded"
            )
        if depth > MAX_SPEC_DEPTH:
            raise _Limit(f"the spec nests more than {MAX_SPEC_DEPTH} levels deep")

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            measured = self._anchored.get(str(event.anchor))
            if measured is None and event.anchor in self.anchors:
                raise _Limit(f"the alias *{show(event.anchor)} refers to itself")
            if measured is not None:
                nodes, chars, depth = measured
                self._count(nodes, chars, self._depth + depth)
            return Composer.compose_node(self, parent, index)
        anchor = getattr(event, "anchor", None)
        before = (self._nodes, self._chars, self._reach)
        self._depth += 1
        self._reach = self._depth
        value = getattr(event, "value", None)
        self._count(1, len(value) if isinstance(value, str) else 0, self._depth)
        try:
            node = Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1
        if anchor is not None:
            self._anchored[str(anchor)] = (
                self._nodes - before[0],
                self._chars - before[1],
                self._reach - self._depth,
            )
        self._reach = max(before[2], self._reach)
        return node


def parse_yaml(text: str) -> dict[str, Any]:
    """One YAML mapping, within `MAX_SPEC_CHARS`, `MAX_SPEC_NODES` and `MAX_SPEC_DEPTH`.

    Raises:
        SpecValidationError: code `malformed`: not YAML, several documents, not a mapping,
            or over a limit (checked while parsing, so a "billion laughs" document of
            nested aliases is refused before it is expanded).
    """
    if len(text) > MAX_SPEC_CHARS:
        raise SpecValidationError(
            f"the spec is {len(text)} characters long; specs are limited to {MAX_SPEC_CHARS}",
            code="malformed",
        )
    loader: _SpecLoader | None = None
    try:
        loader = _SpecLoader(text)
        doc = loader.get_single_data()
    except _Limit as exc:
        raise SpecValidationError(f"{exc}; simplify it", code="malformed") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecValidationError(
            f"malformed YAML{where}: {_cut(str(problem))}", code="malformed"
        ) from None
    except Exception as exc:
        # A scalar the safe constructor cannot build (a 5,000-digit int, 2026-13-45, an
        # empty `!!int`), or text that is not Unicode: PyYAML raises these unwrapped.
        raise SpecValidationError(
            f"malformed YAML: {type(exc).__name__}: {_cut(str(exc))}", code="malformed"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if doc is None:
        raise SpecValidationError("the spec is empty", code="malformed")
    if not isinstance(doc, dict):
        raise SpecValidationError(
            f"a spec is a YAML mapping (name: ..., model: ...), got a {type(doc).__name__}",
            code="malformed",
        )
    return {str(k)[:200]: v for k, v in doc.items()}


def check_version(doc: Mapping[str, Any]) -> None:
    """Refuse spec versions this murmur cannot read."""
    version = doc.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        raise SpecValidationError(
            f"unsupported spec version {show(version)}; this murmur reads version: {SPEC_VERSION}"
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
    for key in unknown[:10]:
        close = difflib.get_close_matches(key, [*allowed, *nested], n=1)
        if not close:
            messages.append(show(key))
        elif close[0] in nested:
            messages.append(f"{show(key)} (did you mean {close[0]!r} under {nested[close[0]]}:?)")
        else:
            messages.append(f"{show(key)} (did you mean {close[0]!r}?)")
    if len(unknown) > 10:
        messages.append(f"and {len(unknown) - 10} more")
    raise SpecValidationError(
        f"unknown field{'s' if len(unknown) > 1 else ''} in {what} spec: "
        f"{', '.join(messages)}; valid fields: {', '.join(allowed)}",
        code="unknown_field",
        details={"fields": [k[:200] for k in unknown[:100]]},
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


def invalid_spec(what: str, exc: Exception) -> SpecValidationError:
    """An unexpected error while building an agent or group from a spec, as a spec error."""
    first = str(exc).strip().splitlines()[:3]
    return SpecValidationError(
        f"invalid {what} spec: {type(exc).__name__}: {_cut(' / '.join(first), 300)}"
    )


def with_origin(exc: MurmurError, origin: str | None) -> MurmurError:
    """The same error, its message prefixed with the file it came from."""
    if origin is None or exc.details.get("file"):
        return exc
    return type(exc)(
        f"{origin}: {exc.message}", code=exc.code, details={**exc.details, "file": origin}
    )
