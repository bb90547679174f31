"""murmur quickstart: runs offline, no API key needed.

    uv run python examples/quickstart.py

Shows typed outputs from a gather and from a three-agent pipeline (an AgentGroup), the
events the runtime emitted, and the tokens and cost the runs used. The agents use the model
`"test"` (PydanticAI's offline test model: a valid output of the agent's type, no network);
swap in a real model string (`"anthropic:claude-sonnet-4-6"`) and nothing else changes.
"""

from __future__ import annotations

import asyncio
from collections import Counter

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


researcher = Agent(
    name="researcher",
    model="test",
    instructions="Research the question. Be honest about uncertainty.",
    output_type=Finding,
)
reviewer = Agent(
    name="reviewer",
    model="test",
    instructions="Verify the finding.",
    output_type=Review,
)


def headline_from_review(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # A FunctionModel, not "test", because the example needs a chosen output: the headline
    # quotes the Review this agent was given, so the printout shows each agent's typed
    # output arriving as the next one's input ("test" would answer a placeholder whatever
    # it was given).
    review = Review.model_validate_json(str(getattr(messages[-1].parts[-1], "content", "")))
    headline = f"{'Verified' if review.verified else 'Unverified'}: {review.claim!r}"
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"headline": headline})])


summariser = Agent(
    name="summariser",
    model=FunctionModel(headline_from_review),
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
        # "test" fills every field with a placeholder; a real model answers the question.
        print("gather (results in task order):")
        for question, result in zip(questions, results, strict=True):
            finding: Finding = result.output  # typed
            print(f"  {question!r} -> {finding!r}")

        crew = AgentGroup(
            name="research-crew",
            topology={
                researcher: Edge(to=(reviewer,)),
                reviewer: Edge(to=(summariser,)),
                summariser: Edge.terminal(),
            },
        )
        group_result = await runtime.run_group(crew, TaskSpec(input="What is murmur?"))
        print("pipeline (researcher -> reviewer -> summariser):")
        print("  review: ", group_result.nodes["reviewer"].output)
        print("  summary:", group_result.output)

    counts = Counter(e.event_type.value for e in events.events)
    print("events:", dict(sorted(counts.items())))
    tokens = sum(r.metadata.total_tokens for r in results)
    cost = sum(r.metadata.cost_usd or 0.0 for r in results)
    print(f"tokens: gather={tokens}, budget used={budget.used} of {budget.limit}; cost=${cost:.4f}")


if __name__ == "__main__":
    asyncio.run(main())
