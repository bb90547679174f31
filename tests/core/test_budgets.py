"""Budgets are charged what a run used: a per-task budget stopping a run never drains the
runtime budget around it."""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec, TokenBudget
from murmur.events import NullEventEmitter


def _hundred_tokens() -> FunctionModel:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(
            parts=[TextPart("ok")], usage=RequestUsage(input_tokens=60, output_tokens=40)
        )

    return FunctionModel(respond)


async def test_a_task_budget_stopping_a_run_charges_the_runtime_budget_what_it_used() -> None:
    """Runtime budget 100 000, task budget 10, a model using 100 tokens: the run fails with
    usage_limit, both budgets are charged 100, and the next run still goes through."""
    runtime_budget = TokenBudget(limit=100_000)
    runtime = AgentRuntime(
        RuntimeOptions(token_budget=runtime_budget), event_emitter=NullEventEmitter()
    )
    agent = Agent(name="spender", model=_hundred_tokens())
    task_budget = TokenBudget(limit=10)
    stopped = await runtime.run(agent, TaskSpec(input="x", token_budget=task_budget))
    assert stopped.error is not None
    assert stopped.error.code == "usage_limit"
    assert (task_budget.used, runtime_budget.used) == (100, 100)
    assert (await runtime.run(agent, "again")).is_ok()
    assert runtime_budget.used == 200
    await runtime.aclose()
