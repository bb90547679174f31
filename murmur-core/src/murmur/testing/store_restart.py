"""`StoreRestartScenario`: what one process recorded, a new process reads back the same.

A persistent store survives the process that wrote it: the scenario runs a three-level agent
tree, a gather and a checkpoint through `AgentRuntime(store=url)` in a fresh interpreter,
then opens the same URL in another one and compares runs, events, checkpoints and the spawn
tree, plus the last child run the writer made after taking its snapshot. It does this twice:
once closing the runtime, once exiting without `aclose()` (the writes still buffered must
reach the store through its exit hook).

```python
import pytest
from murmur.testing.store_restart import StoreRestartScenario


class TestMyStoreRestart(StoreRestartScenario):
    @pytest.fixture
    def store_url(self, tmp_path):
        return f"mystore:///{tmp_path}/runs"

    @pytest.fixture
    def unclosed_store_url(self, store_url):
        return store_url + "?flush_interval=3600"  # nothing is flushed but at exit
```
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, ClassVar

import pytest

__all__ = ["StoreRestartScenario", "check_read_back", "run_script"]


def run_script(*args: str) -> dict[str, Any]:
    """Run `murmur.testing._store_restart_child` with `args` in a new interpreter.

    Returns the JSON it printed.
    """
    done = subprocess.run(
        [sys.executable, "-m", "murmur.testing._store_restart_child", *args],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_read_back(written: dict[str, Any], read: dict[str, Any]) -> None:
    """`read` holds everything `written` saw, plus the last child run the writer made."""
    root = written["root"]
    extra, *older = read["runs"]
    assert older == written["runs"]
    assert (extra["agent_name"], extra["status"], extra["parent_trace_id"]) == (
        "fetcher",
        "completed",
        root,
    )
    assert read["events"][: len(written["events"])] == written["events"]
    assert [e["event_type"] for e in read["events"][len(written["events"]) :]] == [
        "agent_spawned",
        "agent_completed",
    ]
    assert read["root_run"] == written["root_run"]
    assert read["checkpoints"] == written["checkpoints"] == {"node:planner": {"done": True}}
    tree = read["tree"]
    assert (tree["agent_name"], tree["status"]) == ("planner", "completed")
    by_agent = {child["agent_name"]: child for child in tree["children"]}
    assert sorted(by_agent) == ["fetcher", "researcher"]
    [grandchild] = by_agent["researcher"]["children"]
    assert (grandchild["agent_name"], grandchild["status"]) == ("fetcher", "completed")


class StoreRestartScenario:
    """A new process reads back what another one recorded. Provide `store_url`."""

    agent_runs: ClassVar[int] = 8
    """Agent runs the writer records before its snapshot (the tree and the gather)."""

    @pytest.fixture
    def store_url(self) -> str:
        """Override: the URL of an empty store of the test's own."""
        raise NotImplementedError("provide a store_url fixture")

    @pytest.fixture
    def unclosed_store_url(self, store_url: str) -> str:
        """Override: the URL the never-closed writer uses (by default `store_url`).

        Give a buffering store a long flush interval, so only its exit hook writes.
        """
        return store_url

    def test_a_new_process_reads_back_runs_events_and_trees(self, store_url: str) -> None:
        """Runs, events, checkpoints and the spawn tree written by one process are read back."""
        written = run_script("write", store_url)
        assert len([r for r in written["runs"] if r["kind"] == "agent"]) == self.agent_runs
        check_read_back(written, run_script("read", store_url, written["root"]))

    def test_a_process_that_never_closes_its_runtime_loses_nothing(
        self, unclosed_store_url: str
    ) -> None:
        """Exiting without aclose() neither hangs nor drops the writes still buffered."""
        written = run_script("write-without-close", unclosed_store_url)
        check_read_back(written, run_script("read", unclosed_store_url, written["root"]))
