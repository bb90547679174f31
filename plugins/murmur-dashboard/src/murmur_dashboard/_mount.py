"""`mount_dashboard`: serve the built SPA at a path of a FastAPI / Starlette app."""

from __future__ import annotations

import html
from typing import Any

from murmur_server import serve_without_token
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from murmur import MurmurError
from murmur_dashboard._assets import static_dir

__all__ = ["DASHBOARD_PATH", "DashboardApp", "mount_dashboard"]

DASHBOARD_PATH = "/dashboard"
"""Where `murmur serve` mounts the dashboard."""

_API_META = '<meta name="murmur-api" content="">'
_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'"
)


class DashboardApp(StaticFiles):
    """The built SPA as an ASGI app: static files, and `index.html` told where the API is.

    Args:
        api_prefix: the path the murmur API is mounted at on the same origin ("" for
            `murmur serve`, "/murmur" for `app.include_router(..., prefix="/murmur")`).
    """

    def __init__(self, api_prefix: str = "") -> None:
        directory = static_dir()
        super().__init__(directory=directory)
        page = (directory / "index.html").read_text("utf-8")
        if _API_META not in page:
            raise MurmurError(
                f"{directory / 'index.html'} has no murmur-api meta tag: rebuild the dashboard",
                code="dashboard_not_built",
            )
        meta = f'<meta name="murmur-api" content="{html.escape(api_prefix.rstrip("/"))}">'
        self.index = page.replace(_API_META, meta)

    async def get_response(self, path: str, scope: Any) -> Response:
        """`index.html` (never cached: it names the current assets) or a hashed asset."""
        if path in ("", ".", "index.html"):
            headers = {"Cache-Control": "no-cache", "Content-Security-Policy": _CSP}
            return HTMLResponse(self.index, headers=headers)
        response = await super().get_response(path, scope)
        if path.startswith("assets/") and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount_dashboard(app: Any, *, path: str = DASHBOARD_PATH, api_prefix: str | None = None) -> None:
    """Serve the dashboard at `path` of `app` (a FastAPI or Starlette app).

    The page and its scripts are served without a token (they hold no data; a browser
    loads them before it can send one); every API call the page makes sends the token the
    user signs in with.

    Args:
        app: the app that also serves the murmur API (same origin).
        path: where to serve it, e.g. "/dashboard" (the page is at `path + "/"`).
        api_prefix: where the API is on this app; default: the `prefix` given to
            `create_app` (or "").

    Raises:
        DashboardNotBuiltError: the package has no built assets (a source checkout).
        MurmurError: `path` is not of the form "/name".
    """
    if api_prefix is None:
        api_prefix = str(getattr(app.state, "murmur_api_prefix", "") or "")
    dashboard = DashboardApp(api_prefix)
    serve_without_token(app, path)
    app.mount(path, dashboard, name="murmur-dashboard")
