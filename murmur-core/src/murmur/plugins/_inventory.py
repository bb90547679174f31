"""What `murmur plugins list` reports: one row per distribution that extends murmur.

Phase 1 is `PluginIndex.scan()` (metadata, no imports). Phase 2, here, imports each entry
point in its own try, so one broken plugin shows as `error` and hides nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from murmur.plugins._compat import installed_kernel_version, kernel_requirement_problem
from murmur.plugins._discovery import GROUPS, DistributionInfo, EntryPointInfo, PluginIndex

__all__ = ["PluginReport", "PluginStatus", "inventory"]

PluginStatus = Literal["ok", "error", "conflict", "incompatible", "disabled"]


@dataclass(frozen=True, slots=True)
class PluginReport:
    """The state of one distribution that declares `murmur.*` entry points.

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
    """

    name: str
    version: str
    provides: list[str]
    hooks: list[str]
    status: PluginStatus
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by `murmur plugins list --json`."""
        return {
            "name": self.name,
            "version": self.version,
            "provides": list(self.provides),
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
        }


def inventory(index: PluginIndex | None = None) -> list[PluginReport]:
    """Load every murmur entry point, each in its own try, and report per distribution.

    Args:
        index: The phase-1 index to report on; by default `PluginIndex.scan()`, which honours
            `MURMUR_DISABLE_PLUGINS`.
    """
    index = index if index is not None else PluginIndex.scan()
    conflicts = index.conflicts()
    kernel_version = installed_kernel_version()
    return [_report(dist, index, conflicts, kernel_version) for dist in index.distributions]


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

    from murmur import hookspecs
    from murmur.plugins.host import plugin_object, plugin_problems

    pm = pluggy.PluginManager("murmur")
    pm.add_hookspecs(hookspecs)
    plugin = plugin_object(loaded, index)
    pm.register(plugin)
    problems = plugin_problems(pm, plugin)
    if problems:
        raise pluggy.PluginValidationError(plugin, "; ".join(problems))
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
