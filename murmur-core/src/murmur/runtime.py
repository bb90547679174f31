"""`AgentRuntime`: run agents, one at a time or in bounded fan-outs, locally or on a fleet.

Every run goes through one pipeline of stages (see `docs/architecture.md`, "Which stage
runs where"): spawn control -> observability -> prepare -> your middleware -> retry ->
cost -> timeout -> execute. On a worker, a task delivered from a broker runs only
observability (local telemetry, no record), your middleware and execute: the caller's
pipeline did the rest once, and its limits travel in the task envelope.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast, overload

from murmur._batches import batch_limit, completions, results_in_order
from murmur._durable import resume, run_group_durably
from murmur._run import RunFrame, result_of
from murmur.agent import Agent
from murmur.backends._async import AsyncBackend
from murmur.context_passer import ContextPasser
from murmur.core.errors import MurmurError, SpawnError
from murmur.events._emitters import (
    DELIVERED,
    EventEmitter,
    LogEventEmitter,
    MultiEventEmitter,
    NullEventEmitter,
    emit_nowait_of,
    emit_run_of,
    emitter_failed,
    flush_emitter,
)
from murmur.events._model import EventType, RuntimeEvent, run_event
from murmur.execution._backend import Backend
from murmur.execution._context import (
    ExecutionContext,
    new_context,
)
from murmur.execution._options import RuntimeOptions
from murmur.execution._outcome import ExecutionOutcome
from murmur.execution._progress import ProgressCallback
from murmur.execution._spawns import SpawnCounter
from murmur.middleware._base import Middleware, Next, compose
from murmur.middleware._stages import caller_stages, delivered_stages
from murmur.middleware.prepare import needs_validation, validate_output
from murmur.plugins._discovery import PluginIndex
from murmur.plugins.host import PluginHost
from murmur.registry._loader import Registry, load_specs
from murmur.runs._base import Stores
from murmur.runs._emitter import StoreEventEmitter
from murmur.tooling._pool import ToolsetPool
from murmur.tooling._registry import ToolRegistry
from murmur.types import AgentResult, ResultMetadata, TaskSpec

if TYPE_CHECKING:
    import os

    from murmur.groups._checkpoint import GroupCheckpoint
    from murmur.groups._group import AgentGroup
    from murmur.groups._result import GroupResult

__all__ = ["AgentRuntime", "RuntimeOptions"]

_START_RETRY_S = 1.0
"""After a failed backend start (broker down), runs within this window fail with the same
error instead of each trying to connect again."""

OutputT = TypeVar("OutputT")


class AgentRuntime:
    """Runs agents through one middleware pipeline, locally or on a broker.

    ```python
    runtime = AgentRuntime()                                  # asyncio, in-process
    runtime = AgentRuntime(broker="redis://localhost:6379")   # a worker fleet
    result = await runtime.run(researcher, TaskSpec(input="What is NATS?"))
    results = await runtime.gather(researcher, tasks, max_concurrency=20)
    ```

    Args:
        options: middleware knobs (`RuntimeOptions`).
        event_emitter: where events go (default `LogEventEmitter`): an emitter, or the name
            of one resolved through the plugin host (`"log"`, `"otel"` with murmur-otel).
        broker: a broker URL resolved through the plugin host, or a `Backend` instance;
            None runs in-process on asyncio.
        store: a store URL (`"sqlite:///runs.db"`, `"memory://"`) or a `Stores` instance;
            runs and events are recorded there.
        plugins: a `PluginHost` to use (default: a new one for this runtime).
        middleware: extra stages, run inside observability and before retry (on a worker:
            around the execution of each delivered task).
    """

    def __init__(
        self,
        options: RuntimeOptions | None = None,
        *,
        event_emitter: EventEmitter | str | None = None,
        broker: str | Backend | None = None,
        store: str | Stores | None = None,
        plugins: PluginHost | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.options = options or RuntimeOptions()
        self.tools = ToolRegistry()
        self.toolsets = ToolsetPool()  # MCP servers, started on first use, shared by agents
        self.registry = Registry()
        self._host = plugins
        self._backend = self._resolve_backend(broker)
        self._local = self._backend if isinstance(self._backend, AsyncBackend) else AsyncBackend()
        self.stores = self._resolve_store(store)
        emitter = self._resolve_emitter(event_emitter)
        if self.stores is not None:
            emitter = MultiEventEmitter([emitter, StoreEventEmitter(self.stores.events)])
        self.event_emitter = emitter
        self.spawns = SpawnCounter(self.options.max_total_spawns)
        self._started = False
        self._start_lock = asyncio.Lock()
        self._start_failed: tuple[float, MurmurError] | None = None
        self._closed = False
        self._passers: dict[str, ContextPasser] = {}
        local = self._backend if type(self._backend) is AsyncBackend else None
        self._frame = RunFrame(
            caller_stages(self.options, self.spawns, middleware), self._execute, local
        )
        self._delivered_pipeline: Next = compose(
            delivered_stages(middleware), self._execute_delivered
        )

    # -- plumbing -----------------------------------------------------------------------

    @property
    def plugins(self) -> PluginHost:
        """The plugin host this runtime resolves backends, stores and emitters through."""
        if self._host is None:
            self._host = PluginHost()
        return self._host

    @property
    def plugin_host(self) -> PluginHost | None:
        """The plugin host in use, if any (None until a plugin is resolved or a hook is due)."""
        return self._host

    def add_emitter(self, emitter: EventEmitter) -> None:
        """Also deliver every event to `emitter` (a worker adds its event relay this way)."""
        self.event_emitter = MultiEventEmitter([self.event_emitter, emitter])

    @property
    def backend(self) -> Backend:
        """The backend executing runs."""
        return self._backend

    def _resolve_backend(self, broker: str | Backend | None) -> Backend:
        if broker is None:
            return AsyncBackend()
        if isinstance(broker, Backend):
            return broker
        options: dict[str, Any] = {}
        if self.options.broker_signing_key is not None:
            options["signing_key"] = self.options.broker_signing_key
        return self.plugins.resolve_backend(broker, **options)

    def _resolve_emitter(self, emitter: EventEmitter | str | None) -> EventEmitter:
        if emitter is None:
            return LogEventEmitter()
        if isinstance(emitter, str):
            emitter = self.plugins.resolve_emitter(emitter)
        if not callable(getattr(emitter, "emit", None)):
            raise SpawnError(
                f"event_emitter must be an emitter (an object with async emit(event)) or an "
                f"emitter name such as 'log' or 'otel', not a {type(emitter).__name__}",
                code="invalid_options",
            )
        return emitter

    def _resolve_store(self, store: str | Stores | None) -> Stores | None:
        if store is None or isinstance(store, Stores):
            return store
        return self.plugins.resolve_store(store)

    def _execute(self, ctx: ExecutionContext) -> Awaitable[ExecutionOutcome]:
        if needs_validation(ctx.agent, self._backend is self._local):
            return self._execute_validated(ctx)
        # The backend's own coroutine: no frame of this for every suspension to pass through.
        return self._backend.execute(ctx, remaining_tokens=ctx.remaining_tokens)

    async def _execute_validated(self, ctx: ExecutionContext) -> ExecutionOutcome:
        outcome = await self._backend.execute(ctx, remaining_tokens=ctx.remaining_tokens)
        outcome.output = validate_output(ctx, outcome.output)
        return outcome

    async def _execute_delivered(self, ctx: ExecutionContext) -> ExecutionOutcome:
        # Always here, never on this runtime's broker: the task was delivered to run here.
        outcome = await self._local.execute(ctx, remaining_tokens=ctx.remaining_tokens)
        outcome.output = validate_output(ctx, outcome.output, post_process=False)
        return outcome

    async def start(self) -> None:
        """Connect the backend (done automatically on first run)."""
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise SpawnError("this AgentRuntime was closed; create a new one")
            failed = self._start_failed
            if failed is not None and time.monotonic() - failed[0] < _START_RETRY_S:
                raise failed[1]  # runs queued behind a failed connect fail at once with it
            try:
                await self._backend.start(self)
                if self._local is not self._backend:
                    await self._local.start(self)
            except MurmurError as exc:
                self._start_failed = (time.monotonic(), exc)
                raise
            self._start_failed = None
            self._started = True
            if self._host is not None or self._wants_hooks():
                self.plugins.runtime_started(self)

    def _wants_hooks(self) -> bool:
        # Build a plugin host only when some installed plugin implements hooks: the check
        # reads package metadata and imports nothing.
        return bool(PluginIndex.scan().external_plugins())

    async def aclose(self) -> None:
        """Release broker connections and stores, stop MCP servers. Safe to call twice.

        An emitter that holds events (murmur-otel's batch) delivers them (`flush_emitter`).
        """
        if self._closed:
            return
        self._closed = True
        await self._backend.aclose()
        await self.toolsets.aclose()
        if self.stores is not None:
            await self.stores.aclose()
        flush_emitter(self._emitter)
        if self._started and self._host is not None:
            self._host.runtime_stopped(self)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- events -------------------------------------------------------------------------

    @property
    def event_emitter(self) -> EventEmitter:
        """Where this runtime's events go (may be replaced, e.g. to add an emitter)."""
        return self._emitter

    @event_emitter.setter
    def event_emitter(self, emitter: EventEmitter) -> None:
        self._emitter = emitter
        self._emit_nowait = emit_nowait_of(emitter)  # found once per emitter, used per event
        self._emits_nothing = type(emitter) is NullEventEmitter
        # An emitter that takes an event about a run as its fields (the default emitter's
        # console line, murmur-otel's batch): the event is not built for it.
        self._emit_run = emit_run_of(emitter)

    @property
    def observed(self) -> bool:
        """Whether anything sees this runtime's events.

        False with a `NullEventEmitter` and no plugin implementing `murmur_event`: then the
        runtime does not build its events at all.
        """
        return not self._emits_nothing or (self._host is not None and self._host.hears_events)

    async def emit(self, event: RuntimeEvent) -> None:
        """Deliver an event to the emitter and to every plugin's `murmur_event` hook.

        A failing emitter or hook is logged and never fails the run.
        """
        pending = self._deliver(event)
        if pending is not DELIVERED:
            await pending

    def emit_for(
        self, ctx: ExecutionContext, event_type: EventType, payload: dict[str, Any]
    ) -> Awaitable[None]:
        """Emit an event about the run `ctx` (await the result).

        Delivered before it returns when the emitter is synchronous (`emit_nowait`); then
        the awaitable it returns is already done.
        """
        if self._emits_nothing and not self.observed:
            return DELIVERED  # nobody would see it: not even built
        emit_run = self._emit_run
        host = self._host
        failure: Exception | None = None
        if emit_run is not None and (host is None or not host.hears_events):
            try:
                if emit_run(
                    event_type, ctx.agent.name, ctx.task.id, ctx.trace_id, ctx.parent_trace_id,
                    payload,
                ):  # fmt: skip
                    return DELIVERED  # the emitter took its fields: no event built
            except Exception as exc:  # an emitter must never fail a run
                failure = exc
        event = run_event(
            event_type, ctx.agent.name, ctx.task.id, ctx.trace_id, ctx.parent_trace_id, payload
        )
        if failure is not None:  # emit_run's failure, logged with the event it stood for
            emitter_failed(self._emitter, event, failure)
            return DELIVERED
        return self._deliver(event)

    def _deliver(self, event: RuntimeEvent) -> Awaitable[None]:
        nowait = self._emit_nowait
        if nowait is None:
            return self._emit_async(self._emitter, event)
        try:
            nowait(event)
        except Exception as exc:  # an emitter must never fail a run
            emitter_failed(self._emitter, event, exc)
        host = self._host
        if host is not None and host.hears_events:
            host.notify_event(event)
        return DELIVERED

    async def _emit_async(self, emitter: EventEmitter, event: RuntimeEvent) -> None:
        try:  # safe_emit, inline: one coroutine fewer per event
            await emitter.emit(event)
        except Exception as exc:  # an emitter must never fail a run
            emitter_failed(emitter, event, exc)
        host = self._host
        if host is not None and host.hears_events:
            host.notify_event(event)

    # -- registry -----------------------------------------------------------------------

    def register(self, agent: Agent[Any], *, replace: bool = False) -> Agent[Any]:
        """Register an agent so `run("name", ...)` resolves it. Returns the agent."""
        return self.registry.register_agent(agent, replace=replace)

    def register_group(self, group: AgentGroup, *, replace: bool = False) -> AgentGroup:
        """Register a group so `run_group("name", ...)` and `resume` find it. Returns it."""
        return self.registry.register_group(group, replace=replace)

    def get_agent(self, name: str) -> Agent[Any]:
        """A registered agent by name (`RegistryError` naming the registered ones if none)."""
        return self.registry.agent(name)

    def get_group(self, name: str) -> AgentGroup:
        """A registered group by name (`RegistryError` naming the registered ones if none)."""
        return self.registry.group(name)

    @property
    def agents(self) -> dict[str, Agent[Any]]:
        """Registered agents by name."""
        return dict(self.registry.agents)

    @property
    def groups(self) -> dict[str, AgentGroup]:
        """Registered groups by name."""
        return dict(self.registry.groups)

    def load_specs(self, path: str | os.PathLike[str], *, replace: bool = False) -> Registry:
        """Load a YAML spec directory (or file): register its agents, remember its groups.

        Afterwards `run("researcher", ...)` and `run_group("crew", ...)` resolve by name.
        """
        loaded = load_specs(path, agents=self.registry.agents)
        self.register_all(loaded, replace=replace)
        return loaded

    def register_all(self, registry: Registry, *, replace: bool = False) -> None:
        """Register every agent of a spec `Registry`, and remember its groups by name."""
        for agent in registry.agents.values():
            self.register(agent, replace=replace)
        self.registry.groups.update(registry.groups)

    def context_passer(self, name: str) -> ContextPasser:
        """A context passer by registered name (`"null"`, `"full"`, plugin names)."""
        passer = self._passers.get(name)
        if passer is None:
            passer = self._passers[name] = self.plugins.resolve_context_passer(name)
        return passer

    # -- running ------------------------------------------------------------------------

    @overload
    async def run(
        self, agent: Agent[OutputT], task: TaskSpec | Any = None
    ) -> AgentResult[OutputT]: ...

    @overload
    async def run(self, agent: str, task: TaskSpec | Any = None) -> AgentResult[Any]: ...

    async def run(self, agent: Agent[Any] | str, task: TaskSpec | Any = None) -> AgentResult[Any]:
        """Run one agent on one task. Never raises for a failed run: see `result.error`.

        Args:
            agent: an `Agent`, or the name of a registered agent.
            task: a `TaskSpec`; any other value is used as the task input.
        """
        spec = task if isinstance(task, TaskSpec) else TaskSpec(input=task)
        try:
            resolved = self.get_agent(agent) if isinstance(agent, str) else agent
        except MurmurError as exc:
            return AgentResult.failed(exc, self._metadata_for_unknown(str(agent), spec))
        if not self._started:
            try:
                await self.start()
            except MurmurError as exc:  # e.g. the broker is down: a result, tried again later
                return AgentResult.failed(exc, self._metadata_for_unknown(resolved.name, spec))
        return await self._frame.result(self.context_for(resolved, spec))

    async def gather(
        self,
        agent: Agent[OutputT] | str,
        tasks: Iterable[TaskSpec | Any],
        *,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[AgentResult[OutputT]]:
        """Run one agent over many tasks, at most `max_concurrency` at once.

        Results come back in task order; failures are results too (`is_ok()` is False).
        `max_concurrency` runners pull the next task as each finishes, so a batch of 10,000
        holds `max_concurrency` tasks in flight, not 10,000. To handle results as they
        finish rather than all at the end, use `as_completed`.

        With a store set, the batch is durable: it is recorded as a run
        (`RunRecord(kind="gather")`) and each successful result is checkpointed as it
        completes, so `runtime.resume(run_id)` (or the same call with the same `run_id`)
        after a crash runs only the unfinished tasks. See `docs/durable-runs.md`.

        Args:
            agent: an `Agent`, or the name of a registered agent.
            tasks: `TaskSpec`s; any other value is used as a task input.
            max_concurrency: most runs at once (default `RuntimeOptions.default_max_concurrency`).
            run_id: the batch's run id (with a store; default a new id). Choose it, e.g.
                `new_id()`, to be able to resume the batch; each task's `metadata`
                also carries it as `gather_run_id`.
            on_progress: called with a `GatherProgress` (done, total, failed, the finished
                task's index and result) as each task finishes; a plain function or an
                async one. An exception it raises stops the gather (the runs still in
                flight are cancelled) and propagates.

        Raises:
            SpawnError: `max_concurrency` < 1, or `run_id` given without a store.
        """
        specs = [t if isinstance(t, TaskSpec) else TaskSpec(input=t) for t in tasks]
        results = await results_in_order(
            self, agent, specs, max_concurrency=max_concurrency, run_id=run_id,
            on_progress=on_progress,
        )  # fmt: skip
        return cast("list[AgentResult[OutputT]]", results)

    def as_completed(
        self,
        agent: Agent[OutputT] | str,
        tasks: Iterable[TaskSpec | Any],
        *,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[tuple[int, AgentResult[OutputT]], None]:
        """`gather`, yielding `(index, result)` as each task finishes instead of a list.

        ```python
        async for index, result in runtime.as_completed(researcher, questions):
            print(index, result.output if result.is_ok() else result.error)
        ```

        Same options and guarantees as `gather` (bounded concurrency, budgets, a durable
        batch with a store and `run_id`); `index` is the task's position in `tasks`, and a
        failure is a result too. Every task's result is yielded exactly once.

        Stopping early stops the batch: when the consumer is cancelled or raises, the runs
        still in flight are cancelled before the exception leaves the loop. After a
        `break`, close the iterator to cancel them at once (`async with
        contextlib.aclosing(runtime.as_completed(...)) as results:`); otherwise they are
        cancelled when the iterator is garbage collected. A durable batch stopped early
        stays resumable: its finished tasks are checkpointed.

        Args:
            agent: an `Agent`, or the name of a registered agent.
            tasks: `TaskSpec`s; any other value is used as a task input.
            max_concurrency: most runs at once (default `RuntimeOptions.default_max_concurrency`).
            run_id: the batch's run id (with a store), as in `gather`.
            on_progress: as in `gather`, called before each result is yielded.

        Raises:
            SpawnError: `max_concurrency` < 1, or `run_id` given without a store (raised
                here, before any task runs).
        """
        specs = [t if isinstance(t, TaskSpec) else TaskSpec(input=t) for t in tasks]
        batch_limit(self, max_concurrency, run_id)
        return completions(
            self, agent, specs, max_concurrency=max_concurrency, run_id=run_id,
            on_progress=on_progress,
        )  # fmt: skip

    async def run_group(
        self,
        group: AgentGroup | str,
        task: TaskSpec | Any = None,
        *,
        checkpoint: GroupCheckpoint | None = None,
        timeout_seconds: float | None = None,
    ) -> GroupResult:
        """Run an `AgentGroup` (or a group loaded by name); every node goes through `run`.

        Never raises for a failed node: see `GroupResult.error`. See `murmur.groups`.
        With a store set and no `checkpoint`, each finished node is checkpointed in the
        store and `runtime.resume(task.trace_id)` continues the run after a crash.
        """
        return await run_group_durably(
            self, group, task, checkpoint=checkpoint, timeout_seconds=timeout_seconds
        )

    async def resume(self, run_id: str) -> GroupResult | list[AgentResult[Any]]:
        """Continue a group run or gather batch recorded in this runtime's store.

        Finished nodes and tasks are restored from their checkpoints (no model call);
        the rest run. The agents and groups must be registered here under the same names
        (`register`, `register_group`, `load_specs`). See `docs/durable-runs.md`.

        Args:
            run_id: a group run's id (its task's `trace_id`) or a gather batch's `run_id`.

        Returns:
            A `GroupResult` for a group run, the ordered result list for a gather batch.

        Raises:
            SpawnError: no store is set (code `"no_store"`).
            RegistryError: unknown run, a run that is not resumable, or a group or agent
                that is not registered.
        """
        return await resume(self, run_id)

    def _metadata_for_unknown(self, name: str, spec: TaskSpec) -> ResultMetadata:
        return ResultMetadata(
            task_id=spec.id,
            trace_id=spec.trace_id,
            agent_name=name,
            parent_trace_id=spec.parent_trace_id,
            backend=self._backend.name,
        )

    def context_for(self, agent: Agent[Any], task: TaskSpec) -> ExecutionContext:
        """The execution context a run of `agent` on `task` gets here.

        Nested under the run currently executing in this task, if any: one level deeper,
        with its ancestors, budgets and spawn limits.
        """
        return new_context(
            agent,
            task,
            runtime=self,
            backend=self._backend.name,
            token_budget=self.options.token_budget,
        )

    async def execute_context(self, ctx: ExecutionContext) -> AgentResult[Any]:
        """Run a prepared context through the pipeline and build its result."""
        return await self._frame.result(ctx)

    async def execute_delivered(self, ctx: ExecutionContext) -> AgentResult[Any]:
        """Execute a task delivered from a broker, in this process.

        Its context is built by the worker from the envelope (`murmur.worker.delivered_context`).
        Runs observability (events stay on this worker; no run record: the caller records the
        run), this runtime's middleware, and the execution itself.
        """
        if not self._started:
            await self.start()
        return await result_of(ctx, self._delivered_pipeline)
