"""`make_spawn_agents_tool`: let an orchestrator's LLM fan work out to child agents.

The LLM chooses only each child's `name`, `instructions` and `input`. Everything that
matters for safety (trust level, model, tools, context passer) comes from the
`AgentTemplate`, so the LLM cannot escalate. Children run through `runtime.run`, inside
the orchestrator's run: they are its children in the run tree, inherit its budgets, and
pass the depth / cycle / spawn-cap checks like any nested run.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from murmur.core.errors import MurmurError, SpawnError
from murmur.core.fanout import bounded_map
from murmur.types import TaskSpec

if TYPE_CHECKING:
    from murmur.agent import Agent, AgentTemplate
    from murmur.execution._context import RuntimeProtocol

__all__ = ["SpawnRequest", "SpawnResult", "SpawnTool", "make_spawn_agents_tool"]

_AGENT_CACHE_SIZE = 256


class SpawnRequest(BaseModel):
    """One child the LLM asks for. Any other field is refused (the LLM cannot escalate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1,
        max_length=64,
        description="A short unique name for the child agent, e.g. 'pricing-researcher'.",
    )
    instructions: str = Field(description="What the child agent must do, as a system prompt.")
    input: str = Field(default="", description="The task text the child agent works on.")


class SpawnResult(BaseModel):
    """The outcome of one child: its output, or the error that stopped it (never raised).

    Attributes:
        name: the child's name.
        success: True when the child produced a validated output.
        output: the child's output (the tool's `output_type`), or None.
        error: what went wrong, when `success` is False.
        error_type: the `MurmurError` subclass name (e.g. `SpawnCycleError`).
        error_code: the error's machine-readable code.
        trace_id: the child's trace id (a child of the orchestrator's run).
        task_id: the child's task id.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    success: bool
    output: Any = None
    error: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    trace_id: str | None = None
    task_id: str | None = None


SpawnTool = Callable[[list[SpawnRequest | dict[str, Any]]], Awaitable[list[SpawnResult]]]
"""The shape of the tool `make_spawn_agents_tool` returns (it also takes the raw dicts an
LLM sends: each is validated into a `SpawnRequest`, an invalid one refused as a result)."""


def make_spawn_agents_tool(
    *,
    runtime: RuntimeProtocol,
    template: AgentTemplate,
    output_type: Any = None,
    max_concurrency: int | None = None,
) -> SpawnTool:
    """Build the `spawn_agents` tool: the LLM delegates to children made from `template`.

    ```python
    spawn = make_spawn_agents_tool(
        runtime=runtime, template=swarm, output_type=Finding, max_concurrency=5
    )
    runtime.tools.register("spawn_agents", spawn)
    orchestrator = swarm.agent(
        name="orchestrator", instructions="...", output_type=Report,
        tools=frozenset({"spawn_agents"}),   # only the orchestrator gets the tool
    )
    ```

    Args:
        runtime: the runtime the children run on.
        template: the safety envelope: every child's model, trust level, tools and
            context passer come from it.
        output_type: the output type all children share (default: the template's).
        max_concurrency: children of one call running at once (default: the runtime's
            `default_max_concurrency`).

    Returns:
        An async function `spawn_agents(agents: list[SpawnRequest]) -> list[SpawnResult]`;
        results come back in request order, and per-child failures are results too.
    """
    if max_concurrency is not None and max_concurrency < 1:
        raise SpawnError(
            "make_spawn_agents_tool(max_concurrency=...) must be >= 1", code="invalid_options"
        )
    shared_output = output_type if output_type is not None else template.output_type
    agents: OrderedDict[tuple[str, str], Agent[Any]] = OrderedDict()

    def child_agent(request: SpawnRequest) -> Agent[Any]:
        key = (request.name, request.instructions)
        agent = agents.get(key)
        if agent is None:
            # Only these three fields are taken from the LLM: the rest is the template's.
            agent = template.agent(
                name=request.name, instructions=request.instructions, output_type=shared_output
            )
            agents[key] = agent
            if len(agents) > _AGENT_CACHE_SIZE:
                agents.popitem(last=False)
        else:
            agents.move_to_end(key)
        return agent

    async def spawn_one(_: int, raw: Any) -> SpawnResult:
        name = _name_of(raw)
        try:
            request = raw if isinstance(raw, SpawnRequest) else SpawnRequest.model_validate(raw)
            agent = child_agent(request)
        except ValidationError as exc:
            return _refused(name, f"invalid child request: {_describe(exc)}")
        except MurmurError as exc:
            return _failed(name, exc)
        result = await runtime.run(agent, TaskSpec(input=request.input))
        if result.is_ok():
            return SpawnResult(
                name=request.name,
                success=True,
                output=result.value,
                trace_id=result.trace_id,
                task_id=result.task_id,
            )
        assert result.error is not None
        return _failed(request.name, result.error, result.trace_id, result.task_id)

    async def spawn_agents(agents: list[SpawnRequest]) -> list[SpawnResult]:
        """Delegate work to child agents that run in parallel, and get their results.

        Each child gets its own instructions and input; all children share one output
        shape. A child that fails comes back with success=false and an error instead
        of an output; the others are unaffected.

        Args:
            agents: one entry per child: a short unique `name`, the child's
                `instructions`, and the `input` text it works on.
        """
        limit = max_concurrency or runtime.options.default_max_concurrency
        requests: Sequence[Any] = list(agents or [])
        return await bounded_map(requests, spawn_one, limit)

    return cast("SpawnTool", spawn_agents)


def _name_of(raw: Any) -> str:
    if isinstance(raw, SpawnRequest):
        return raw.name
    if isinstance(raw, dict):
        return str(raw.get("name") or "<unnamed>")
    return "<unnamed>"


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def _refused(name: str, message: str) -> SpawnResult:
    return SpawnResult(
        name=name,
        success=False,
        error=message,
        error_type="SpecValidationError",
        error_code="invalid_request",
    )


def _failed(
    name: str, error: MurmurError, trace_id: str | None = None, task_id: str | None = None
) -> SpawnResult:
    return SpawnResult(
        name=name,
        success=False,
        error=error.message,
        error_type=type(error).__name__,
        error_code=error.code,
        trace_id=trace_id,
        task_id=task_id,
    )
