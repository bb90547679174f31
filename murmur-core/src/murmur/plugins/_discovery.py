"""Phase 1 of plugin discovery: read package metadata, import nothing.

`PluginIndex.scan()` lists every installed distribution that declares an entry point in a
`murmur.*` group, with the distribution each entry point comes from. stevedore's own
entry-point cache drops that distribution, and murmur needs it: to honour
`MURMUR_DISABLE_PLUGINS`, to name the two distributions in a conflict, and to check a
plugin's `murmur-core` requirement. So the index is read here, with `importlib.metadata`,
and stevedore is handed the entry point the index selected (see `murmur.plugins.builtin`).

This module is on the `murmur --help` path: it imports only the standard library.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from murmur.core.errors import RegistryError

__all__ = [
    "DISABLE_ENV_VAR",
    "GROUPS",
    "KERNEL_DISTRIBUTION",
    "DistributionInfo",
    "EntryPointInfo",
    "PluginIndex",
    "canonical_name",
    "parse_disabled",
    "scheme_of",
    "tool_provider_kind",
]

DISABLE_ENV_VAR = "MURMUR_DISABLE_PLUGINS"
"""Environment variable naming plugins (or distributions) to leave out, comma-separated."""

KERNEL_DISTRIBUTION = "murmur-core"
"""The kernel's distribution; it cannot be disabled."""

KERNEL_PLUGIN = "core"
"""The name of the kernel's own `murmur.plugins` entry point."""

GROUP_PREFIX = "murmur."

GROUPS = (
    "murmur.backends",
    "murmur.stores",
    "murmur.emitters",
    "murmur.context_passers",
    "murmur.tool_providers",
    "murmur.machines",
    "murmur.commands",
    "murmur.plugins",
)
"""The entry-point groups murmur reads. Other `murmur.*` groups are listed, never loaded."""

_NORMALIZE = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """The PEP 503 form of a distribution name: `Murmur_Redis` -> `murmur-redis`."""
    return _NORMALIZE.sub("-", name).lower().strip()


def parse_disabled(value: str | Iterable[str] | None) -> frozenset[str]:
    """Canonical names from `MURMUR_DISABLE_PLUGINS`-style input (a string or an iterable).

    `None` reads the environment variable.
    """
    if value is None:
        value = os.environ.get(DISABLE_ENV_VAR, "")
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(canonical_name(item) for item in items if item.strip())


def scheme_of(url: str) -> str:
    """The lower-cased URL scheme (the part before `://`); the whole string if there is none."""
    scheme, sep, _ = url.partition("://")
    return (scheme if sep else url).strip().lower()


def tool_provider_kind(spec: object) -> str | None:
    """The provider name in a tool-provider spec: the string itself, or `spec["kind"]`."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        kind = spec.get("kind")
        return kind if isinstance(kind, str) else None
    return None


@dataclass(frozen=True, slots=True)
class EntryPointInfo:
    """One entry point in a `murmur.*` group, and the distribution that declares it."""

    group: str
    name: str
    value: str
    distribution: str
    entry_point: importlib.metadata.EntryPoint = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        """`group:name` without the `murmur.` prefix, as `murmur plugins list` shows it."""
        return f"{self.group.removeprefix(GROUP_PREFIX)}:{self.name}"

    def load(self) -> object:
        """Import the entry point's target (phase 2); raises whatever the import raises."""
        return self.entry_point.load()


@dataclass(frozen=True, slots=True)
class DistributionInfo:
    """An installed distribution that declares at least one `murmur.*` entry point."""

    name: str
    version: str
    summary: str
    requires: tuple[str, ...]
    entry_points: tuple[EntryPointInfo, ...]

    @property
    def canonical_name(self) -> str:
        """The distribution's PEP 503 name."""
        return canonical_name(self.name)

    @property
    def plugin_names(self) -> tuple[str, ...]:
        """Names of this distribution's `murmur.plugins` entry points."""
        return tuple(ep.name for ep in self.entry_points if ep.group == "murmur.plugins")

    @classmethod
    def from_distribution(cls, dist: importlib.metadata.Distribution) -> DistributionInfo | None:
        """Read a distribution's murmur entry points; None when it declares none."""
        murmur_eps = [ep for ep in dist.entry_points if ep.group.startswith(GROUP_PREFIX)]
        if not murmur_eps:
            return None
        meta = dist.metadata
        name = meta["Name"] or "unknown"
        return cls(
            name=name,
            version=meta["Version"] or "0",
            summary=meta["Summary"] or "",
            requires=tuple(dist.requires or ()),
            entry_points=tuple(
                EntryPointInfo(ep.group, ep.name, ep.value, name, ep)
                for ep in sorted(murmur_eps, key=lambda ep: (ep.group, ep.name))
            ),
        )


_Dists = tuple[DistributionInfo, ...]


def _read(path: list[str]) -> _Dists:
    found: dict[str, DistributionInfo] = {}
    for dist in importlib.metadata.distributions(path=path):
        try:
            info = DistributionInfo.from_distribution(dist)
        except Exception:  # unreadable metadata is not ours to crash on
            continue
        # The first copy on the path wins, as it does for `import`.
        if info is not None and info.canonical_name not in found:
            found[info.canonical_name] = info
    return tuple(found.values())


def _fingerprint(path: list[str]) -> tuple[Any, ...]:
    """What changes when a distribution is installed into or removed from `path`.

    Each directory's modification time and link count (a new `.dist-info` directory is a
    new entry, and a new subdirectory on most file systems).
    """
    out: list[Any] = []
    for entry in path:
        try:
            stat = os.stat(entry or ".")
        except OSError:
            out.append((entry, None))
        else:
            out.append((entry, stat.st_mtime_ns, stat.st_nlink))
    return tuple(out)


class _ScanCache:
    """The last index read per search path, kept like Python's own import caches.

    Reading every installed distribution's metadata takes tens of milliseconds, and each
    runtime's plugin host asks for it. The last reading of a path is reused while no
    directory on it changed and `importlib.invalidate_caches()` was not called since (the
    call Python asks of a program that installs something while it runs; this cache sits
    on `sys.meta_path` to hear it, and finds no modules).
    """

    def __init__(self) -> None:
        # search path -> (its fingerprint when read, what was read)
        self._readings: dict[tuple[str, ...], tuple[tuple[Any, ...], _Dists]] = {}
        self._listening = False

    def read(self, path: list[str] | None) -> _Dists:
        """The distributions on `path` (default `sys.path`) that declare murmur entry points."""
        if not self._listening:
            self._listening = True
            sys.meta_path.append(self)
        search = list(sys.path) if path is None else list(path)
        key, fingerprint = tuple(search), _fingerprint(search)
        reading = self._readings.get(key)
        if reading is not None and reading[0] == fingerprint:
            return reading[1]
        dists = _read(search)
        if len(self._readings) >= 16:
            self._readings.clear()
        self._readings[key] = (fingerprint, dists)
        return dists

    def invalidate_caches(self) -> None:
        """Forget every reading (called by `importlib.invalidate_caches()`)."""
        self._readings.clear()

    def find_spec(self, *args: Any, **kwargs: Any) -> None:
        """Find nothing: this finder only listens for `invalidate_caches`."""
        return None


_SCANS = _ScanCache()


class PluginIndex:
    """Every installed murmur entry point, by group and name, from metadata alone.

    Args:
        distributions: The distributions to index (see `scan`).
        disabled: Canonical names to leave out: a distribution name, or the name of one of
            its `murmur.plugins` entry points; either disables the whole distribution.
            The kernel (`murmur-core`, plugin `core`) cannot be disabled.
    """

    def __init__(
        self, distributions: Iterable[DistributionInfo], *, disabled: Iterable[str] = ()
    ) -> None:
        self.distributions: tuple[DistributionInfo, ...] = tuple(
            sorted(distributions, key=lambda d: d.canonical_name)
        )
        self.disabled_names: frozenset[str] = frozenset(canonical_name(n) for n in disabled)
        self._disabled_dists = frozenset(
            d.canonical_name
            for d in self.distributions
            if d.canonical_name != KERNEL_DISTRIBUTION and self._matches_disabled(d)
        )

    @classmethod
    def scan(
        cls,
        *,
        disabled: str | Iterable[str] | None = None,
        path: list[str] | None = None,
    ) -> PluginIndex:
        """Index the distributions on `path` (default `sys.path`) without importing them.

        Args:
            disabled: Names to disable; None reads `MURMUR_DISABLE_PLUGINS`.
            path: Directories to search instead of `sys.path`.
        """
        return cls(_SCANS.read(path), disabled=parse_disabled(disabled))

    def _matches_disabled(self, dist: DistributionInfo) -> bool:
        names = {dist.canonical_name, *(canonical_name(n) for n in dist.plugin_names)}
        return bool(names & self.disabled_names)

    def is_disabled(self, distribution: str) -> bool:
        """Whether a distribution is disabled."""
        return canonical_name(distribution) in self._disabled_dists

    def entry_points(
        self, group: str, name: str | None = None, *, include_disabled: bool = False
    ) -> list[EntryPointInfo]:
        """Entry points of `group` (optionally only `name`), in distribution-name order."""
        return [
            ep
            for dist in self.distributions
            if include_disabled or dist.canonical_name not in self._disabled_dists
            for ep in dist.entry_points
            if ep.group == group and (name is None or ep.name == name)
        ]

    def names(self, group: str) -> list[str]:
        """The selectable names of a group, sorted."""
        return sorted({ep.name for ep in self.entry_points(group)})

    def conflicts(self) -> dict[str, list[str]]:
        """`group:name` keys claimed by two or more enabled distributions -> their names."""
        claims: dict[str, list[str]] = {}
        for ep in self.entry_points_all():
            claims.setdefault(ep.key, []).append(ep.distribution)
        return {key: dists for key, dists in claims.items() if len(dists) > 1}

    def entry_points_all(self) -> list[EntryPointInfo]:
        """Every enabled entry point of every `murmur.*` group."""
        return [
            ep
            for dist in self.distributions
            if dist.canonical_name not in self._disabled_dists
            for ep in dist.entry_points
        ]

    def external_plugins(self) -> list[EntryPointInfo]:
        """Enabled `murmur.plugins` entry points other than the kernel's own `core`.

        Cheap (no imports): a runtime can skip building a `PluginHost` when this is empty.
        """
        return [
            ep
            for ep in self.entry_points("murmur.plugins")
            if not (
                canonical_name(ep.distribution) == KERNEL_DISTRIBUTION and ep.name == KERNEL_PLUGIN
            )
        ]

    def select(self, group: str, name: str) -> EntryPointInfo | None:
        """The one enabled entry point called `name` in `group`, or None if there is none.

        Raises:
            RegistryError: Two enabled distributions declare the name (code `"conflict"`).
                Uninstall or disable one of them (`MURMUR_DISABLE_PLUGINS`).
        """
        matches = self.entry_points(group, name)
        if len(matches) > 1:
            dists = [ep.distribution for ep in matches]
            raise RegistryError(
                f'"{name}" in entry-point group {group} is provided by more than one '
                f"distribution ({', '.join(dists)}): uninstall one, or disable it with "
                f"{DISABLE_ENV_VAR}",
                code="conflict",
                details={"group": group, "name": name, "distributions": dists},
            )
        return matches[0] if matches else None

    def disabled_provider(self, group: str, name: str) -> str | None:
        """The disabled distribution that would have provided `name`, if any."""
        for ep in self.entry_points(group, name, include_disabled=True):
            if self.is_disabled(ep.distribution):
                return ep.distribution
        return None
