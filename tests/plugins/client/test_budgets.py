"""A per-run `token_budget` given through the client (as `"token_budget": 10` over HTTP)
is charged to the runtime's budget as what the run used."""

from __future__ import annotations

from murmur_client import LocalClient
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from murmur import Agent, AgentRuntime, RuntimeOptions, TokenBudget
from murmur.events import NullEventEmitter


def _hundred_tokens() -> FunctionModel:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(
            parts=[TextPart("ok")], usage=RequestUsage(input_tokens=60, output_tokens=40)
        )

    return FunctionModel(respond)


async def test_a_run_token_budget_through_the_client_never_drains_the_runtime_budget() -> None:
    """start_run(token_budget=10) on a model using 100 tokens fails with usage_limit; the
    runtime's 100 000-token budget is charged 100, and the next run goes through."""
    budget = TokenBudget(limit=100_000)
    runtime = AgentRuntime(RuntimeOptions(token_budget=budget), event_emitter=NullEventEmitter())
    runtime.register(Agent(name="spender", model=_hundred_tokens()))
    async with LocalClient(runtime) as client:
        stopped = await client.wait(
            (await client.start_run("spender", "x", token_budget=10)).run_id
        )
        assert stopped.error is not None
        assert stopped.error.code == "usage_limit"
        assert budget.used == 100
        after = await client.wait((await client.start_run("spender", "y")).run_id)
        assert after.ok
        assert budget.used == 200
    await runtime.aclose()
