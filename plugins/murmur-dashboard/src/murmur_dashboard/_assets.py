"""Where the built SPA lives inside the installed package, and the error when it is not there."""

from __future__ import annotations

from pathlib import Path

from murmur import MurmurError

__all__ = ["DashboardNotBuiltError", "static_dir"]

_STATIC = Path(__file__).with_name("static")


class DashboardNotBuiltError(MurmurError):
    """The dashboard's built assets are missing (a source checkout that was never built)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            f"the dashboard's built assets are missing from {directory}: install "
            "murmur-dashboard from a wheel, or in a checkout run `npm ci && npm run build` "
            "in plugins/murmur-dashboard/frontend",
            code="dashboard_not_built",
            details={"directory": str(directory)},
        )


def static_dir() -> Path:
    """The directory of the built dashboard (`index.html` and `assets/`).

    Raises:
        DashboardNotBuiltError: the assets are not there.
    """
    if not (_STATIC / "index.html").is_file():
        raise DashboardNotBuiltError(_STATIC)
    return _STATIC
