"""Background runs: start a run as an asyncio task, record how it ends, cancel it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from murmur.core.collector import spaced_collections
from murmur.core.errors import AllAgentsFailedError, MurmurError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import RunRecord, RunStatus
from murmur.types import AgentResult, TaskSpec
from murmur_client._json import check_json
from murmur_client._records import cancelled_error, jsonable

if TYPE_CHECKING:
    from murmur_client._attach import RuntimeAttachment

__all__ = ["BackgroundRunner"]


def _log() -> Any:
    import structlog  # imported on first use: it pulls in rich when that is installed

    return structlog.get_logger("murmur.client")


_MAX_CANCEL_DEPTH = 32


class BackgroundRunner:
    """Owns the asyncio tasks of the runs started through a client.

    While two or more of them execute, the collector's young scans are spaced out, as in
    a fan-out (`murmur.core.collector`): `murmur serve` runs many runs at once this way.
    """

    def __init__(
        self,
        state: RuntimeAttachment,
        max_runs: int,
        guard: Callable[[Awaitable[Any]], Awaitable[Any]],
    ) -> None:
        self._state = state
        self._max_runs = max_runs
        self._guard = guard
        self._in_flight = 0
        self._spaced: AbstractContextManager[None] | None = None

    @property
    def _runs(self) -> Any:
        return self._state.stores.runs

    async def start(self, record: RunRecord, work: Coroutine[Any, Any, None]) -> RunRecord:
        """Record the run as pending and start `work` as a background task.

        Returns the record of the run that holds `record.run_id`: `record` itself, or the
        one a concurrent start with the same id reserved first (`work` is then dropped).
        """
        tasks, reserved = self._state.tasks, self._state.reserved
        try:  # nothing a store cannot encode, or would read back changed, is recorded
            check_json(record.input, "input")
            check_json(jsonable(record.metadata), "metadata")
        except MurmurError:
            work.close()
            raise
        earlier = reserved.get(record.run_id)
        if earlier is not None:  # checked and reserved with no await in between
            work.close()
            return earlier
        if len(reserved) >= self._max_runs:
            work.close()
            raise MurmurError(
                f"{len(reserved)} runs are already executing here (max_background_runs="
                f"{self._max_runs}); wait for some to finish or raise the limit",
                code="too_many_runs",
            )
        reserved[record.run_id] = record
        try:
            await self._guard(self._runs.put(record))
        except BaseException:
            reserved.pop(record.run_id, None)
            work.close()
            raise
        task = asyncio.create_task(
            self._supervise(record.run_id, work), name=f"murmur-run-{record.run_id}"
        )
        tasks[record.run_id] = task
        self._in_flight += 1
        if self._in_flight > 1 and self._spaced is None:
            self._spaced = spaced_collections()
            self._spaced.__enter__()

        def done(_: asyncio.Task[None]) -> None:
            tasks.pop(record.run_id, None)
            reserved.pop(record.run_id, None)
            self._in_flight -= 1
            if self._in_flight <= 1 and self._spaced is not None:
                spaced, self._spaced = self._spaced, None
                spaced.__exit__(None, None, None)

        task.add_done_callback(done)
        return record

    async def _supervise(self, run_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            await asyncio.shield(self._mark_cancelled(run_id))
            raise
        except Exception as exc:  # a bug below us: the run still ends with a typed error
            _log().exception("background run failed unexpectedly", run_id=run_id)
            await self._finish(run_id, error=MurmurError(f"run failed unexpectedly: {exc!r}"))

    async def _finish(
        self,
        run_id: str,
        *,
        output: Any = None,
        error: MurmurError | None = None,
        metadata: dict[str, Any] | None = None,
        progress: dict[str, int] | None = None,
    ) -> None:
        record = await self._guard(self._runs.get(run_id))
        if record is None or record.status.finished:
            # The runtime already wrote how the run ended (its final result): a run becomes
            # finished once, so pollers never see an interim answer replaced by another.
            return
        record.output = output
        if error is None:
            record.status = RunStatus.COMPLETED
            record.error = None
        else:
            record.status = RunStatus.CANCELLED if error.code == "cancelled" else RunStatus.FAILED
            record.error = error.to_dict()
        record.metadata.update(metadata or {})
        if progress is not None:
            record.progress = {**record.progress, **progress}
        if record.parent_trace_id == record.run_id:  # a batch is not its own parent
            record.parent_trace_id = None
        record.updated_at = time.time()
        await self._guard(self._runs.put(record))

    # -- the three kinds of run ------------------------------------------------------------

    async def run_agent(self, agent: Any, spec: TaskSpec) -> None:
        """Run one agent and record its output or error."""
        result = await self._state.runtime.run(agent, spec)
        await self._finish(
            spec.trace_id,
            output=jsonable(result.value) if result.is_ok() else None,
            error=result.error,
            metadata=_usage(result),
        )

    async def run_gather(
        self, agent: Any, specs: list[TaskSpec], run_id: str, max_concurrency: int | None
    ) -> None:
        """Run one agent over many tasks and record every output and error, in order."""
        self._state.watch_children(run_id)
        try:  # the runtime records the batch under run_id (durable: runtime.resume(run_id))
            results = await self._state.runtime.gather(
                agent, specs, max_concurrency=max_concurrency, run_id=run_id
            )
        finally:
            self._state.unwatch_children(run_id)
        failed = sum(1 for r in results if not r.is_ok())
        error: MurmurError | None = None
        first = next((r.error for r in results if r.error is not None), None)
        if failed:
            kind = AllAgentsFailedError if failed == len(results) else MurmurError
            error = kind(
                f"{failed} of {len(results)} runs of agent {agent.name!r} failed (see the "
                f"result's items); first error: {first.message if first else 'unknown'}",
                code="all_failed" if failed == len(results) else "partial_failure",
                details={"failed": failed, "first_error": first.to_dict() if first else None},
            )
        await self._finish(
            run_id,
            output=[jsonable(r.value) if r.is_ok() else None for r in results],
            error=error,
            metadata={
                "children": [s.trace_id for s in specs],
                "errors": [r.error.to_dict() if r.error else None for r in results],
                "input_tokens": sum(r.metadata.input_tokens for r in results),
                "output_tokens": sum(r.metadata.output_tokens for r in results),
                "cost_usd": _sum_cost(results),
            },
            progress={"total": len(results), "completed": len(results) - failed, "failed": failed},
        )

    async def run_group(self, group: Any, spec: TaskSpec) -> None:
        """Run a group; the group runner records it, we add what the API needs."""
        result = await self._state.runtime.run_group(group, spec)
        await self._finish(
            spec.trace_id,
            output=jsonable(result.outputs) if result.error is None else None,
            error=result.error,
            metadata={
                "terminals": list(result.terminals),
                "nodes": {n: r.status.value for n, r in result.nodes.items()},
                "duration_ms": result.duration_ms,
                "total_tokens": result.total_tokens,
            },
        )

    # -- cancellation ---------------------------------------------------------------------

    async def cancel(self, run_id: str, grace: float = 10.0) -> bool:
        """Cancel a background run and wait until it is recorded as cancelled."""
        task = self._state.tasks.get(run_id)
        if task is None:
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=grace)
        return True

    async def cancel_all(self, grace: float) -> None:
        """Cancel every background run (server shutdown)."""
        tasks = list(self._state.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    async def _mark_cancelled(self, run_id: str, depth: int = 0) -> None:
        """Record `run_id` and every unfinished run below it as cancelled."""
        record = await self._guard(self._runs.get(run_id))
        if record is None or record.status.finished:
            return
        error = cancelled_error(run_id)
        record.status = RunStatus.CANCELLED
        record.error = error.to_dict()
        record.updated_at = time.time()
        await self._guard(self._runs.put(record))
        if record.kind in ("agent", "group"):
            failed = EventType.AGENT_FAILED if record.kind == "agent" else EventType.GROUP_FAILED
            await self._state.runtime.emit(
                RuntimeEvent(
                    event_type=failed,
                    agent_name=record.agent_name,
                    task_id=record.task_id,
                    trace_id=record.trace_id,
                    parent_trace_id=record.parent_trace_id,
                    payload={
                        "error_type": "MurmurError",
                        "error": error.message,
                        "code": "cancelled",
                    },
                )
            )
        if depth < _MAX_CANCEL_DEPTH:
            for child in await self._guard(self._runs.children(run_id)):
                await self._mark_cancelled(child.run_id, depth + 1)


def _usage(result: AgentResult[Any]) -> dict[str, Any]:
    meta = result.metadata
    return {
        "input_tokens": meta.input_tokens,
        "output_tokens": meta.output_tokens,
        "cost_usd": meta.cost_usd,
        "duration_ms": meta.duration_ms,
        "model": meta.model,
    }


def _sum_cost(results: list[AgentResult[Any]]) -> float | None:
    costs = [r.metadata.cost_usd for r in results if r.metadata.cost_usd is not None]
    return sum(costs) if costs else None
