"""The loop behind `AgentRuntime.gather` and `as_completed`: a bounded batch of runs.

Results come out as each run finishes, with progress counted once for both. A batch runs
on `bounded_iter`'s pool of runners in memory, or on `_durable.iter_batch` (recorded and
checkpointed) when the runtime has a store.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from typing import Any, cast

from murmur._durable import iter_batch
from murmur.agent import Agent
from murmur.core.errors import MurmurError, SpawnError
from murmur.core.fanout import bounded_iter, bounded_map
from murmur.execution._context import RuntimeProtocol
from murmur.execution._progress import ProgressCallback, ProgressTracker, gathers_observed
from murmur.types import AgentResult, TaskSpec

__all__ = ["batch_limit", "completions", "results_in_order"]


def batch_limit(runtime: RuntimeProtocol, max_concurrency: int | None, run_id: str | None) -> int:
    """The batch's concurrency, checking the options first.

    Raises:
        SpawnError: `max_concurrency` < 1 (`invalid_options`), or `run_id` without a store
            (`no_store`).
    """
    limit = max_concurrency or runtime.options.default_max_concurrency
    if limit < 1:
        raise SpawnError("gather(max_concurrency=...) must be >= 1", code="invalid_options")
    if run_id is not None and runtime.stores is None:
        raise SpawnError(
            "gather(run_id=...) records a durable batch and needs a store: "
            "AgentRuntime(store='sqlite:///runs.db')",
            code="no_store",
        )
    return limit


async def completions(
    runtime: RuntimeProtocol,
    agent: Agent[Any] | str,
    specs: list[TaskSpec],
    *,
    max_concurrency: int | None,
    run_id: str | None,
    on_progress: ProgressCallback | None,
) -> AsyncGenerator[tuple[int, AgentResult[Any]], None]:
    """`(index, result)` for every task as its run finishes, progress reported on the way.

    Raises:
        SpawnError: as `batch_limit`, or `run_conflict` for a durable batch.
    """
    limit = batch_limit(runtime, max_concurrency, run_id)
    name = agent if isinstance(agent, str) else agent.name
    tracker = ProgressTracker(name, len(specs), on_progress)
    try:
        async with aclosing(_finished_runs(runtime, agent, specs, limit, run_id)) as finished:
            async for index, result in finished:
                await tracker.advance(index, result)
                yield index, result
    finally:
        tracker.close()


async def results_in_order(
    runtime: RuntimeProtocol,
    agent: Agent[Any] | str,
    specs: list[TaskSpec],
    *,
    max_concurrency: int | None,
    run_id: str | None,
    on_progress: ProgressCallback | None,
) -> list[AgentResult[Any]]:
    """Every task's result, in task order (`gather`).

    A batch that is neither durable nor watched (no store, no `on_progress`, no observer such
    as `murmur run`'s progress bar) has its runners
    write each result into its slot: no result passes through a queue and a generator to a
    consumer waking up for each.

    Raises:
        SpawnError: as `completions`.
    """
    if on_progress is None and runtime.stores is None and not gathers_observed():
        limit = batch_limit(runtime, max_concurrency, run_id)
        resolved = _resolve(runtime, agent)
        return await bounded_map(specs, lambda _, spec: runtime.run(resolved, spec), limit)
    results: list[AgentResult[Any] | None] = [None] * len(specs)
    running = completions(
        runtime, agent, specs, max_concurrency=max_concurrency, run_id=run_id,
        on_progress=on_progress,
    )  # fmt: skip
    async with aclosing(running) as finished:
        async for index, result in finished:
            results[index] = result
    return cast("list[AgentResult[Any]]", results)  # every slot was filled


def _finished_runs(
    runtime: RuntimeProtocol,
    agent: Agent[Any] | str,
    specs: list[TaskSpec],
    limit: int,
    run_id: str | None,
) -> AsyncGenerator[tuple[int, AgentResult[Any]], None]:
    resolved = _resolve(runtime, agent)
    if runtime.stores is not None and isinstance(resolved, Agent):
        return iter_batch(runtime, resolved, specs, limit=limit, run_id=run_id)
    return bounded_iter(specs, lambda _, spec: runtime.run(resolved, spec), limit)


def _resolve(runtime: RuntimeProtocol, agent: Agent[Any] | str) -> Agent[Any] | str:
    """The registered agent a name stands for.

    An unknown name stays a name, so every run of the batch fails alike with the registry's
    error, as a result.
    """
    if isinstance(agent, str):
        with suppress(MurmurError):
            return runtime.get_agent(agent)
    return agent
