"""`Pipeliner`: the hot commands of many concurrent runs, sent as one pipeline.

A gather of 500 runs publishes 500 tasks at once; a worker at concurrency 32 publishes
results and acks for 32 tasks at once. Sent one by one, each command takes a pooled
connection, a syscall and a parse of its own. The pipeliner queues them instead: one
flusher task takes everything queued, sends it as one non-transactional pipeline on one
pooled connection, and resolves each caller's future with its own replies; what arrives
meanwhile goes in the next pipeline. An idle caller pays one event-loop hop; a busy one
pays a fraction of a round trip per command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

__all__ = ["Pipeliner"]

_MAX_BATCH = 512

Queue = Callable[["Pipeline"], object]
"""Adds one caller's commands to the pipeline."""


class Pipeliner:
    """Coalesces the commands of concurrent callers into pipelines on `client`."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._pending: list[tuple[Queue, int, asyncio.Future[list[Any]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, queue: Queue, commands: int) -> list[Any]:
        """Queue `commands` commands (added to the pipeline by `queue`) and return their replies.

        Raises the first reply that is an error, or the pipeline's failure.
        """
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((queue, commands, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="murmur-redis-pipeline")
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
            batch = [item for item in batch if not item[2].done()]  # abandoned by a timeout
            if not batch:
                continue
            try:
                pipe = self._client.pipeline(transaction=False)
                for queue, _, _ in batch:
                    queue(pipe)
                replies = await pipe.execute(raise_on_error=False)
            except asyncio.CancelledError:
                for _, _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for _, count, future in batch:
                mine, start = replies[start : start + count], start + count
                if future.done():
                    continue
                error = next((r for r in mine if isinstance(r, Exception)), None)
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(mine)

    async def aclose(self) -> None:
        """Stop the flusher; callers still waiting get `CancelledError`."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
        for _, _, future in self._pending:
            if not future.done():
                future.cancel()
        self._pending.clear()
