"""The plugin's hook: `murmur serve` mounts the dashboard at `/dashboard/`."""

from __future__ import annotations

from typing import Any

from murmur.hookspecs import hookimpl

__all__ = ["murmur_server_routes"]


@hookimpl
def murmur_server_routes(app: Any) -> None:
    """Mount the dashboard at `/dashboard/` (unless the app already serves something there)."""
    from murmur_dashboard._mount import DASHBOARD_PATH, mount_dashboard

    taken = any(getattr(r, "path", None) == DASHBOARD_PATH for r in app.router.routes)
    if not taken:
        mount_dashboard(app)
