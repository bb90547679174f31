"""The bounded fan-out every batch in murmur uses: at most `limit` calls at once, in input order.

Its users are `gather`, durable batches, fan-out nodes and the spawn tool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, cast

__all__ = ["bounded_map"]

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
        runners = [asyncio.ensure_future(runner()) for _ in range(width)]
        try:
            await asyncio.gather(*runners)
        except BaseException:
            for task in runners:
                task.cancel()
            raise
    return cast("list[ResultT]", results)  # every slot was filled
