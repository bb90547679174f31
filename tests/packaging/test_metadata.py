"""What every distribution's metadata promises a user, checked from the sources (fast; the
built artifacts are checked by `.ci/install-matrix`): a LICENSE, a README that is a real long
description, URLs, classifiers and keywords; every imported library declared; the same upper
bound on each library whose next major release is known to break us."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {
    "murmur-core": ROOT / "murmur-core",
    **{p.name: p for p in sorted((ROOT / "plugins").iterdir()) if (p / "pyproject.toml").is_file()},
}
BOUNDED = {
    "pydantic-ai-slim": "<3",
    "faststream": "<0.8",
    "mcp": "<3",
    "opentelemetry-api": "<2",
    "opentelemetry-sdk": "<2",
    "opentelemetry-exporter-otlp-proto-http": "<2",
}
"""Libraries whose next major release is known (or, for 0.x, likely) to break us."""

NAMESPACES = {
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry": "opentelemetry-api",
    "murmur": "murmur-core",
}
"""Import prefixes shared by several distributions, longest first: which one provides it."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project(name: str) -> dict[str, Any]:
    return tomllib.loads((DISTRIBUTIONS[name] / "pyproject.toml").read_text())["project"]


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def requirements(name: str) -> list[str]:
    meta = project(name)
    extras = [r for group in meta.get("optional-dependencies", {}).values() for r in group]
    return [*meta.get("dependencies", []), *extras]


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_a_distribution_carries_license_urls_classifiers_and_keywords(name: str) -> None:
    """LICENSE (the repository's), license-files, project URLs, classifiers, keywords."""
    meta = project(name)
    license_file = DISTRIBUTIONS[name] / "LICENSE"

    assert license_file.read_text() == (ROOT / "LICENSE").read_text()
    assert meta["license"] == "MIT"
    assert meta["license-files"] == ["LICENSE"]
    assert {"Homepage", "Documentation", "Repository", "Issues"} <= set(meta["urls"])
    assert "Typing :: Typed" in meta["classifiers"]
    assert "Programming Language :: Python :: 3.11" in meta["classifiers"]
    assert meta["keywords"]
    assert meta["readme"] == "README.md"


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_the_readme_is_a_real_long_description(name: str) -> None:
    """What it is, how to install it, a minimal example; links that work on PyPI."""
    readme = (DISTRIBUTIONS[name] / "README.md").read_text()

    assert readme.startswith(f"# {name}\n")
    assert len(readme) > 400
    assert re.search(rf"pip install [^\n]*\b{name}\b", readme), "how to install it"
    assert "```python" in readme or "```bash" in readme
    assert not re.findall(r"\]\((?!https?://|#)[^)]*\)", readme), "relative links break on PyPI"


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_every_imported_library_is_declared(name: str) -> None:
    """Each third-party module the distribution's code imports comes from a declared
    dependency (or extra), not from a dependency of a dependency."""
    owners = packages_distributions()
    declared = {requirement_name(r) for r in requirements(name)}
    own = {p.name for p in (DISTRIBUTIONS[name] / "src").iterdir()}
    undeclared: dict[str, str] = {}
    for path in (DISTRIBUTIONS[name] / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in own or top == "__future__":
                    continue
                prefix = next((p for p in NAMESPACES if f"{module}.".startswith(f"{p}.")), None)
                # (an editable install registers no top-level names: murmur_x is murmur-x)
                provider = NAMESPACES[prefix] if prefix else canonical(owners.get(top, [top])[0])
                if provider != canonical(name) and provider not in declared:
                    undeclared[provider] = f"{path.relative_to(ROOT)}: import {module}"
    assert undeclared == {}


def test_breaking_majors_are_bounded_the_same_way_everywhere() -> None:
    """pydantic-ai-slim, faststream, mcp and opentelemetry carry the same upper bound in
    every distribution that requires them."""
    seen: dict[str, set[str]] = {}
    for name in DISTRIBUTIONS:
        for requirement in requirements(name):
            library = requirement_name(requirement)
            if library in BOUNDED:
                assert BOUNDED[library] in requirement, f"{name}: {requirement}"
                seen.setdefault(library, set()).add(name)
    assert set(seen) >= {"pydantic-ai-slim", "faststream", "mcp", "opentelemetry-api"}


def test_the_install_matrix_installs_every_distribution() -> None:
    """Each distribution is installed, from its wheel, by some scenario of the matrix."""
    matrix = (ROOT / ".ci" / "install-matrix").read_text()

    assert [n for n in DISTRIBUTIONS if f'"{n}"' not in matrix] == []
