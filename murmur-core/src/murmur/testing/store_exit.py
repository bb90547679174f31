"""`StoreExitContract`: what a runtime recorded reaches the store although nobody closed it.

A program that records into `AgentRuntime(store=url)` and ends without `aclose()`
(returning normally, with an exception, or with `sys.exit` from a task) loses nothing:
every run record, gather record and event is in the store afterwards. Each mode runs
`REPETITIONS` separate programs (forked from one interpreter that paid the imports, so the
suite stays fast; each child is a real interpreter shutdown).

```python
import pytest
from murmur.testing.store_exit import StoreExitContract


class TestMyStoreExit(StoreExitContract):
    @pytest.fixture
    def store_url(self, tmp_path):
        return f"mystore://{tmp_path}/run-{{i}}"  # one store per program
```
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from murmur.runs import EventQuery, RunStatus, Stores

__all__ = ["REPETITIONS", "StoreExitContract"]

REPETITIONS = int(os.environ.get("MURMUR_STORE_EXIT_PROGRAMS", "20"))
"""Programs run per exit mode (`MURMUR_STORE_EXIT_PROGRAMS`, default 20)."""

_EXPECTED_CODES = {"return": 0, "raise": 1, "exit-in-task": 3}


def _run_children(
    mode: str, template: str, count: int, preload: tuple[str, ...]
) -> tuple[dict[str, int], str]:
    command = [sys.executable, "-m", "murmur.testing._exit_child", mode, str(count), template]
    proc = subprocess.run(
        [*command, ",".join(preload)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


async def _lost(stores: Stores, index: int) -> list[str]:
    """What child `index` recorded that is missing from `stores`."""
    lost: list[str] = []
    for run_id in (f"run-{index}", f"gather-{index}"):
        record = await stores.runs.get(run_id)
        if record is None or record.status is not RunStatus.COMPLETED:
            lost.append(f"{run_id}: {None if record is None else record.status.value}")
    events = await stores.events.query(EventQuery(trace_id=f"run-{index}"))
    if len(events) != 2:
        lost.append(f"run-{index}: {len(events)} of 2 events")
    if not await stores.events.query(EventQuery(trace_id=f"marker-{index}")):
        lost.append(f"marker-{index}: the event emitted last")
    return lost


@pytest.mark.asyncio
class StoreExitContract:
    """Store writes survive the program ending without `aclose()`, on every exit path.

    Provide `store_url`: the URL every program records into, or a template with `{i}` (the
    program's index) for a store one process at a time may open. Set `preload` to the
    modules your store imports on first use (its driver), so the programs share that cost.
    """

    preload: tuple[str, ...] = ()

    @pytest.fixture
    def store_url(self) -> str:
        """The store URL, or a template with `{i}` (subclasses provide this fixture)."""
        raise NotImplementedError("subclass StoreExitContract and provide a `store_url` fixture")

    @pytest.mark.timeout(600)  # REPETITIONS processes at once on a loaded CI machine
    @pytest.mark.parametrize("mode", list(_EXPECTED_CODES))
    async def test_nothing_recorded_is_lost_when_the_program_ends_without_close(
        self, mode: str, store_url: str
    ) -> None:
        """REPETITIONS programs end by `mode` without closing the runtime; nothing recorded is lost.

        Every run, gather and event each recorded is in the store, and none printed a write failure.
        """
        from murmur import AgentRuntime

        codes, stderr = await asyncio.to_thread(
            _run_children, mode, store_url, REPETITIONS, self.preload
        )
        assert set(codes.values()) == {_EXPECTED_CODES[mode]}, stderr[-4000:]
        complaints = [
            line
            for line in stderr.splitlines()
            if "could not write" in line or "Event loop is closed" in line
        ]
        assert complaints == []
        lost: dict[int, Any] = {}
        opened: dict[str, Stores] = {}
        try:
            for index in range(REPETITIONS):
                url = store_url.format(i=index)
                if url not in opened:
                    runtime = AgentRuntime(store=url)
                    assert runtime.stores is not None
                    opened[url] = runtime.stores
                missing = await _lost(opened[url], index)
                if missing:
                    lost[index] = missing
                if len(opened) > 1:  # one store per child: close it before the next
                    await opened.pop(url).aclose()
        finally:
            for stores in opened.values():
                await stores.aclose()
        assert lost == {}
