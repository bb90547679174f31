"""murmur-dashboard on murmur-server: `murmur serve` serves the dashboard at /dashboard/."""

from __future__ import annotations

import time

import httpx
from _smoke import Process, check, free_port, plugins_ok

plugins_ok("murmur-server", "murmur-dashboard")
port = free_port()
url = f"http://127.0.0.1:{port}"
server = Process(
    "-m", "murmur.cli", "serve", "--port", str(port), "--app", "smoke_app:agents",
    "--token", "matrix-token-0123456789", "--log-level", "warning",
)  # fmt: skip
try:
    page = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            page = httpx.get(f"{url}/dashboard/", timeout=2, follow_redirects=True)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    check(page is not None and page.status_code == 200, f"GET /dashboard/: {server.lines}")
    check("<html" in page.text.lower() if page is not None else False, "an HTML page")
finally:
    server.stop()
print("murmur-dashboard: served at /dashboard/ by murmur serve")
