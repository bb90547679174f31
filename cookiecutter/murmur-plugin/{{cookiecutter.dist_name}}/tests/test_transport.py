"""`{{ cookiecutter.entry_name }}://` passes murmur's transport contract, and runs a task on a worker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import NullEventEmitter
from murmur.testing.transport import TransportContract
from murmur.worker import Worker
from pydantic import BaseModel


class TestTransportContract(TransportContract):
    """Every behaviour a broker transport must have (murmur.testing.transport)."""

    @pytest.fixture
    def transport_url(self) -> str:
        return f"{{ cookiecutter.entry_name }}://test-{uuid.uuid4().hex}"


class Answer(BaseModel):
    text: str


async def test_a_task_runs_on_a_worker_over_the_broker() -> None:
    """A runtime on `{{ cookiecutter.entry_name }}://` gets a typed result from a worker on the same URL."""
    url = f"{{ cookiecutter.entry_name }}://fleet-{uuid.uuid4().hex}"
    agent = Agent(name="echo", model="test", output_type=Answer)
    worker = Worker(url, [agent], concurrency=2, event_emitter=NullEventEmitter())
    consuming = asyncio.create_task(worker.start())
    await worker.wait_ready()
    try:
        async with AgentRuntime(broker=url, event_emitter=NullEventEmitter()) as runtime:
            result = await runtime.run(agent, TaskSpec(input="hello"))
    finally:
        await worker.stop()
        await consuming

    assert result.is_ok(), result.error
    assert isinstance(result.output, Answer)
