"""Kill-and-resume across processes: a group run or a gather batch SIGKILLed mid-run
continues in a new process from its SQLite checkpoints, and no finished agent runs twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from murmur.runs import RunStatus
from murmur.types import new_id

SCRIPT = Path(__file__).with_name("_durable_script.py")


def _start(mode: str, phase: str, url: str, calls: Path, run_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), mode, phase, url, str(calls), run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _until(
    check: Callable[[], Awaitable[bool]], proc: subprocess.Popen[str], what: str
) -> None:
    for _ in range(1200):
        if await check():
            return
        if proc.poll() is not None:
            pytest.fail(f"the process exited before {what}: {proc.communicate()[1][-2000:]}")
        await asyncio.sleep(0.05)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _resume(mode: str, url: str, calls: Path, run_id: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), mode, "resume", url, str(calls), run_id],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _calls(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        return []
    rows = (line.split(" ") for line in path.read_text().splitlines())
    return [(agent, prompt, phase) for agent, prompt, phase in rows]


async def _read(url: str, run_id: str) -> tuple[dict[str, Any], Any]:
    from murmur_sqlite import sqlite_store_factory

    stores = sqlite_store_factory(url)
    try:
        return await stores.runs.checkpoints(run_id), await stores.runs.get(run_id)
    finally:
        await stores.aclose()


async def test_a_pipeline_killed_mid_run_resumes_without_rerunning_finished_nodes(
    tmp_path: Path,
) -> None:
    """SIGKILL during node b of a -> b -> c; resume in a new process runs b and c, never a again."""
    url = f"sqlite:///{tmp_path}/runs.db"
    calls = tmp_path / "calls.log"
    run_id = new_id()
    proc = _start("group", "first", url, calls, run_id)

    async def b_started() -> bool:
        return any(agent == "b" for agent, _, _ in _calls(calls))

    await _until(b_started, proc, "node b started")
    _kill(proc)
    saved, record = await _read(url, run_id)
    assert set(saved) == {"durable:task", "node:a"}
    assert (record.kind, record.status) == ("group", RunStatus.RUNNING)

    out = _resume("group", url, calls, run_id)

    assert out == {"ok": True, "output": "c(b(a(go)))", "restored": ["a"]}
    per_node = Counter(agent for agent, _, _ in _calls(calls))
    assert per_node == Counter({"a": 1, "b": 2, "c": 1})  # b: once killed, once finished
    resumed_calls = Counter(agent for agent, _, phase in _calls(calls) if phase == "resume")
    assert resumed_calls == Counter({"b": 1, "c": 1})
    _, record = await _read(url, run_id)
    assert record.status == RunStatus.COMPLETED


async def test_a_gather_of_50_killed_midway_resumes_only_unfinished_tasks(tmp_path: Path) -> None:
    """SIGKILL a 50-task gather after 20 results; the resume returns all 50 in order, each
    task's model called once in total unless it was in flight at the kill."""
    url = f"sqlite:///{tmp_path}/runs.db"
    calls = tmp_path / "calls.log"
    run_id = new_id()
    proc = _start("gather", "first", url, calls, run_id)

    async def twenty_done() -> bool:
        if not (tmp_path / "runs.db").exists():
            return False
        saved, _ = await _read(url, run_id)
        return len([k for k in saved if k.startswith("task:")]) >= 20

    await _until(twenty_done, proc, "20 task checkpoints")
    _kill(proc)
    saved, record = await _read(url, run_id)
    finished = {int(k.removeprefix("task:")) for k in saved if k.startswith("task:")}
    assert finished == set(range(20))
    assert (record.kind, record.agent_name, len(record.input)) == ("gather", "worker", 50)
    first_calls = Counter(prompt for _, prompt, phase in _calls(calls) if phase == "first")

    out = _resume("gather", url, calls, run_id)

    results = out["results"]
    assert [r["question"] for r in results] == [f"q{i}" for i in range(50)]
    assert all(r["ok"] and r["typed"] for r in results)
    assert [r["task_id"] for r in results] == [t["id"] for t in record.metadata["tasks"]]
    resumed_calls = Counter(prompt for _, prompt, phase in _calls(calls) if phase == "resume")
    assert resumed_calls == Counter({f"q{i}": 1 for i in range(20, 50)})
    assert all(first_calls[f"q{i}"] == 1 for i in range(20))
    assert all(first_calls[f"q{i}"] <= 1 for i in range(20, 50))  # in flight at the kill
    _, record = await _read(url, run_id)
    assert record.status == RunStatus.COMPLETED
    assert record.progress["restored"] == 20


def test_the_durable_runs_docs_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example of docs/durable-runs.md resumes its group without re-running the researcher."""
    import runpy

    page = Path(__file__).resolve().parents[2] / "docs" / "durable-runs.md"
    example = page.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == [
        "['reviewer']",
        "writer done",
        "['researcher', 'reviewer', 'reviewer', 'writer']",
    ]
