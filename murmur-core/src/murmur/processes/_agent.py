"""`agent(...)`: a conversational handle on a murmur `Agent`, owned by a process.

Each `send` is one turn through `runtime.run`, so it gets the runtime's budgets, spawn
limits, retries, events, stores and (with a broker) the worker fleet. The handle keeps the
conversation: its context passer hands the previous turns' messages to the next turn.
Handlers registered with `on` are tools of the agent that run in the owning process,
through the trust gate (`GatedToolset`), with `TOOL_CALL_*` events.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from murmur.agent import Agent
from murmur.context_passer import ParentContext
from murmur.core.errors import SpawnError, SpecValidationError
from murmur.core.ids import new_id
from murmur.events._model import RuntimeEvent
from murmur.processes._process import Process, current_process, enter, leave
from murmur.types import TaskSpec, TrustLevel

__all__ = ["AgentHandle", "agent"]

F = TypeVar("F", bound=Callable[..., Any])

_turns: ContextVar[frozenset[int]] = ContextVar("murmur_handle_turns", default=frozenset())
"""The handles whose turn the current code runs inside (a tool handler, an endpoint)."""


@dataclass(frozen=True, slots=True)
class _Tool:
    name: str
    function: Callable[..., Any]
    read_only: bool
    description: str | None


class _Conversation:
    """The context passer of a handle's agent: each turn starts from the previous ones."""

    name = "conversation"

    def __init__(self, handle: AgentHandle) -> None:
        self._handle = handle

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """The handle's conversation so far."""
        return list(self._handle.history)


class AgentHandle:
    """An agent owned by a process: talk to it, give it tools, watch its events.

    Create one with `await agent(name, ...)` inside an `@agent_process`.
    """

    def __init__(self, process: Process, spec: Agent[Any], machine: Any = None) -> None:
        self.process = process
        self.spec = spec
        self.name = spec.name
        self.machine = machine
        self.history: list[Any] = []
        self.turns = 0
        self.log_name = f"{spec.name}.{process.id[:8]}"
        self._tools: dict[str, _Tool] = {}
        self._built: Agent[Any] | None = None
        self._turn = asyncio.Lock()
        self._events: list[RuntimeEvent] = []
        self._wake = asyncio.Event()

    def __repr__(self) -> str:
        return f"AgentHandle({self.name!r}, process={self.process.name!r})"

    # -- tools ----------------------------------------------------------------------------

    def on(
        self, tool_name: str, *, read_only: bool = False, description: str | None = None
    ) -> Callable[[F], F]:
        """Register an async handler as the tool `tool_name` of this agent.

        The handler's signature and docstring are what the model sees. It runs in the
        owning process (so `done`, `fail` and `emit` there affect that process), through
        the trust gate: a LOW-trust agent may call only `read_only=True` tools, a SANDBOX
        agent none.
        """

        def register(fn: F) -> F:
            if not tool_name or not tool_name.replace("_", "").replace("-", "").isalnum():
                raise SpecValidationError(
                    f"tool name {tool_name!r} must be non-empty letters, digits, '_' or '-'"
                )
            self._tools[tool_name] = _Tool(
                tool_name, self._in_scope(fn), read_only, description or inspect.getdoc(fn)
            )
            self._built = None
            return fn

        return register

    def _in_scope(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        process = self.process

        @functools.wraps(fn)
        async def handler(*args: Any, **kwargs: Any) -> Any:
            token = enter(process)
            try:
                result = fn(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                return result
            finally:
                leave(token)

        return handler

    @property
    def tools(self) -> list[str]:
        """The names of the tools registered with `on` (and by `attach`)."""
        return list(self._tools)

    def agent_spec(self) -> Agent[Any]:
        """The murmur `Agent` the next turn runs: the spec plus the handlers as tools."""
        if self._built is None:
            update: dict[str, Any] = {"context_passer": _Conversation(self)}
            if self._tools:
                update["mcp_servers"] = (*self.spec.mcp_servers, self._toolset())
            self._built = self.spec.model_copy(update=update)
        return self._built

    def _toolset(self) -> Any:
        # PydanticAI takes over a second to import: only a process whose agents have tools
        # pays for it, at its first turn.
        from pydantic_ai import FunctionToolset

        from murmur.backends._pydantic_ai import GatedToolset

        functions: FunctionToolset[Any] = FunctionToolset()
        for tool in self._tools.values():
            functions.add_function(
                tool.function, takes_ctx=False, name=tool.name, description=tool.description
            )
        return GatedToolset(
            functions,
            read_only=frozenset(t.name for t in self._tools.values() if t.read_only),
            granted=frozenset(self._tools),
        )

    # -- turns ----------------------------------------------------------------------------

    async def send(self, message: Any) -> Any:
        """Send `message` and run one turn of the conversation; return the agent's output.

        Turns of one handle run one at a time. Tools the model calls run in the process
        during the turn.

        Raises:
            MurmurError: the turn failed (budget, spawn cap, trust violation, provider...).
        """
        process = self.process
        if id(self) in _turns.get():
            raise SpawnError(
                f"agent {self.name!r} was sent a message from inside its own turn (a tool "
                "handler or an endpoint it called); its turns run one at a time, so this would "
                "wait forever. Return the text from the handler instead, or spawn() a process "
                "that sends after the turn",
                code="reentrant_turn",
            )
        async with self._turn:
            token = _turns.set(_turns.get() | {id(self)})
            task = TaskSpec(
                input=message,
                trace_id=new_id(),
                parent_trace_id=process.id,
                metadata={"process": process.name, "process_id": process.id},
            )
            process.live.watch(task.trace_id, self)
            try:
                result = await process.runtime.run(self.agent_spec(), task)
            finally:
                process.live.unwatch(task.trace_id)
                _turns.reset(token)
            self.turns += 1
            if not result.is_ok():
                assert result.error is not None
                raise result.error
            if result.messages:
                self.history = list(result.messages)
            return result.output

    # -- events ---------------------------------------------------------------------------

    def observe(self, event: RuntimeEvent) -> None:
        """Take an event of one of this handle's turns (called by the run's router)."""
        self._events.append(event)
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    @property
    def events(self) -> AsyncIterator[RuntimeEvent]:
        """The raw events of this agent's turns, from the first, until the process ends."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[RuntimeEvent]:
        index = 0
        while True:
            wake = self._wake
            while index < len(self._events):
                yield self._events[index]
                index += 1
            if not self.process.running:
                return
            waiter = asyncio.ensure_future(wake.wait())
            ended = asyncio.ensure_future(self.process.finished.wait())
            _, pending = await asyncio.wait([waiter, ended], return_when=asyncio.FIRST_COMPLETED)
            for future in pending:
                future.cancel()

    # -- machines -------------------------------------------------------------------------

    async def exec(self, command: str, *, timeout_s: float | None = None) -> Any:
        """Run a shell command on this agent's machine (`agent(..., machine=...)`).

        Raises:
            SpawnError: the agent has no machine (code `"no_machine"`).
            TrustViolationError: the machine refuses the agent's trust level.
        """
        if self.machine is None:
            raise SpawnError(
                f"agent {self.name!r} has no machine: create it with "
                "`await agent(name, machine=await machine())`",
                code="no_machine",
            )
        return await self.machine.exec(
            command, timeout_s=timeout_s, trust_level=self.spec.trust_level
        )

    def status(self) -> dict[str, Any]:
        """A JSON-safe summary (for `murmur ps status`)."""
        return {
            "name": self.name,
            "model": self.spec.model_name,
            "trust_level": self.spec.trust_level.value,
            "tools": self.tools,
            "turns": self.turns,
            "messages": len(self.history),
        }


async def agent(
    name: str,
    system_prompt: str | None = None,
    *,
    model: Any = None,
    output_type: Any = None,
    trust_level: TrustLevel | str | None = None,
    machine: Any = None,
    spec: Agent[Any] | None = None,
) -> AgentHandle:
    """Create an agent owned by the current process and return its handle.

    The agent is `spec` if given, else the agent registered on the runtime under `name`
    (so a worker fleet that knows it runs its turns), else a new `Agent(name=name)`; the
    other arguments override its fields (`system_prompt` sets `instructions`).

    Raises:
        SpawnError: called outside an `@agent_process` (code `"no_process"`).
        SpecValidationError: the process already has an agent of that name.
    """
    process = current_process()
    if name in process.agents:
        raise SpecValidationError(
            f"process {process.name!r} already has an agent named {name!r}; give each agent "
            "of a process its own name"
        )
    base = spec
    if base is None:
        base = process.runtime.agents.get(name) or Agent(name=name)
    overrides: dict[str, Any] = {"name": name}
    if system_prompt is not None:
        overrides["instructions"] = system_prompt
    if model is not None:
        overrides["model"] = model
    if output_type is not None:
        overrides["output_type"] = output_type
    if trust_level is not None:
        overrides["trust_level"] = trust_level
    if set(overrides) != {"name"} or base.name != name:
        base = Agent(**{**_fields(base), **overrides})
    handle = AgentHandle(process, base, machine)
    process.agents[name] = handle
    return handle


def _fields(agent: Agent[Any]) -> dict[str, Any]:
    return {name: getattr(agent, name) for name in Agent.model_fields}
