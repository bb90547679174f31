{%- set kind = cookiecutter.__kind -%}
{%- set group = {'transport': 'backends', 'store': 'stores', 'emitter': 'emitters', 'context': 'context_passers', 'tools': 'tool_providers', 'command': 'commands'}[kind] -%}
"""The installed plugin is found by murmur, loads, and is healthy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DIST = "{{ cookiecutter.dist_name }}"


def plugins_list() -> list[dict[str, object]]:
    """`murmur plugins list --json --strict`, run as a user would (it exits 1 on a problem)."""
    murmur = Path(sys.executable).with_name("murmur")
    done = subprocess.run(
        [str(murmur), "plugins", "list", "--json", "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_murmur_lists_the_plugin_as_ok() -> None:
    """`murmur plugins list` shows this distribution with status ok, its entry point and hooks."""
    rows = {row["name"]: row for row in plugins_list()}

    row = rows[DIST]
    assert row["status"] == "ok", row["error"]
    assert "{{ group }}:{{ cookiecutter.entry_name }}" in row["provides"]
    assert {"murmur_event", "murmur_runtime_started"} <= set(row["hooks"])


async def test_the_hooks_see_a_run() -> None:
    """Once installed, the plugin's hooks are called for every runtime and event."""
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.events import NullEventEmitter

    from {{ cookiecutter.module_name }}.hooks import STATS

    before = STATS.copy()
    async with AgentRuntime(event_emitter=NullEventEmitter()) as runtime:
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="hi"))

    assert result.is_ok(), result.error
    assert STATS["runtimes_started"] == before["runtimes_started"] + 1
    assert STATS["agent_completed"] == before["agent_completed"] + 1
