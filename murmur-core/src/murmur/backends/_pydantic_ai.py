"""The one place that builds and runs a `pydantic_ai.Agent`.

Imported lazily (PydanticAI takes well over a second to import). Built agents are cached
per murmur `Agent` and tool-registry version: per-run state (the execution context that
tools need) travels in a context variable, so one PydanticAI agent serves concurrent runs.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent as PAAgent
from pydantic_ai import AgentRunResult, FunctionToolset, ModelRetry
from pydantic_ai._run_context import set_current_run_context
from pydantic_ai.capabilities import NativeTool
from pydantic_ai.exceptions import (
    ModelAPIError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UserError,
)
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.concurrency import ConcurrencyLimitedModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.usage import RunUsage, UsageLimits

from murmur.agent import Agent
from murmur.core.errors import (
    BudgetExceededError,
    MurmurError,
    SpawnError,
    ToolExecutionError,
    TrustViolationError,
)
from murmur.core.providers import check_model_string, missing_sdk
from murmur.events._emitters import DELIVERED
from murmur.events._model import EventType
from murmur.execution._context import ExecutionContext, current_context
from murmur.execution._outcome import ExecutionOutcome
from murmur.tooling._pool import ToolsetPool, ToolsetProvider
from murmur.tooling._registry import ToolRegistry, check_tool_allowed

__all__ = [
    "PydanticAIExecutor",
    "function_toolset",
    "map_exception",
    "native_tool_names",
]

_CACHE_SIZE = 512
_NO_LIMITS = UsageLimits(request_limit=None)  # PydanticAI reads it and never changes it


def _models(agent: Agent) -> tuple[Any, ...]:
    return (agent.model, *agent.fallback_models)


def _resolve_model(agent: Agent) -> Model:
    """The agent's model with fallbacks and concurrency caps applied."""
    for name in _models(agent):
        missing = missing_sdk(name) if isinstance(name, str) else None
        if missing is not None:
            raise SpawnError(
                f"agent {agent.name!r}: {missing.message(name)}",
                code="provider_missing",
                details={"model": name, "package": missing.package, "install": missing.install},
            )
    try:
        primary = infer_model(agent.model) if isinstance(agent.model, str) else agent.model
        fallbacks = [infer_model(m) if isinstance(m, str) else m for m in agent.fallback_models]
    except UserError as exc:
        reasons = [check_model_string(m) for m in _models(agent) if isinstance(m, str)]
        reason = next((r for r in reasons if r is not None), None)
        if reason is not None:  # the message Agent(...) gives, for an agent built unchecked
            raise SpawnError(
                f"agent {agent.name!r}: {reason}",
                code="unknown_model",
                details={"model": agent.model_name},
            ) from None
        # A known provider that cannot start, e.g. without its API key: say so as it does
        # (a configuration error, not retried).
        raise SpawnError(
            f"agent {agent.name!r}: model {agent.model_name!r} cannot start: {exc}",
            code="provider_config",
            details={"model": agent.model_name},
        ) from None
    except ImportError as exc:
        raise SpawnError(
            f"agent {agent.name!r}: the provider for {agent.model_name!r} is not installed: {exc}",
            code="provider_missing",
            details={"model": agent.model_name},
        ) from None
    model: Model = FallbackModel(primary, *fallbacks) if fallbacks else primary
    if agent.max_concurrent_requests is not None:
        model = ConcurrencyLimitedModel(model, limiter=agent.max_concurrent_requests)
    elif agent.model_concurrency_limiter is not None:
        model = ConcurrencyLimitedModel(model, limiter=agent.model_concurrency_limiter)
    return model


def _emit(ctx: ExecutionContext, event_type: EventType, payload: dict[str, Any]) -> Awaitable[None]:
    runtime = ctx.runtime
    if runtime is None:
        return DELIVERED
    return runtime.emit_for(ctx, event_type, payload)


def _preview(value: Any, limit: int = 500) -> Any:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class GatedToolset(WrapperToolset[Any]):
    """Wraps any toolset: every call passes the trust gate and emits tool events.

    `read_only` names the tools a LOW-trust agent may call (for native tools, the registry
    says); a provider's tool is also read-only when its definition carries the MCP
    annotation `readOnlyHint: true` (a tool that says nothing is not). With a `namespace`
    (a provider's name), tools are gated and reported as `"<namespace>.<tool>"`, the form
    the agent's allow-list uses.

    `granted` names tools the toolset's owner gave this agent explicitly (an agent process's
    handlers and attached endpoints): they count as on the agent's allow-list, and the trust
    level still applies (LOW: read-only ones only; SANDBOX: none). The executor uses a
    `GatedToolset` found in `Agent.mcp_servers` as it is, without gating it twice.
    """

    read_only: frozenset[str] = frozenset()
    namespace: str | None = None
    granted: frozenset[str] = frozenset()

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        run = current_context()
        if run is None:  # called outside murmur (e.g. by a user driving PydanticAI directly)
            return await super().call_tool(name, tool_args, ctx, tool)
        agent = run.agent
        call_id = getattr(ctx, "tool_call_id", None)
        qualified = name if self.namespace is None else f"{self.namespace}.{name}"
        try:
            check_tool_allowed(
                agent_name=agent.name,
                trust_level=agent.trust_level,
                allow_list=(*agent.tools, qualified) if qualified in self.granted else agent.tools,
                tool_name=qualified,
                read_only=name in self.read_only or _annotated_read_only(tool),
            )
        except TrustViolationError as exc:
            await _emit(
                run,
                EventType.TOOL_CALL_FAILED,
                {
                    "tool": qualified,
                    "tool_call_id": call_id,
                    "error": exc.message,
                    "code": exc.code,
                    "denied": True,
                    "duration_ms": 0.0,
                },
            )
            raise
        run.tool_calls += 1
        await _emit(
            run,
            EventType.TOOL_CALL_STARTED,
            {"tool": qualified, "tool_call_id": call_id, "args": _preview(tool_args)},
        )
        started = time.perf_counter()
        try:
            # PydanticAI sets its current run context only around model requests; setting it
            # around the tool call lets a run spawned from this tool see the parent's messages.
            with set_current_run_context(ctx):
                result = await super().call_tool(name, tool_args, ctx, tool)
        except ModelRetry:
            await _emit(
                run,
                EventType.TOOL_CALL_FAILED,
                {
                    "tool": qualified,
                    "tool_call_id": call_id,
                    "error": "retry requested",
                    "duration_ms": _ms(started),
                },
            )
            raise
        except MurmurError as exc:
            await _emit(
                run,
                EventType.TOOL_CALL_FAILED,
                {
                    "tool": qualified,
                    "tool_call_id": call_id,
                    "error": str(exc),
                    "code": exc.code,
                    "duration_ms": _ms(started),
                },
            )
            raise
        except Exception as exc:
            await _emit(
                run,
                EventType.TOOL_CALL_FAILED,
                {
                    "tool": qualified,
                    "tool_call_id": call_id,
                    "error": repr(exc),
                    "code": "tool_failed",
                    "duration_ms": _ms(started),
                },
            )
            raise ToolExecutionError(
                f"tool {name!r} called by agent {agent.name!r} failed: {exc!r}",
                details={"tool": qualified, "agent": agent.name, "exception": type(exc).__name__},
            ) from exc
        await _emit(
            run,
            EventType.TOOL_CALL_COMPLETED,
            {
                "tool": qualified,
                "tool_call_id": call_id,
                "duration_ms": _ms(started),
                "result": _preview(result, 200),
            },
        )
        return result


def _annotated_read_only(tool: Any) -> bool:
    metadata = getattr(getattr(tool, "tool_def", None), "metadata", None) or {}
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return isinstance(annotations, dict) and annotations.get("readOnlyHint") is True


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def function_toolset(agent: Agent, registry: ToolRegistry) -> GatedToolset:
    """The agent's declared native tools as one gated toolset.

    Raises:
        RegistryError: the agent declares a tool nobody registered.
    """
    tools = [registry.get(name) for name in native_tool_names(agent)]
    fts: FunctionToolset[Any] = FunctionToolset()
    for tool in tools:
        fts.add_function(
            tool.function, takes_ctx=False, name=tool.name, description=tool.description
        )
    read_only = frozenset(t.name for t in tools if t.read_only)
    return GatedToolset(fts, read_only=read_only)


def native_tool_names(agent: Agent) -> tuple[str, ...]:
    """The agent's allow-list entries that name native tools.

    (`"server.tool"` names a provider's tool: a native tool name cannot hold a dot.)
    """
    return tuple(name for name in agent.tools if "." not in name)


def _provider_toolsets(agent: Agent, pool: ToolsetPool) -> list[AbstractToolset[Any]]:
    out: list[AbstractToolset[Any]] = []
    for server in agent.mcp_servers:
        if isinstance(server, GatedToolset):
            out.append(server)
        elif isinstance(server, AbstractToolset):
            out.append(GatedToolset(server))
        elif isinstance(server, ToolsetProvider):
            out.append(GatedToolset(pool.get(server), namespace=server.name))
        else:
            raise SpawnError(
                f"agent {agent.name!r}: mcp_servers entry {server!r} is neither a PydanticAI "
                "toolset nor a ToolsetProvider; build MCP servers with murmur_mcp.mcp_stdio(), "
                "mcp_http() or mcp_sse() (pip install murmur-mcp)",
                code="configuration",
            )
    return out


def _prompt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)


def map_exception(exc: BaseException, agent: Agent) -> MurmurError:
    """Translate a PydanticAI / provider exception into the typed hierarchy."""
    if isinstance(exc, MurmurError):
        return exc
    if isinstance(exc, UsageLimitExceeded):
        return BudgetExceededError(
            f"agent {agent.name!r} hit its token budget mid-run: {exc}", code="usage_limit"
        )
    if isinstance(exc, ModelAPIError):
        return SpawnError(
            f"agent {agent.name!r}: model provider error: {exc}",
            code="provider_error",
            details={"transient": True, "exception": type(exc).__name__},
        )
    if isinstance(exc, UnexpectedModelBehavior):
        return SpawnError(
            f"agent {agent.name!r}: the model did not produce a valid "
            f"{getattr(agent.output_type, '__name__', agent.output_type)}: {exc}",
            code="output_invalid",
        )
    if isinstance(exc, UserError):
        return SpawnError(f"agent {agent.name!r}: {exc}", code="configuration")
    if isinstance(exc, ConnectionError | OSError):
        return SpawnError(
            f"agent {agent.name!r}: connection error: {exc!r}",
            code="connection_error",
            details={"transient": True},
        )
    return SpawnError(
        f"agent {agent.name!r} failed: {exc!r}",
        details={"exception": type(exc).__name__},
    )


class PydanticAIExecutor:
    """Builds (once, cached) and runs the PydanticAI agent for a murmur `Agent`."""

    def __init__(self, registry: ToolRegistry, pool: ToolsetPool | None = None) -> None:
        self._registry = registry
        self._pool = pool if pool is not None else ToolsetPool()
        self._cache: OrderedDict[int, tuple[Agent, int, PAAgent[Any, Any]]] = OrderedDict()

    def build(self, agent: Agent) -> PAAgent[Any, Any]:
        """The (cached) PydanticAI agent for `agent`."""
        key = id(agent)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is agent and hit[1] == self._registry.version:
            self._cache.move_to_end(key)
            return hit[2]
        toolsets: list[AbstractToolset[Any]] = []
        if native_tool_names(agent):
            toolsets.append(function_toolset(agent, self._registry))
        toolsets.extend(_provider_toolsets(agent, self._pool))
        options: dict[str, Any] = {
            "output_type": agent.output_type,
            "instructions": agent.instructions or None,
            "name": agent.name,
            "model_settings": dict(agent.model_settings) if agent.model_settings else None,
            "toolsets": toolsets or None,
            "capabilities": [NativeTool(t) for t in agent.builtin_tools] or None,
        }
        pa_agent: PAAgent[Any, Any] = PAAgent(_resolve_model(agent), **options)
        self._cache[key] = (agent, self._registry.version, pa_agent)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return pa_agent

    async def execute(
        self,
        ctx: ExecutionContext,
        *,
        remaining_tokens: int | None,
    ) -> ExecutionOutcome:
        """Run one attempt of `ctx` and return its validated output and usage."""
        run, spent = self.start(ctx, remaining_tokens=remaining_tokens)
        try:
            result = await run
        except Exception as exc:
            raise self.failure(ctx, exc, spent) from exc
        return self.outcome(ctx, result)

    def start(
        self, ctx: ExecutionContext, *, remaining_tokens: int | None
    ) -> tuple[Awaitable[AgentRunResult[Any]], RunUsage]:
        """The PydanticAI run of one attempt of `ctx` (to await), and the usage it fills in.

        `execute` is `start`, then `outcome` of the result, or `failure` of what it raised:
        a caller awaiting the run in its own frame does the same.
        """
        limits = (
            _NO_LIMITS
            if remaining_tokens is None
            else UsageLimits(total_tokens_limit=remaining_tokens, request_limit=None)
        )
        spent = RunUsage()  # filled in as the run goes, so a stopped run still says what it used
        run = self.build(ctx.agent).run(
            _prompt(ctx.input),
            message_history=ctx.message_history or None,
            usage_limits=limits,
            usage=spent,
        )
        return run, spent

    @staticmethod
    def failure(ctx: ExecutionContext, exc: Exception, spent: RunUsage) -> MurmurError:
        """The typed error for what the PydanticAI run of `ctx` raised, with what it used."""
        error = map_exception(exc, ctx.agent)
        if isinstance(exc, UsageLimitExceeded):
            error.details.update(
                input_tokens=spent.input_tokens or 0, output_tokens=spent.output_tokens or 0
            )
        return error

    @staticmethod
    def outcome(ctx: ExecutionContext, result: AgentRunResult[Any]) -> ExecutionOutcome:
        """The `ExecutionOutcome` of a finished PydanticAI run of `ctx`."""
        usage = result.usage
        return ExecutionOutcome(
            output=result.output,
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            requests=usage.requests,
            tool_calls=usage.tool_calls,
            # PydanticAI prices each response once, best effort (None when the model is not
            # in genai-prices, e.g. test and function models) and sums it into the run's usage.
            cost_usd=float(usage.cost) if usage.cost is not None else None,
            model=ctx.agent.model_name,
            messages=result.all_messages(),
        )
