"""murmur-dashboard: a read-only web dashboard, served by `murmur serve` at `/dashboard/`.

Installing the distribution is enough for `murmur serve`. On your own FastAPI app, mount it
next to the API router:

```python
from fastapi import FastAPI
from murmur_dashboard import mount_dashboard
from murmur_server import create_router

app = FastAPI()
app.include_router(create_router(runtime, token=token), prefix="/murmur")
mount_dashboard(app, api_prefix="/murmur")  # the page at /dashboard/ calls /murmur/...
```

The page talks only to the documented HTTP API and its SSE stream, with the token the user
types in once (kept for the browser session). FastAPI is imported on first use only.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from murmur_dashboard._assets import DashboardNotBuiltError, static_dir

if TYPE_CHECKING:
    from murmur_dashboard._mount import DASHBOARD_PATH, DashboardApp, mount_dashboard

__all__ = [
    "DASHBOARD_PATH",
    "DashboardApp",
    "DashboardNotBuiltError",
    "mount_dashboard",
    "static_dir",
]

_LAZY = {
    "DASHBOARD_PATH": "murmur_dashboard._mount",
    "DashboardApp": "murmur_dashboard._mount",
    "mount_dashboard": "murmur_dashboard._mount",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur_dashboard' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
