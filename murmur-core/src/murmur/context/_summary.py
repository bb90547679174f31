"""`SummaryContextPasser`: the child starts with a summary of the parent's conversation."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from murmur.agent import Agent
from murmur.context_passer import ParentContext
from murmur.core.errors import ContextError, MurmurError
from murmur.execution._context import current_context
from murmur.types import TaskSpec

if TYPE_CHECKING:
    from murmur.execution._context import RuntimeProtocol

__all__ = ["DEFAULT_SUMMARY_INSTRUCTIONS", "SummaryContextPasser", "render_transcript"]

DEFAULT_SUMMARY_INSTRUCTIONS = (
    "You summarise a conversation for another agent that will continue part of the work. "
    "Keep facts, decisions, constraints, open questions and cited sources; drop "
    "pleasantries and repetition. Write at most 200 words of plain text."
)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(c for c in content if isinstance(c, str))
    return str(content)


def render_transcript(messages: Sequence[Any], max_chars: int | None = None) -> str:
    """PydanticAI messages as plain text (`role: text` lines), newest kept when truncated."""
    lines: list[str] = []
    for message in messages:
        for part in getattr(message, "parts", ()):
            kind = getattr(part, "part_kind", "")
            if kind == "user-prompt":
                lines.append(f"user: {_content_text(part.content)}")
            elif kind == "system-prompt":
                lines.append(f"system: {part.content}")
            elif kind == "text":
                lines.append(f"assistant: {part.content}")
            elif kind == "tool-call":
                lines.append(f"assistant called {part.tool_name}({part.args_as_json_str()})")
            elif kind == "tool-return":
                lines.append(f"tool {part.tool_name} returned: {part.model_response_str()}")
    text = "\n".join(lines)
    if max_chars is not None and len(text) > max_chars:
        text = "[earlier conversation truncated]\n" + text[-max_chars:]
    return text


class SummaryContextPasser:
    """The child sees a summary of the parent's conversation, written by a summariser agent.

    Between `null` (nothing) and `full` (everything) on the cost/quality ladder: one extra
    model call per parent run, and a short context for every child. The summary is cached
    per parent run (children spawned together share one summary; concurrent children
    wait for the same summariser run). The summariser runs through the runtime's pipeline
    as a child of the parent run, at the child's depth: it is charged to the same budgets,
    counts toward `max_total_spawns`, and shows in the run tree.

    ```python
    passer = SummaryContextPasser(
        summariser=Agent(name="summariser", model="openai:gpt-5-mini", instructions="...")
    )
    child = Agent(name="child", model="...", context_passer=passer)
    # or, by name (YAML: context_passer: summary), with the default summariser
    child = Agent(name="child", model="...", context_passer="summary")
    ```

    Args:
        summariser: the agent that writes the summary (its output is used as text). By
            default an agent named `context-summariser` using the child's own model.
        max_transcript_chars: the most recent characters of the transcript to summarise.
        cache_size: parent runs whose summaries are kept.
        runtime: the runtime that runs the summariser (default: the child's runtime).
    """

    name = "summary"

    def __init__(
        self,
        summariser: Agent[Any] | None = None,
        *,
        max_transcript_chars: int = 24_000,
        cache_size: int = 256,
        runtime: RuntimeProtocol | None = None,
    ) -> None:
        self.summariser = summariser
        self.runtime = runtime
        self.max_transcript_chars = max_transcript_chars
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], asyncio.Future[str]] = OrderedDict()
        self._default_summarisers: dict[Any, Agent[Any]] = {}

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """A one-message history holding the summary (nothing for a top-level run)."""
        if parent is None or not parent.messages:
            return []
        summary = await self.summary(parent)
        from pydantic_ai.messages import ModelRequest, UserPromptPart

        text = f"Context from the parent agent {parent.agent_name!r} (a summary):\n{summary}"
        return [ModelRequest(parts=[UserPromptPart(content=text)])]

    async def summary(self, parent: ParentContext) -> str:
        """The (cached) summary of `parent`'s conversation so far."""
        key = (parent.trace_id, len(parent.messages))
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(self._summarise(parent))
            self._cache[key] = future
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        try:
            return await asyncio.shield(future)
        except BaseException:
            if future.done() and self._cache.get(key) is future:
                del self._cache[key]  # never cache a failure
            raise

    async def _summarise(self, parent: ParentContext) -> str:
        ctx = current_context()
        runtime = self.runtime or getattr(ctx, "runtime", None)
        if runtime is None:
            raise ContextError(
                "SummaryContextPasser needs a runtime to run its summariser: use it as an "
                "Agent's context_passer, or pass SummaryContextPasser(runtime=...)"
            )
        summariser = self.summariser
        if summariser is None:
            if ctx is None:
                raise ContextError(
                    "SummaryContextPasser has no summariser and no child run to borrow a "
                    "model from; pass SummaryContextPasser(summariser=Agent(...))"
                )
            summariser = self._default_summariser(ctx.agent.model)
        transcript = render_transcript(parent.messages, self.max_transcript_chars)
        task = TaskSpec(
            input=f"Conversation of agent {parent.agent_name!r}:\n\n{transcript}",
            parent_trace_id=parent.trace_id,
            metadata={"context_summary_for": parent.trace_id},
        )
        if ctx is not None and ctx.runtime is runtime:
            # Work done for the parent's spawn: a sibling of the child (same depth and
            # ancestors, same budgets), linked under the parent run, not below the child.
            sibling = runtime.context_for(summariser, task)
            sibling.depth, sibling.ancestors, sibling.parent = ctx.depth, ctx.ancestors, None
            result = await runtime.execute_context(sibling)
        else:
            result = await runtime.run(summariser, task)
        if not result.is_ok():
            error: MurmurError | None = result.error
            raise ContextError(
                f"summary context passer: summariser {summariser.name!r} failed for parent "
                f"{parent.agent_name!r}: {error.message if error else 'unknown error'}",
                code="summary_failed",
                details={"parent_trace_id": parent.trace_id},
            )
        output = result.value
        return output.model_dump_json() if isinstance(output, BaseModel) else str(output)

    def _default_summariser(self, model: Any) -> Agent[Any]:
        key = model if isinstance(model, str) else id(model)
        agent = self._default_summarisers.get(key)
        if agent is None:
            agent = Agent(
                name="context-summariser",
                model=model,
                instructions=DEFAULT_SUMMARY_INSTRUCTIONS,
                output_type=str,
            )
            self._default_summarisers[key] = agent
        return agent

    def _config(self) -> tuple[Any, ...]:
        return (self.summariser, self.max_transcript_chars, self.cache_size, self.runtime)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._config() == other._config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.max_transcript_chars, self.cache_size))

    def __repr__(self) -> str:
        summariser = None if self.summariser is None else self.summariser.name
        return f"SummaryContextPasser(summariser={summariser!r})"
