"""murmur quickstart: runs offline (no API key) with deterministic stand-in models.

    uv run python examples/quickstart.py

Shows typed outputs from a gather and from a three-agent pipeline (an AgentGroup), the
events the runtime emitted, and the tokens and cost the runs used. Swap the FunctionModel
stand-ins for real model strings ("anthropic:claude-sonnet-4-6") and nothing else changes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentGroup, AgentRuntime, Edge, RuntimeOptions, TaskSpec, TokenBudget
from murmur.events import CollectingEventEmitter


class Finding(BaseModel):
    question: str
    answer: str
    confidence: float


class Review(BaseModel):
    claim: str
    verified: bool


class Summary(BaseModel):
    headline: str


def structured(make: Callable[[str], dict[str, Any]]) -> FunctionModel:
    """A stand-in model that answers with `make(prompt)` as the structured output."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = str(getattr(messages[-1].parts[-1], "content", ""))
        data = make(prompt)
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, data)])

    return FunctionModel(respond)


researcher = Agent(
    name="researcher",
    model=structured(
        lambda q: {"question": q, "answer": f"About {q}: it works.", "confidence": 0.8}
    ),
    instructions="Research the question. Be honest about uncertainty.",
    output_type=Finding,
)
reviewer = Agent(
    name="reviewer",
    model=structured(lambda f: {"claim": json.loads(f)["answer"], "verified": True}),
    instructions="Verify the finding.",
    output_type=Review,
)
summariser = Agent(
    name="summariser",
    model=structured(lambda r: {"headline": "Verified: " + json.loads(r)["claim"]}),
    instructions="Summarise the review in one line.",
    output_type=Summary,
)


async def main() -> None:
    events = CollectingEventEmitter()
    budget = TokenBudget(limit=50_000)
    async with AgentRuntime(
        options=RuntimeOptions(token_budget=budget, timeout_seconds=30),
        event_emitter=events,
    ) as runtime:
        questions = ["What is NATS JetStream?", "What is Redis Streams?", "What is Kafka?"]
        results = await runtime.gather(
            researcher, tasks=[TaskSpec(input=q) for q in questions], max_concurrency=2
        )
        print("gather:")
        for result in results:
            finding: Finding = result.output  # typed
            print(f"  {finding.question!r} -> {finding.answer} (confidence {finding.confidence})")

        crew = AgentGroup(
            name="research-crew",
            topology={
                researcher: Edge(to=(reviewer,)),
                reviewer: Edge(to=(summariser,)),
                summariser: Edge.terminal(),
            },
        )
        group_result = await runtime.run_group(crew, TaskSpec(input="What is murmur?"))
        print("pipeline:")
        print("  summary:", group_result.output)

    counts = Counter(e.event_type.value for e in events.events)
    print("events:", dict(sorted(counts.items())))
    tokens = sum(r.metadata.total_tokens for r in results)
    cost = sum(r.metadata.cost_usd or 0.0 for r in results)
    print(f"tokens: gather={tokens}, budget used={budget.used} of {budget.limit}; cost=${cost:.4f}")


if __name__ == "__main__":
    asyncio.run(main())
