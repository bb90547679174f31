"""Supervision on top of processes: restart a failing child, a bounded pool of workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from murmur.core.errors import MurmurError, SpawnError
from murmur.core.fanout import bounded_map
from murmur.processes._decorator import ProcessFunction, ProcessOptions, spawn
from murmur.processes._handle import bubble
from murmur.processes._process import current_process, emit

__all__ = ["restarting", "worker_pool"]


def restarting(
    function: Callable[..., Coroutine[Any, Any, Any]],
    *,
    max_restarts: int = 3,
    backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
) -> ProcessFunction[..., Any]:
    """A process that runs `function` as its child and restarts it when it fails.

    ```python
    haiku = await restarting(flaky_task, max_restarts=2)("write a haiku")
    ```

    A failed child (it called `fail`, raised, or timed out) is started again, with the same
    arguments, up to `max_restarts` times, waiting `backoff_s * 2 ** n` seconds (at most
    `max_backoff_s`) before restart n + 1; each restart is a `restarting` event. The child's
    events are bubbled with the source `attempt-<n>`. A cancelled child is not restarted.

    Returns:
        A process function: await it (or `spawn` it) with `function`'s arguments.

    Raises:
        SpawnError: `max_restarts` < 0 or `backoff_s` < 0 (code `"invalid_options"`).
    """
    if max_restarts < 0 or backoff_s < 0:
        raise SpawnError(
            "restarting() needs max_restarts >= 0 and backoff_s >= 0", code="invalid_options"
        )
    name = getattr(function, "name", None) or getattr(function, "__name__", "process")

    async def supervisor(*args: Any, **kwargs: Any) -> Any:
        attempt = 1
        while True:
            handle = bubble(spawn(function, *args, **kwargs), source=f"attempt-{attempt}")
            try:
                return await handle
            except MurmurError as exc:
                if attempt > max_restarts or exc.code == "process_cancelled":
                    raise
                delay = min(backoff_s * 2 ** (attempt - 1), max_backoff_s)
                emit(
                    "restarting",
                    {"attempt": attempt + 1, "error": exc.message, "delay_s": delay},
                )
                await asyncio.sleep(delay)
                attempt += 1

    supervisor.__name__ = f"restarting_{name}"
    return ProcessFunction(supervisor, ProcessOptions(name=f"restarting:{name}"))


async def worker_pool(
    function: Callable[..., Coroutine[Any, Any, Any]],
    inputs: Iterable[Any],
    *,
    concurrency: int = 4,
    max_restarts: int = 0,
    backoff_s: float = 0.5,
) -> list[Any]:
    """Run `function(item)` as a child process per input, at most `concurrency` at once.

    Call it inside a process. Each child's events are bubbled onto the current process's
    stream with the source `t0000`, `t0001`, ... (the input's index); with `max_restarts`,
    each child is `restarting(function, ...)`.

    Returns:
        One entry per input, in input order: the child's result, or the `MurmurError` it
        failed with (a failure does not stop the other workers).

    Raises:
        SpawnError: `concurrency` < 1 (code `"invalid_options"`), or called outside a process.
    """
    if concurrency < 1:
        raise SpawnError("worker_pool(concurrency=...) must be >= 1", code="invalid_options")
    current_process()
    items = list(inputs)
    target = (
        restarting(function, max_restarts=max_restarts, backoff_s=backoff_s)
        if max_restarts
        else function
    )

    async def one(index: int, item: Any) -> Any:
        handle = bubble(spawn(target, item), source=f"t{index:04d}")
        try:
            return await handle
        except MurmurError as exc:
            return exc

    return await bounded_map(items, one, concurrency)
