"""The JSON-lines emitter passes murmur's emitter contract and writes what a run emits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from murmur import Agent, AgentRuntime, TaskSpec
from murmur.testing.emitters import EmitterContract

from {{ cookiecutter.module_name }} import JsonLinesEmitter, emitter_factory


class TestEmitterContract(EmitterContract):
    """Every behaviour an emitter must have (murmur.testing.emitters)."""

    @pytest.fixture
    def emitter(self, tmp_path: Path) -> Iterator[JsonLinesEmitter]:
        emitter = JsonLinesEmitter(tmp_path / "events.jsonl")
        yield emitter
        emitter.close()


async def test_a_run_writes_one_json_line_per_event(tmp_path: Path) -> None:
    """`AgentRuntime(event_emitter="{{ cookiecutter.entry_name }}")`: each event of a run is one JSON line."""
    path = tmp_path / "out" / "events.jsonl"
    emitter = emitter_factory(path=path)
    async with AgentRuntime(event_emitter=emitter) as runtime:
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="hello"))
    emitter.close()

    assert result.is_ok(), result.error
    events = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [e["event_type"] for e in events][:1] == ["agent_spawned"]
    assert events[-1]["event_type"] == "agent_completed"
    assert {e["agent_name"] for e in events} == {"echo"}


async def test_the_emitter_is_selected_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name `{{ cookiecutter.entry_name }}` resolves to this emitter through murmur's plugin host."""
    from murmur.plugins import PluginHost

    monkeypatch.setenv("MURMUR_{{ cookiecutter.entry_name|upper|replace('-', '_') }}_PATH", str(tmp_path / "e.jsonl"))
    emitter = PluginHost().resolve_emitter("{{ cookiecutter.entry_name }}")

    assert isinstance(emitter, JsonLinesEmitter)
    assert emitter.path == tmp_path / "e.jsonl"
