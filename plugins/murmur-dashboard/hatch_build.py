"""Wheel build hook: the wheel must carry the built dashboard, never ship without it.

When `src/murmur_dashboard/static/index.html` is missing and npm is on the PATH, the SPA
is built first (`npm ci` + `npm run build` in `frontend/`); otherwise the build fails with
what to run. An editable install (`uv sync`) skips the check: run the build yourself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DashboardAssetsHook(BuildHookInterface):
    """Checks (and if it can, builds) the SPA before the wheel is assembled."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        static = root / "src" / "murmur_dashboard" / "static"
        frontend = root / "frontend"
        if not _built(static) and (frontend / "package.json").is_file():
            npm = shutil.which("npm")
            if npm is not None:
                subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, check=True)
                subprocess.run([npm, "run", "build"], cwd=frontend, check=True)
        if not _built(static):
            raise RuntimeError(
                f"murmur-dashboard: no built dashboard in {static}; run `npm ci && npm run "
                f"build` in {frontend} (Node.js 20+), then build the wheel again"
            )


def _built(static: Path) -> bool:
    return (static / "index.html").is_file() and any((static / "assets").glob("*.js"))
