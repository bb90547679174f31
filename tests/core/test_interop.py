"""murmur.interop: agents as FastStream handlers, PydanticAI agents as murmur agents."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from murmur import Agent, AgentRuntime, SpecValidationError
from murmur.events import NullEventEmitter
from murmur.interop import as_faststream_handler, from_pydantic_ai


class Question(BaseModel):
    """Handler input."""

    text: str


class Answer(BaseModel):
    """Handler output."""

    answer: str
    confidence: float


async def test_agent_serves_a_faststream_subscriber_with_typed_io() -> None:
    """A FastStream request to the handler returns the agent's typed output as JSON."""
    from faststream.redis import RedisBroker, TestRedisBroker

    agent = Agent(name="qa", model="test", input_type=Question, output_type=Answer)
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    broker = RedisBroker()
    broker.subscriber("questions")(as_faststream_handler(agent, runtime))
    async with TestRedisBroker(broker) as test_broker:
        response = await test_broker.request({"text": "why?"}, channel="questions")
        body = await response.decode()
    assert Answer.model_validate(body) == Answer(answer="a", confidence=0.0)
    await runtime.aclose()


async def test_faststream_handler_is_annotated_and_raises_failures() -> None:
    """The handler carries the agent's types, and a failed run raises its MurmurError."""
    agent = Agent(name="typed", model="test", input_type=Question, output_type=Answer)
    handler = as_faststream_handler(agent)
    assert {"body": Question, "return": Answer} == handler.__annotations__
    assert isinstance(await handler(Question(text="x")), Answer)
    from murmur import MurmurError

    with pytest.raises(MurmurError):
        await handler({"not": "a question"})


async def test_pydantic_ai_agent_becomes_a_murmur_agent() -> None:
    """from_pydantic_ai keeps name, model, instructions, output type and plain tools."""
    from pydantic_ai import Agent as PAAgent

    pa_agent = PAAgent(
        "test", name="legacy", instructions="Be brief.", system_prompt="You help.",
        output_type=Answer,
    )  # fmt: skip

    @pa_agent.tool_plain
    def lookup(term: str) -> str:
        return f"found {term}"

    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = from_pydantic_ai(pa_agent, runtime=runtime)
    assert ("legacy", Answer, ("lookup",)) == (agent.name, agent.output_type, agent.tools)
    assert agent.instructions == "You help.\n\nBe brief."
    result = await runtime.run(agent, "q")
    assert isinstance(result.output, Answer)
    await runtime.aclose()


def test_pydantic_ai_agent_without_a_name_needs_one() -> None:
    """A nameless PydanticAI agent is refused unless name= is given."""
    from pydantic_ai import Agent as PAAgent

    with pytest.raises(SpecValidationError):
        from_pydantic_ai(PAAgent("test"))
    assert from_pydantic_ai(PAAgent("test"), name="given").name == "given"
