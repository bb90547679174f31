"""Every hook is documented with its exact signature, and every hook is tested.

Copied from datasette's `tests/test_docs.py`: a hook added without documentation or a test
fails here, not in a user's plugin.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from murmur import hookspecs

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_DOC = ROOT / "docs" / "plugins.md"
HEADING = re.compile(r"^### `(?P<name>murmur_\w+)\((?P<args>[^)]*)\)`$", re.MULTILINE)


def hookspec_names() -> list[str]:
    """The hooks `murmur.hookspecs` declares (functions marked by `hookspec`)."""
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, "murmur_spec")
    )


def documented() -> dict[str, list[str]]:
    """Hook name -> argument names, from the `### \\`murmur_x(a, b)\\`` headings of the doc."""
    text = PLUGINS_DOC.read_text()
    return {
        m["name"]: [a.strip() for a in m["args"].split(",") if a.strip()]
        for m in HEADING.finditer(text)
    }


def section(name: str) -> str:
    """The doc text from a hook's heading to the next heading."""
    text = PLUGINS_DOC.read_text()
    start = text.index(f"### `{name}(")
    end = text.find("\n#", start + 1)
    return text[start : end if end != -1 else None]


def test_every_hook_is_prefixed_murmur() -> None:
    """Hook names share one prefix, so a plugin's hooks are easy to find and to grep."""
    specs = hookspec_names()

    assert specs
    assert all(name.startswith("murmur_") for name in specs)


def test_the_documented_hooks_are_exactly_the_hookspecs() -> None:
    """No hook is undocumented, and the doc describes no hook that does not exist."""
    assert hookspec_names() == sorted(documented())


@pytest.mark.parametrize("name", hookspec_names())
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    """The heading's arguments are the hookspec's arguments, in order."""
    parameters = list(inspect.signature(getattr(hookspecs, name)).parameters)

    assert parameters == documented()[name]


@pytest.mark.parametrize("name", hookspec_names())
def test_firstresult_hooks_say_so(name: str) -> None:
    """A firstresult hook's documentation says it is firstresult (return None to pass)."""
    firstresult = getattr(hookspecs, name).murmur_spec.get("firstresult", False)

    assert firstresult == ("`firstresult`" in section(name))


@pytest.mark.parametrize("name", hookspec_names())
def test_hook_has_a_one_line_docstring(name: str) -> None:
    """Each hookspec says in one line what it is for."""
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""

    assert doc
    assert len(doc.splitlines()) == 1


@pytest.mark.parametrize("name", hookspec_names())
def test_hook_is_exercised_by_a_test(name: str) -> None:
    """Some test other than this one implements or calls the hook."""
    tests = ROOT / "tests"
    this = Path(__file__).resolve()
    sources = (p.read_text() for p in tests.rglob("*.py") if p.resolve() != this)

    assert any(name in source for source in sources), f"no test mentions {name}"
