"""murmur-server alone on murmur-core (+ murmur-client, its dependency): `murmur serve`
answers its health check and runs one agent over HTTP; then murmur-client, installed alone
in another venv (`CLIENT_PYTHON`), runs one agent against it."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
from _smoke import HERE, Process, check, free_port, plugins_ok

TOKEN = "matrix-token-0123456789"

rows = plugins_ok("murmur-server")
check(rows["murmur-client"]["kind"] == "library", f"murmur-client: {rows['murmur-client']}")
port = free_port()
url = f"http://127.0.0.1:{port}"
server = Process(
    "-m", "murmur.cli", "serve", "--port", str(port), "--app", "smoke_app:agents",
    "--token", TOKEN, "--log-level", "warning",
)  # fmt: skip
try:
    deadline = time.monotonic() + 60
    health = None
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            health = httpx.get(f"{url}/healthz", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    check(health is not None and health.status_code == 200, f"GET /healthz: {server.lines}")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    started = httpx.post(f"{url}/runs", json={"agent": "echo", "input": "hi"}, headers=auth)
    check(started.status_code == 202, f"POST /runs: {started.status_code} {started.text}")
    run_id = started.json()["run_id"]
    result = httpx.get(f"{url}/runs/{run_id}/result", params={"wait": 30}, headers=auth, timeout=60)
    check(result.status_code == 200, f"GET /runs/{{id}}/result: {result.text}")
    check(result.json()["status"] == "completed", f"the run: {result.json()}")
    client = os.environ.get("CLIENT_PYTHON")
    if client:
        subprocess.run(
            [client, str(HERE / "check_client.py"), url, TOKEN], check=True, timeout=120, cwd=HERE
        )
finally:
    server.stop()
print("murmur-server: health and one run over HTTP" + (", and murmur-client" if client else ""))
