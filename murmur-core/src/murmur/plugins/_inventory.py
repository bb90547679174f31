"""What `murmur plugins list` reports: one row per distribution that extends murmur.

Phase 1 is `PluginIndex.scan()` (metadata, no imports). Phase 2, here, imports each entry
point in its own try, so one broken plugin shows as `error` and hides nothing else.
Libraries built on murmur that declare no entry points (murmur-client) are listed too, as
such, from their metadata alone.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, Literal

from murmur import hookspecs
from murmur.plugins._compat import (
    _parse_requirement,
    installed_kernel_version,
    kernel_requirement_problem,
)
from murmur.plugins._discovery import (
    GROUPS,
    KERNEL_DISTRIBUTION,
    DistributionInfo,
    EntryPointInfo,
    PluginIndex,
    canonical_name,
)
from murmur.plugins.host import plugin_object, plugin_problems

__all__ = ["PluginReport", "PluginStatus", "inventory"]

PluginStatus = Literal["ok", "error", "conflict", "incompatible", "disabled"]

PluginKind = Literal["plugin", "library"]
"""`plugin`: declares `murmur.*` entry points; `library`: requires murmur-core, declares none."""


@dataclass(frozen=True, slots=True)
class PluginReport:
    """The state of one distribution that declares `murmur.*` entry points, or of a murmur library.

    A library requires murmur-core and declares no entry points (`kind="library"`: nothing to load,
    so its status is `ok` or `incompatible`).

    Attributes:
        name: Distribution name, e.g. `"murmur-redis"`.
        version: Installed version.
        provides: `group:name` of each entry point, e.g. `"backends:redis"`.
        hooks: Hooks implemented by its `murmur.plugins` entry points.
        status: `ok`, `error` (an entry point failed to load or a hook is invalid),
            `conflict` (another distribution claims one of its names), `incompatible` (its
            `murmur-core` requirement is not met) or `disabled`. With several problems,
            the first in that order wins and `error` lists them all.
        error: What is wrong, or None.
        kind: `plugin` or `library`.
    """

    name: str
    version: str
    provides: list[str]
    hooks: list[str]
    status: PluginStatus
    error: str | None
    kind: PluginKind = "plugin"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by `murmur plugins list --json`."""
        return {
            "name": self.name,
            "version": self.version,
            "provides": list(self.provides),
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
            "kind": self.kind,
        }


def inventory(index: PluginIndex | None = None) -> list[PluginReport]:
    """Load every murmur entry point, each in its own try, and report per distribution.

    Args:
        index: The phase-1 index to report on; by default `PluginIndex.scan()`, which honours
            `MURMUR_DISABLE_PLUGINS`.
    """
    scanned = index is None
    index = index if index is not None else PluginIndex.scan()
    conflicts = index.conflicts()
    kernel_version = installed_kernel_version()
    reports = [_report(dist, index, conflicts, kernel_version) for dist in index.distributions]
    if scanned:  # an index given by the caller is all it wants reported
        known = {canonical_name(r.name) for r in reports}
        reports += [r for r in libraries(kernel_version) if canonical_name(r.name) not in known]
        reports.sort(key=lambda r: canonical_name(r.name))
    return reports


def libraries(kernel_version: str | None = None) -> list[PluginReport]:
    """Installed `murmur-*` libraries (no `murmur.*` entry point), as `kind="library"` reports.

    A library is a distribution that requires murmur-core and declares no `murmur.*` entry point
    (murmur-client). Metadata only: nothing is imported. (An application that merely depends on
    murmur is not listed.)
    """
    found: dict[str, PluginReport] = {}
    for dist in importlib.metadata.distributions():
        try:
            if not canonical_name(dist.metadata["Name"] or "").startswith("murmur-"):
                continue
            if any(ep.group.startswith("murmur.") for ep in dist.entry_points):
                continue
            requires = tuple(dist.requires or ())
            if not any(
                parsed is not None and canonical_name(parsed[0]) == KERNEL_DISTRIBUTION
                for parsed in map(_parse_requirement, requires)
            ):
                continue
            info = DistributionInfo(
                name=dist.metadata["Name"] or "unknown",
                version=dist.metadata["Version"] or "0",
                summary=dist.metadata["Summary"] or "",
                requires=requires,
                entry_points=(),
            )
        except Exception:  # unreadable metadata is not ours to crash on
            continue
        if info.canonical_name in found:  # the first copy on the path wins, as for import
            continue
        problem = kernel_requirement_problem(info, kernel_version)
        found[info.canonical_name] = PluginReport(
            info.name,
            info.version,
            [],
            [],
            "incompatible" if problem else "ok",
            problem,
            kind="library",
        )
    return list(found.values())


def _report(
    dist: DistributionInfo,
    index: PluginIndex,
    conflicts: dict[str, list[str]],
    kernel_version: str | None,
) -> PluginReport:
    provides = [ep.key for ep in dist.entry_points]
    if index.is_disabled(dist.name):
        return PluginReport(dist.name, dist.version, provides, [], "disabled", None)
    errors: list[str] = []
    hooks: set[str] = set()
    for ep in dist.entry_points:
        if ep.group not in GROUPS:
            continue  # a group from a newer murmur: listed, not ours to load
        try:
            hooks.update(_check(ep, index))
        except Exception as exc:
            errors.append(f"{ep.key}: {type(exc).__name__}: {exc}")
    clashes = [
        f"{key} is also provided by {', '.join(d for d in dists if d != dist.name)}"
        for key, dists in conflicts.items()
        if dist.name in dists
    ]
    incompatible = kernel_requirement_problem(dist, kernel_version)
    problems = [*errors, *clashes, *([incompatible] if incompatible else [])]
    status: PluginStatus = (
        "error" if errors else "conflict" if clashes else "incompatible" if incompatible else "ok"
    )
    return PluginReport(
        dist.name,
        dist.version,
        provides,
        sorted(hooks),
        status,
        "; ".join(problems) or None,
    )


def _check(ep: EntryPointInfo, index: PluginIndex) -> list[str]:
    """Load one entry point; return the hooks it implements. Raises what is wrong with it."""
    loaded = ep.load()
    if ep.group == "murmur.plugins":
        return _hook_names(loaded, index)
    if ep.group == "murmur.commands":
        import click

        if not isinstance(loaded, click.Command):
            raise TypeError(f"{ep.value} is a {type(loaded).__name__}, not a click.Command")
    elif not callable(loaded):
        raise TypeError(f"{ep.value} is a {type(loaded).__name__}, not a factory")
    return []


def _hook_names(loaded: object, index: PluginIndex) -> list[str]:
    """Register a plugin with a scratch manager, as the host would; return its hook names."""
    import pluggy

    pm = pluggy.PluginManager("murmur")
    pm.add_hookspecs(hookspecs)
    plugin = plugin_object(loaded, index)
    pm.register(plugin)
    problems = plugin_problems(pm, plugin)
    if problems:
        raise pluggy.PluginValidationError(plugin, "; ".join(problems))
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
