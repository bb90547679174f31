"""Fake installed distributions, for testing plugin discovery without installing anything.

`FakeSite.add(...)` writes `<name>-<version>.dist-info/{METADATA,entry_points.txt}` and the
plugin's modules into one directory. Put that directory on `sys.path` (in-process:
`importlib.metadata` finds it) or on `PYTHONPATH` (for a subprocess).
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from murmur.plugins import PluginIndex

__all__ = ["FakeSite", "only", "subprocess_env"]


class FakeSite:
    """A directory of fake distributions; remembers the modules it wrote, to forget them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.module_names: set[str] = set()
        self.names: set[str] = {"murmur-core"}

    def add(
        self,
        name: str,
        *,
        version: str = "1.0",
        entry_points: Mapping[str, Mapping[str, str]] | None = None,
        modules: Mapping[str, str] | None = None,
        requires: tuple[str, ...] = (),
        summary: str = "",
    ) -> Path:
        """Write one distribution: its metadata, entry points and top-level modules."""
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        self.names.add(name)
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        if summary:
            lines.append(f"Summary: {summary}")
        lines += [f"Requires-Dist: {req}" for req in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        groups = [
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
            for group, eps in (entry_points or {}).items()
        ]
        (info / "entry_points.txt").write_text("\n".join(groups))
        for module, source in (modules or {}).items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            self.module_names.add(module)
        importlib.invalidate_caches()
        return info

    def forget_modules(self) -> None:
        """Drop the written modules from `sys.modules`, so the next test imports afresh."""
        for module in self.module_names:
            sys.modules.pop(module, None)


def only(names: set[str]) -> Any:
    """A replacement for `PluginIndex.scan` that sees only the named distributions.

    Patched in (`monkeypatch.setattr(PluginIndex, "scan", only(site.names))`), it hides
    whatever else the test environment has installed, such as the workspace's own plugins.
    """
    scan = PluginIndex.scan.__func__

    def scan_only(
        cls: type[PluginIndex], *, disabled: Any = None, path: list[str] | None = None
    ) -> PluginIndex:
        index = scan(cls, disabled=disabled, path=path)
        kept = [d for d in index.distributions if d.name in names]
        return cls(kept, disabled=index.disabled_names)

    return classmethod(scan_only)


def subprocess_env(*paths: Path, **extra: str) -> dict[str, str]:
    """The current environment with `paths` first on `PYTHONPATH`, without plugin filters."""
    env = {k: v for k, v in os.environ.items() if k != "MURMUR_DISABLE_PLUGINS"}
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *([existing] if existing else [])])
    env.update(extra)
    return env
