"""`LocalClient`: the `RuntimeClient` interface over a runtime in this process.

It is also what the HTTP server runs on: every route is a `LocalClient` call, so the two
clients cannot drift apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from murmur import TokenBudget, __version__
from murmur.core.errors import MurmurError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import EventQuery, RunRecord
from murmur.types import TaskSpec, new_id
from murmur_client._attach import RuntimeAttachment, attach
from murmur_client._catalogue import agent_info, check_input, group_info, resolve_group
from murmur_client._models import (
    AgentInfo,
    BudgetInfo,
    GroupInfo,
    Health,
    Readiness,
    RunInfo,
    RunKind,
    RunPage,
    RunResult,
    RunStatus,
    RuntimeStats,
    RunTreeNode,
    ToolsReport,
    UsageGroupBy,
    UsageReport,
)
from murmur_client._protocol import RuntimeClient, TimeBound, timestamp
from murmur_client._records import (
    EventFilter,
    gather_children,
    jsonable,
    not_found,
    result_of,
    run_info,
)
from murmur_client._rollups import tool_stats, usage_rows
from murmur_client._runner import BackgroundRunner
from murmur_client._stream import check_resume, stream_events

if TYPE_CHECKING:
    from murmur.runtime import AgentRuntime

__all__ = ["RUN_SCAN_LIMIT", "LocalClient"]

RUN_SCAN_LIMIT = 10_000
"""Runs `runs(since=, until=, q=)` reads at most, newest first, to find a page."""
_SCAN_PAGE = 500


class LocalClient(RuntimeClient):
    """The client interface over an `AgentRuntime` in this process.

    ```python
    runtime = AgentRuntime()
    runtime.register(researcher)
    async with LocalClient(runtime) as client:
        run = await client.start_run("researcher", "What is NATS?")
        result = await client.wait(run.run_id, output_type=Finding)
    ```

    The first client over a runtime attaches to it: runs and events go to the runtime's
    store (an in-memory one is added when it has none) and a broadcaster feeds `events()`.
    Every client over the same runtime shares that state.

    Args:
        runtime: the runtime to drive.
        groups: agent groups to register on the runtime, startable by name (groups the
            runtime already has, e.g. from `runtime.load_specs`, are startable too).
        max_background_runs: runs started here that may execute at once; more is refused
            (code `too_many_runs`).
        store_timeout: seconds any single store operation may take.
    """

    def __init__(
        self,
        runtime: AgentRuntime,
        *,
        groups: Mapping[str, Any] | Sequence[Any] | None = None,
        max_background_runs: int = 1000,
        store_timeout: float = 10.0,
    ) -> None:
        self.runtime = runtime
        self._state: RuntimeAttachment = attach(runtime)
        self.register_groups(groups or ())
        self.store_timeout = store_timeout
        self._runner = BackgroundRunner(self._state, max_background_runs, self._store)

    def register_groups(self, groups: Mapping[str, Any] | Sequence[Any]) -> None:
        """Make agent groups startable by name (shared by every client of this runtime)."""
        items = groups.values() if isinstance(groups, Mapping) else groups
        for group in items:
            self.runtime.register_group(group, replace=True)

    @property
    def broadcaster(self) -> Any:
        """The `EventBroadcaster` feeding `events()`."""
        return self._state.broadcaster

    async def _store(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, self.store_timeout)
        except TimeoutError:
            raise MurmurError(
                f"the run/event store did not answer within {self.store_timeout:g} s; check "
                "that it is reachable, or raise LocalClient(store_timeout=...)",
                code="store_timeout",
            ) from None

    def _groups(self) -> dict[str, Any]:
        return self.runtime.groups

    # -- catalogue ------------------------------------------------------------------------

    async def agents(self) -> list[AgentInfo]:
        """Registered agents with their schemas, by name."""
        return [agent_info(a) for _, a in sorted(self.runtime.agents.items())]

    async def groups(self) -> list[GroupInfo]:
        """Registered groups, by name."""
        return [group_info(g) for _, g in sorted(self._groups().items())]

    # -- starting runs --------------------------------------------------------------------

    async def start_run(
        self,
        agent: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """Start `agent` on `input` in the background (see `RuntimeClient.start_run`)."""
        resolved = self.runtime.get_agent(agent)
        value = check_input(resolved, input)
        run_id = run_id or new_id()
        existing = await self._existing(run_id, RunKind.AGENT, agent)
        if existing is not None:
            return existing
        spec = TaskSpec(
            input=value,
            trace_id=run_id,
            metadata=dict(metadata or {}),
            token_budget=_budget(token_budget, run_id),
        )
        record = RunRecord(
            run_id=run_id,
            kind=RunKind.AGENT.value,
            agent_name=agent,
            task_id=spec.id,
            trace_id=run_id,
            input=jsonable(input),
            metadata=dict(spec.metadata),
        )
        return self._started(
            await self._runner.start(record, self._runner.run_agent(resolved, spec)), record
        )

    async def start_gather(
        self,
        agent: str,
        inputs: Sequence[Any],
        *,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """Start `agent` once per input in the background (see `RuntimeClient.start_gather`)."""
        resolved = self.runtime.get_agent(agent)
        values = [check_input(resolved, item, index) for index, item in enumerate(inputs)]
        if max_concurrency is not None and max_concurrency < 1:
            raise MurmurError("max_concurrency must be >= 1", code="invalid_options")
        run_id = run_id or new_id()
        existing = await self._existing(run_id, RunKind.GATHER, agent)
        if existing is not None:
            return existing
        budget = _budget(token_budget, run_id)
        meta = dict(metadata or {})
        specs = [
            TaskSpec(input=v, parent_trace_id=run_id, metadata=meta, token_budget=budget)
            for v in values
        ]
        record = RunRecord(
            run_id=run_id,
            kind=RunKind.GATHER.value,
            agent_name=agent,
            trace_id=run_id,
            input=jsonable(list(inputs)),
            metadata={**meta, "children": [s.trace_id for s in specs]},
            progress={"total": len(specs), "completed": 0, "failed": 0},
        )
        work = self._runner.run_gather(resolved, specs, run_id, max_concurrency)
        return self._started(await self._runner.start(record, work), record)

    async def start_group(
        self,
        group: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """Start a registered group in the background (see `RuntimeClient.start_group`)."""
        resolved = resolve_group(self._groups(), group)
        run_id = run_id or new_id()
        existing = await self._existing(run_id, RunKind.GROUP, group)
        if existing is not None:
            return existing
        spec = TaskSpec(
            input=input,
            trace_id=run_id,
            metadata=dict(metadata or {}),
            token_budget=_budget(token_budget, run_id),
        )
        record = RunRecord(
            run_id=run_id,
            kind=RunKind.GROUP.value,
            agent_name=group,
            task_id=spec.id,
            trace_id=run_id,
            input=jsonable(input),
            metadata={**spec.metadata, "nodes": list(getattr(resolved, "order", ()))},
        )
        return self._started(
            await self._runner.start(record, self._runner.run_group(resolved, spec)), record
        )

    async def _existing(self, run_id: str, kind: RunKind, name: str) -> RunInfo | None:
        record = self._state.reserved.get(run_id)
        if record is None:
            record = await self._store(self._state.stores.runs.get(run_id))
        if record is None:
            return None
        _same_run(record, kind.value, name)
        return self._info(record)

    def _started(self, holder: RunRecord, mine: RunRecord) -> RunInfo:
        """The run info of whichever start won the run id."""
        if holder is not mine:
            _same_run(holder, mine.kind, mine.agent_name)
        return self._info(holder)

    # -- following runs -------------------------------------------------------------------

    def _info(self, record: RunRecord) -> RunInfo:
        live = None
        if record.kind == RunKind.GATHER.value:
            live = self._state.children_progress(record.run_id)
        return run_info(record, live, active=record.run_id in self._state.tasks)

    async def _record(self, run_id: str) -> RunRecord:
        record = await self._store(self._state.stores.runs.get(run_id))
        if record is None:
            raise not_found(run_id)
        return record

    async def get_run(self, run_id: str) -> RunInfo:
        """A run's status and progress."""
        return self._info(await self._record(run_id))

    async def runs(
        self,
        *,
        status: RunStatus | None = None,
        agent: str | None = None,
        kind: RunKind | None = None,
        parent_trace_id: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RunPage:
        """Runs matching every filter, newest first.

        `since`, `until` and `q` are applied while reading the store newest first, up to
        `RUN_SCAN_LIMIT` runs (the other filters are the store's own).
        """
        if not 1 <= limit <= 1000 or offset < 0:
            raise MurmurError(
                "runs(): limit must be 1..1000 and offset >= 0", code="invalid_options"
            )
        start, end = timestamp(since), timestamp(until)
        if start is not None and end is not None and start > end:
            raise MurmurError("the time range is empty: since is after until", code="invalid_range")
        filters = {
            "status": RunStatus(status) if status is not None else None,
            "agent_name": agent,
            "parent_trace_id": parent_trace_id,
            "kind": RunKind(kind).value if kind is not None else None,
        }
        if start is None and end is None and not q:
            records = await self._store(
                self._state.stores.runs.list(**filters, limit=limit + 1, offset=offset)
            )
            records = [r for r in records if r.parent_trace_id != r.run_id]
        else:
            records = await self._scan(filters, start, end, q, limit + 1 + offset)
            records = records[offset:]
        more = len(records) > limit
        return RunPage(
            runs=[self._info(r) for r in records[:limit]],
            limit=limit,
            offset=offset,
            next_offset=offset + limit if more else None,
        )

    async def _scan(
        self,
        filters: dict[str, Any],
        start: float | None,
        end: float | None,
        q: str | None,
        wanted: int,
    ) -> list[RunRecord]:
        """The first `wanted` runs (newest first) in the time range that contain `q`."""
        needle = (q or "").casefold()
        found: list[RunRecord] = []
        scanned = 0
        while scanned < RUN_SCAN_LIMIT and len(found) < wanted:
            page = await self._store(
                self._state.stores.runs.list(**filters, limit=_SCAN_PAGE, offset=scanned)
            )
            scanned += len(page)
            for record in page:
                if record.parent_trace_id == record.run_id:
                    continue
                if end is not None and record.created_at > end:
                    continue
                if start is not None and record.created_at < start:
                    return found  # newest first: nothing older can match
                if needle and needle not in _haystack(record):
                    continue
                found.append(record)
            if len(page) < _SCAN_PAGE:
                break
        return found

    async def _result(self, run_id: str, wait: float) -> RunResult[Any]:
        record = await self._record(run_id)
        task = self._state.tasks.get(run_id)
        if not record.status.finished and task is not None and wait > 0:
            await asyncio.wait({task}, timeout=wait)
            record = await self._record(run_id)
        elif not record.status.finished and wait > 0:
            deadline = time.monotonic() + wait
            while not record.status.finished and time.monotonic() < deadline:
                await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                record = await self._record(run_id)
        if not record.status.finished:
            raise MurmurError(
                f"run {run_id!r} is still {record.status.value}; wait for it (client.wait) "
                "or poll its status first",
                code="run_not_finished",
                details={"run_id": run_id, "status": record.status.value},
            )
        return await result_of(record, self._state.stores.runs, self._store)

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a background run; returns it with status `cancelled`."""
        record = await self._record(run_id)
        if record.status.finished:
            raise MurmurError(
                f"run {run_id!r} already {record.status.value}; only running runs can be cancelled",
                code="run_finished",
                details={"run_id": run_id, "status": record.status.value},
            )
        if not await self._runner.cancel(run_id):
            raise MurmurError(
                f"run {run_id!r} is not executed by this runtime (started elsewhere, or by a "
                "process that has stopped); cancel it where it runs",
                code="run_not_owned",
                details={"run_id": run_id},
            )
        return await self.get_run(run_id)

    async def tree(self, run_id: str) -> RunTreeNode:
        """The spawn tree under a run (its record is used when it emitted no event itself)."""
        record = await self._store(self._state.stores.runs.get(run_id))
        tree = await self._store(self._state.stores.events.tree(run_id))
        root = RunTreeNode.model_validate(tree.to_dict())
        if record is None and root.agent_name is None and not root.children:
            raise not_found(run_id)
        if record is not None:
            root.agent_name = root.agent_name or record.agent_name
            root.task_id = root.task_id or record.task_id
            root.status = record.status.value
            if not root.children and record.kind == RunKind.GATHER.value:
                for child in gather_children(record):
                    sub = await self._store(self._state.stores.events.tree(child))
                    if sub.agent_name is not None:
                        root.children.append(RunTreeNode.model_validate(sub.to_dict()))
        return root

    # -- the runtime ----------------------------------------------------------------------

    async def stats(self) -> RuntimeStats:
        """Counters since this runtime was attached, workers, budget."""
        state = self._state
        now = time.time()
        budget = self.runtime.options.token_budget
        return RuntimeStats(
            in_flight=len(state.in_flight),
            completed=state.completed,
            failed=state.failed,
            cancelled=state.cancelled,
            background_runs=len(state.tasks),
            input_tokens=state.input_tokens,
            output_tokens=state.output_tokens,
            cost_usd=round(state.cost_usd, 10),
            workers=state.workers.snapshot(now),
            budget=None if budget is None else await _budget_info(budget),
            backend=self.runtime.backend.name,
            started_at=state.started_at,
            uptime_seconds=round(now - state.started_at, 3),
            events_seen=state.events_seen,
            subscribers=state.broadcaster.subscriber_count,
            dropped_events=state.broadcaster.dropped,
        )

    async def _events_in(
        self, types: Sequence[EventType], since: TimeBound, until: TimeBound
    ) -> tuple[list[RuntimeEvent], float | None, float | None]:
        start, end = timestamp(since), timestamp(until)
        if start is not None and end is not None and start > end:
            raise MurmurError("the time range is empty: since is after until", code="invalid_range")
        query = EventQuery(event_types=tuple(types), since=start, until=end)
        return await self._store(self._state.stores.events.query(query)), start, end

    async def usage(
        self,
        *,
        group_by: UsageGroupBy | str = UsageGroupBy.AGENT,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> UsageReport:
        """Tokens and USD of completed runs in a time range, grouped."""
        try:
            grouping = UsageGroupBy(group_by)
        except ValueError:
            allowed = ", ".join(g.value for g in UsageGroupBy)
            raise MurmurError(
                f"unknown group_by {group_by!r}; use one of: {allowed}", code="invalid_options"
            ) from None
        types = [EventType.AGENT_COMPLETED]
        if grouping is UsageGroupBy.TRACE:
            types += [EventType.AGENT_SPAWNED, EventType.GROUP_STARTED]
        events, start, end = await self._events_in(types, since, until)
        rows, total = usage_rows(events, grouping)
        return UsageReport(group_by=grouping, since=start, until=end, rows=rows, total=total)

    async def tools(self, *, since: TimeBound = None, until: TimeBound = None) -> ToolsReport:
        """Per-tool call counts and latency percentiles in a time range."""
        types = [EventType.TOOL_CALL_COMPLETED, EventType.TOOL_CALL_FAILED]
        events, start, end = await self._events_in(types, since, until)
        return ToolsReport(since=start, until=end, tools=tool_stats(events))

    async def health(self) -> Health:
        """Always ok while the process runs."""
        return Health(version=__version__)

    async def ready(self) -> Readiness:
        """Ready when the runtime is open and its store answers."""
        checks: dict[str, str] = {}
        checks["runtime"] = "closed" if getattr(self.runtime, "_closed", False) else "ok"
        try:
            await asyncio.wait_for(self._state.stores.runs.get("readyz-probe"), 2.0)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"error: {type(exc).__name__}: {exc}"[:200]
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)

    async def events(
        self,
        *,
        agent: str | None = None,
        trace_id: str | None = None,
        types: Sequence[EventType | str] | None = None,
        last_event_id: str | None = None,
    ) -> AsyncGenerator[RuntimeEvent]:
        """Live events; resumes from the store after `last_event_id`; lossless when slow."""
        stream = stream_events(
            self._state,
            self._store,
            EventFilter(agent, trace_id, types),
            trace_id=trace_id,
            last_event_id=last_event_id,
        )
        try:
            async for event in stream:
                yield event
        finally:
            await stream.aclose()

    async def check_resume(self, last_event_id: str) -> None:
        """Raise the error `events(last_event_id=...)` would start with, before streaming.

        Raises:
            MurmurError: `event_not_found` (the store holds no such event) or
                `resume_too_old` (more than `MAX_REPLAY` events were stored after it).
        """
        await check_resume(self._state.stores.events, self._store, last_event_id)

    async def aclose(self) -> None:
        """Nothing to release: the runtime and its background runs belong to the caller."""

    async def shutdown(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a grace period
        """Cancel every background run of this runtime and end every event stream."""
        await self._runner.cancel_all(timeout)
        self._state.broadcaster.close()


def _haystack(record: RunRecord) -> str:
    """The text `runs(q=...)` searches: id, agent or group name, error code and message."""
    error = record.error or {}
    parts = (record.run_id, record.agent_name, error.get("code"), error.get("message"))
    return " ".join(str(p) for p in parts if p).casefold()


def _same_run(record: RunRecord, kind: str, name: str | None) -> None:
    if record.kind != kind or record.agent_name != name:
        raise MurmurError(
            f"run id {record.run_id!r} is taken by a {record.kind} run of "
            f"{record.agent_name!r}; choose another run_id or omit it",
            code="run_exists",
            details={"run_id": record.run_id},
        )


def _budget(limit: int | None, run_id: str) -> TokenBudget | None:
    return None if limit is None else TokenBudget(limit, name=f"run {run_id}")


async def _budget_info(budget: TokenBudget) -> BudgetInfo:
    return BudgetInfo(
        name=budget.name,
        limit=budget.limit,
        used=budget.used,
        remaining=await budget.remaining(),
        cost_usd=round(budget.cost_usd, 10),
        max_cost_usd=budget.max_cost_usd,
    )
