"""The bounded fan-out every batch in murmur uses: at most `limit` calls at once.

`bounded_map` returns the results in input order (fan-out nodes, the spawn tool);
`bounded_iter` yields them as they complete (`gather`, `as_completed`, durable batches).
While a pool of more than one runner is in flight, the collector's young scans are spaced
out (`murmur.core.collector`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import nullcontext
from typing import TypeVar, cast

from murmur.core.collector import spaced_collections

__all__ = ["bounded_iter", "bounded_map"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


async def bounded_map(
    items: Sequence[ItemT],
    call: Callable[[int, ItemT], Awaitable[ResultT]],
    limit: int,
) -> list[ResultT]:
    """`[await call(i, item) for i, item in enumerate(items)]`, at most `limit` at once.

    A pool of `min(limit, len(items))` runners pulls the next index from one shared
    iterator, so a batch of 10,000 creates `limit` tasks, not 10,000 (what the usual
    `asyncio.gather` + `Semaphore` pattern creates up front). If a call raises, the other
    runners are cancelled and the exception propagates.
    """
    count = len(items)
    results: list[ResultT | None] = [None] * count
    indexes = iter(range(count))

    async def runner() -> None:
        for index in indexes:
            results[index] = await call(index, items[index])

    width = min(limit, count)
    if width == 1:
        await runner()
    elif width > 1:
        with spaced_collections():
            runners = [asyncio.ensure_future(runner()) for _ in range(width)]
            try:
                await asyncio.gather(*runners)
            except BaseException:
                for task in runners:
                    task.cancel()
                raise
    return cast("list[ResultT]", results)  # every slot was filled


async def bounded_iter(
    items: Sequence[ItemT],
    call: Callable[[int, ItemT], Awaitable[ResultT]],
    limit: int,
) -> AsyncGenerator[tuple[int, ResultT], None]:
    """Yield `(index, await call(index, item))` for every item as each call completes.

    The same pool of `min(limit, len(items))` runners as `bounded_map`. The runners keep
    going while the consumer handles a result. When the generator is closed early (the
    consumer breaks, is cancelled, or raises), the runners still in flight are cancelled and
    awaited before it returns, so no task outlives it. If a call raises, the other runners
    are cancelled and the exception propagates to the consumer.
    """
    count = len(items)
    if count == 0:
        return
    finished: asyncio.Queue[tuple[int, ResultT] | BaseException] = asyncio.Queue()
    indexes = iter(range(count))

    async def runner() -> None:
        for index in indexes:
            try:
                result = await call(index, items[index])
            except Exception as exc:
                finished.put_nowait(exc)
                return
            finished.put_nowait((index, result))

    width = min(limit, count)
    with spaced_collections() if width > 1 else nullcontext():
        runners = [asyncio.ensure_future(runner()) for _ in range(width)]
        try:
            for _ in range(count):
                item = await finished.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in runners:
                task.cancel()
            # Wait for the cancelled runs to unwind, so none is left pending after this.
            await asyncio.gather(*runners, return_exceptions=True)
