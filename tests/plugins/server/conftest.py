"""A real uvicorn server on a loopback port, serving a runtime of FunctionModel agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from murmur_server import BackgroundServer, create_app

from murmur import AgentRuntime

from ._agents import TOKEN, build_runtime, pipeline_group


@pytest.fixture
def gate() -> asyncio.Event:
    """Opens the `slow` agent's model."""
    return asyncio.Event()


@pytest.fixture
async def runtime(gate: asyncio.Event) -> AsyncIterator[AgentRuntime]:
    """The runtime the server exposes."""
    rt = build_runtime(gate)
    yield rt
    gate.set()
    await rt.aclose()


@pytest.fixture
async def server(runtime: AgentRuntime) -> AsyncIterator[BackgroundServer]:
    """The app on a free loopback port, with a bearer token."""
    app = create_app(runtime, token=TOKEN, groups=[pipeline_group()], ping_interval=0.5)
    async with BackgroundServer(app) as live:
        yield live


@pytest.fixture
async def http(server: BackgroundServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that sends the token."""
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        yield client
