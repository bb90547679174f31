"""`WriteBuffer`, the write buffer persistent stores share: run records are written
through, a failed batch is reported to every writer in it, its events are retried, and a
bounded number of them is kept."""

from __future__ import annotations

import asyncio

import pytest

from murmur.core.errors import RegistryError
from murmur.runs import Batch, WriteBuffer

Rows = Batch[str, str, str]


class Target:
    """Records written batches; fails while `down` is set."""

    def __init__(self) -> None:
        self.batches: list[Rows] = []
        self.down = False

    async def write(self, batch: Rows) -> None:
        await asyncio.sleep(0)
        if self.down:
            raise RegistryError("the store is down", code="store_unavailable")
        self.batches.append(batch)

    def events(self) -> list[str]:
        return [e for b in self.batches for e in b.events]


def _buffer(target: Target, **options: int) -> WriteBuffer[str, str, str]:
    return WriteBuffer(
        target.write,
        name="test",
        batch_size=options.get("batch_size", 100),
        flush_interval=60,
        max_pending_events=options.get("max_pending_events", 100),
    )


async def test_concurrent_run_writes_share_one_batch_and_return_once_written() -> None:
    """Ten concurrent run writes return only after their batch is written; the events
    buffered before them go in the same batch."""
    target = Target()
    buffer = _buffer(target)
    await buffer.add_events(["e1", "e2"])
    await asyncio.gather(*(buffer.write_run(f"r{i}", f"row{i}") for i in range(10)))
    written = sorted(r for b in target.batches for r in b.runs)
    assert written == sorted(f"row{i}" for i in range(10))
    assert target.events() == ["e1", "e2"]
    assert len(target.batches) <= 2
    await buffer.aclose()


async def test_a_failed_batch_fails_every_run_write_in_it_and_retries_its_events() -> None:
    """While the store is down every run write in the batch raises its error; the
    events are kept and written, in order, with the first batch that succeeds."""
    target = Target()
    buffer = _buffer(target)
    await buffer.add_events(["e1"])
    target.down = True
    outcomes = await asyncio.gather(
        buffer.write_run("a", "A"), buffer.write_run("b", "B"), return_exceptions=True
    )
    assert [getattr(o, "code", None) for o in outcomes] == ["store_unavailable"] * 2
    target.down = False
    await buffer.add_events(["e2"])
    await buffer.write_run("c", "C")
    assert target.events() == ["e1", "e2"]
    assert [r for b in target.batches for r in b.runs] == ["C"]
    await buffer.aclose()


async def test_events_kept_for_retry_are_bounded_and_the_dropped_ones_counted() -> None:
    """With the store down, at most `max_pending_events` events are kept: the oldest
    beyond that are dropped and counted."""
    target = Target()
    buffer = _buffer(target, batch_size=10, max_pending_events=25)
    target.down = True
    for start in range(0, 40, 10):
        with pytest.raises(RegistryError):
            await buffer.add_events([f"e{i}" for i in range(start, start + 10)])
    assert buffer.dropped_events == 15
    target.down = False
    await buffer.aclose()
    assert target.events() == [f"e{i}" for i in range(15, 40)]
