"""Is a plugin's `murmur-core` requirement met by the installed kernel?

Uses `packaging` when it is importable (it almost always is) and otherwise a small
fallback that understands the usual specifiers (`>=`, `<`, `==`, `!=`, `~=`, `==X.*`) on
release numbers.
"""

from __future__ import annotations

import importlib.metadata
import re

from murmur.plugins._discovery import KERNEL_DISTRIBUTION, DistributionInfo, canonical_name

__all__ = ["installed_kernel_version", "kernel_requirement_problem", "specifier_allows"]

_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"\(?(?P<spec>[^;()]*)\)?\s*(?:;(?P<marker>.*))?$"
)
_CLAUSE = re.compile(r"^\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>\S+)\s*$")


def installed_kernel_version() -> str | None:
    """The installed murmur-core version, or None when it is not installed as a distribution."""
    try:
        return importlib.metadata.version(KERNEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def kernel_requirement_problem(dist: DistributionInfo, kernel_version: str | None) -> str | None:
    """Why `dist` cannot run on `kernel_version`, or None when its requirement is met."""
    if kernel_version is None or dist.canonical_name == KERNEL_DISTRIBUTION:
        return None
    for requirement in dist.requires:
        parsed = _parse_requirement(requirement)
        if parsed is None:
            continue
        name, spec = parsed
        if canonical_name(name) == KERNEL_DISTRIBUTION and not specifier_allows(
            spec, kernel_version
        ):
            return f"requires {KERNEL_DISTRIBUTION}{spec}, but {kernel_version} is installed"
    return None


def _parse_requirement(requirement: str) -> tuple[str, str] | None:
    """`(name, specifier)` of a `Requires-Dist` line that applies without extras."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            return None
        marker = match["marker"] or ""
        if "extra" in marker:  # an optional dependency: not a requirement of the plugin
            return None
        return match["name"], match["spec"].replace(" ", "")
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return None
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return None
    return req.name, str(req.specifier)


def specifier_allows(spec: str, version: str) -> bool:
    """Whether a version specifier such as `">=0.1,<1"` allows `version` (pre-releases too)."""
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion
    except ImportError:
        return all(_clause_allows(c, version) for c in spec.split(",") if c.strip())
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True  # an unreadable specifier is pip's business, not a reason to refuse


def _release(version: str, *, strip: bool = True) -> tuple[int, ...]:
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    if match is None:
        return (0,)
    parts = [int(p) for p in match[1].split(".")]
    while strip and len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _clause_allows(clause: str, version: str) -> bool:
    match = _CLAUSE.match(clause)
    if match is None:
        return True
    op, wanted = match["op"], match["version"]
    if op in ("==", "!=") and wanted.endswith(".*"):
        prefix = tuple(int(p) for p in wanted[:-2].split(".") if p.isdigit())
        have = version.split("+")[0].split(".")
        head = tuple(int(p) for p in have[: len(prefix)] if p.isdigit())
        return (head == prefix) == (op == "==")
    mine, theirs = _release(version), _release(wanted)
    if op == "~=":
        stem = _release(wanted, strip=False)[:-1] or theirs
        padded = _release(version, strip=False) + (0,) * len(stem)
        return mine >= theirs and padded[: len(stem)] == stem
    comparisons = {
        "==": mine == theirs,
        "===": version == wanted,
        "!=": mine != theirs,
        "<=": mine <= theirs,
        ">=": mine >= theirs,
        "<": mine < theirs,
        ">": mine > theirs,
    }
    return comparisons[op]
