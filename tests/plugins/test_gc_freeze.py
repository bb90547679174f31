"""The processes murmur owns freeze their start-up heap out of the garbage collector's walks.

`murmur worker start` and `murmur serve` call `gc.freeze()` after start-up (PydanticAI
imported) and before their first task; `--no-gc-freeze` leaves the collector as it is. Each
test asks the real process how many objects it froze: the agent it serves answers with
`gc.get_freeze_count()` from inside its run.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from pathlib import Path

import httpx
import pytest

from murmur import Agent, AgentRuntime
from murmur.core.heap import freeze_startup_heap
from murmur.testing import require_service
from murmur.testing.fleet_processes import WorkerProcesses, collect_fleet_events

APP = """
import gc

from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel

from murmur import Agent


def _frozen(messages, info):
    return ModelResponse(parts=[TextPart(str(gc.get_freeze_count()))])


heap = Agent(name="heap", model=FunctionModel(_frozen))
"""

STARTUP_HEAP = 50_000
"""Fewer objects than a process that imported murmur and PydanticAI holds at start-up."""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "heapapp.py").write_text(APP)
    return tmp_path


def test_freeze_startup_heap_freezes_what_is_alive_and_pydantic_ai() -> None:
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count()
        assert frozen > STARTUP_HEAP
        assert "pydantic_ai" in sys.modules
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


@pytest.mark.services
@pytest.mark.parametrize(("flags", "frozen"), [((), True), (("--no-gc-freeze",), False)])
async def test_a_worker_process_runs_its_tasks_with_its_start_up_heap_frozen(
    app_dir: Path, flags: tuple[str, ...], frozen: bool
) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    url = f"redis://127.0.0.1:6379/0?namespace=test-{uuid.uuid4().hex}"
    async with collect_fleet_events(url) as seen:
        workers = WorkerProcesses(url, app_dir, fleet_events=seen, cwd=app_dir)
        runtime = AgentRuntime(broker=url)
        try:
            await workers.start(*flags, agents="heap", app="heapapp:heap")
            result = await runtime.run(Agent(name="heap", model="test"), "how many?")
        finally:
            await runtime.aclose()
            await workers.aclose()
    assert result.is_ok(), (result.error, workers.tails())
    count = int(result.output)
    assert (count > STARTUP_HEAP) if frozen else (count == 0), count


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _served(app_dir: Path, *flags: str) -> Generator[str]:
    pytest.importorskip("murmur_server")
    url = f"http://127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "murmur.cli", "serve", "--port", url.rsplit(":", 1)[1],
         "--app", "heapapp:heap", "--log-level", "warning", *flags],
        cwd=app_dir,
        env={**os.environ, "MURMUR_SERVER_TOKEN": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(process.communicate()[1].decode())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "murmur serve did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


@pytest.mark.parametrize(("flags", "frozen"), [((), True), (("--no-gc-freeze",), False)])
def test_murmur_serve_runs_with_its_start_up_heap_frozen(
    app_dir: Path, flags: tuple[str, ...], frozen: bool
) -> None:
    with _served(app_dir, *flags) as url:
        started = httpx.post(f"{url}/runs", json={"agent": "heap", "input": "how many?"})
        assert started.status_code == 202, started.text
        done = httpx.get(
            f"{url}/runs/{started.json()['run_id']}/result", params={"wait": 30}, timeout=60
        )
    assert done.status_code == 200, done.text
    count = int(done.json()["output"])
    assert (count > STARTUP_HEAP) if frozen else (count == 0), count
