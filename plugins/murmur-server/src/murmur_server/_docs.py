"""The API docs pages (`/docs`, `/redoc`) with their assets served by the app itself.

FastAPI's defaults load Swagger UI and ReDoc from a CDN, so the pages are blank offline or
behind a firewall. The assets ship in the `fastapi-offline` wheel; this serves them locally.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_ASSETS_PATH", "docs_assets_dir", "install_docs"]

DOCS_ASSETS_PATH = "/docs/assets"
"""Where the Swagger UI / ReDoc files are served (no token needed: they hold no data)."""


def docs_assets_dir() -> Path:
    """The directory of the Swagger UI / ReDoc assets shipped by `fastapi-offline`."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, title: str) -> None:
    """Serve `/docs` (Swagger UI), `/redoc` and their assets from this app (no CDN)."""
    assets = DOCS_ASSETS_PATH
    openapi_url = app.openapi_url or "/openapi.json"
    oauth_redirect = "/docs/oauth2-redirect"

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            oauth2_redirect_url=oauth_redirect,
        )

    async def redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger, include_in_schema=False)
    app.add_api_route(oauth_redirect, redirect, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
    app.mount(assets, StaticFiles(directory=docs_assets_dir()), name="murmur-docs-assets")
