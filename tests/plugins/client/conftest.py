"""The same client scenario runs against `MurmurClient` (real server) and `LocalClient`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from murmur_client import LocalClient, MurmurClient, RuntimeClient
from murmur_server import BackgroundServer, create_app

from murmur import AgentRuntime

from ..server._agents import TOKEN, build_runtime, pipeline_group


@pytest.fixture
def gate() -> asyncio.Event:
    """Opens the `slow` agent's model."""
    return asyncio.Event()


@pytest.fixture
async def runtime(gate: asyncio.Event) -> AsyncIterator[AgentRuntime]:
    """A runtime with the test agents."""
    rt = build_runtime(gate)
    yield rt
    gate.set()
    await rt.aclose()


@pytest.fixture(params=["http", "local"])
async def client(
    request: pytest.FixtureRequest, runtime: AgentRuntime
) -> AsyncIterator[RuntimeClient]:
    """A `MurmurClient` on a live server, or a `LocalClient` on the same kind of runtime."""
    if request.param == "local":
        local = LocalClient(runtime, groups=[pipeline_group()])
        async with local:
            yield local
        await local.shutdown()
        return
    app = create_app(runtime, token=TOKEN, groups=[pipeline_group()], ping_interval=0.5)
    async with BackgroundServer(app) as server, MurmurClient(server.url, token=TOKEN) as http:
        yield http
