"""What `murmur serve` serves: --specs directories, --app references, --store / --broker."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import click
import httpx
import pytest
from murmur_server import BackgroundServer, create_app
from murmur_server._serve import ServeOptions, build_runtime, load_app_ref

from murmur import AgentRuntime


def write_specs(root: Path) -> Path:
    specs = root / "specs"
    specs.mkdir()
    (specs / "drafter.yaml").write_text("version: 1\nname: drafter\nmodel: test\n")
    (specs / "editor.yaml").write_text("version: 1\nname: editor\nmodel: test\n")
    (specs / "desk.yaml").write_text(
        "version: 1\nkind: group\nname: desk\nedges:\n  - from: drafter\n    to: editor\n"
    )
    return specs


async def test_a_spec_directory_is_served_by_name(tmp_path: Path) -> None:
    """--specs DIR: its agents and groups are listed and startable by name."""
    options = ServeOptions(specs=str(write_specs(tmp_path)))
    runtime = build_runtime(options)
    async with (
        BackgroundServer(create_app(runtime, groups=options.groups)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        agents = [a["name"] for a in (await http.get("/agents")).json()]
        groups = (await http.get("/groups")).json()
        run = (await http.post("/runs/group", json={"group": "desk", "input": "x"})).json()
        result = (await http.get(f"/runs/{run['run_id']}/result?wait=30")).json()
    await runtime.aclose()
    assert agents == ["drafter", "editor"]
    assert [(g["name"], g["entry"], g["terminal"]) for g in groups] == [
        ("desk", ["drafter"], ["editor"])
    ]
    assert result["ok"] is True, result
    assert result["metadata"]["nodes"] == {"drafter": "completed", "editor": "completed"}


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"served_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from murmur import Agent, AgentGroup, AgentRuntime, Edge

            a = Agent(name="a", model="test")
            b = Agent(name="b", model="test")
            runtime = AgentRuntime()
            runtime.register(a)
            group = AgentGroup(name="ab", agents={"a": a, "b": b}, edges=[Edge("a", "b")])
            listed = [a, b, group]
            by_name = {"a": a}

            def make():
                return [a, group]

            async def make_async():
                return runtime

            number = 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_app_references_name_a_runtime_agents_or_groups(app_module: str) -> None:
    """--app MODULE:ATTR accepts a runtime, agents, groups, lists, dicts and factories."""
    runtime, agents, groups = load_app_ref(f"{app_module}:runtime")
    assert isinstance(runtime, AgentRuntime)
    assert (agents, groups) == ([], [])
    _, agents, groups = load_app_ref(f"{app_module}:listed")
    assert ([a.name for a in agents], [g.name for g in groups]) == (["a", "b"], ["ab"])
    assert [a.name for a in load_app_ref(f"{app_module}:by_name")[1]] == ["a"]
    assert [g.name for g in load_app_ref(f"{app_module}:make")[2]] == ["ab"]
    assert isinstance(load_app_ref(f"{app_module}:make_async")[0], AgentRuntime)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_colon", "MODULE:ATTR"),
        ("surely_not_a_module_x1:thing", "cannot import"),
        ("{module}:missing", "has no 'missing'"),
        ("{module}:number", "is a int"),
    ],
)
def test_bad_app_references_say_what_to_fix(app_module: str, ref: str, message: str) -> None:
    """A wrong --app gets a usage error naming the problem."""
    with pytest.raises(click.UsageError) as caught:
        load_app_ref(ref.format(module=app_module))
    assert message in caught.value.message


def test_a_ready_runtime_does_not_take_store_or_broker_flags(app_module: str) -> None:
    """--app naming a runtime plus --store is refused: configure the runtime instead."""
    with pytest.raises(click.UsageError) as caught:
        build_runtime(ServeOptions(app_ref=f"{app_module}:runtime", store="memory://"))
    assert "--store" in caught.value.message


def test_store_and_broker_urls_configure_a_new_runtime(tmp_path: Path) -> None:
    """--store and --broker build the runtime through the plugin host."""
    runtime = build_runtime(
        ServeOptions(store=f"sqlite:///{tmp_path}/runs.db", broker=f"memory://{uuid.uuid4().hex}")
    )
    assert runtime.stores is not None
    assert type(runtime.stores.runs).__name__ == "SQLiteRunStore"
    assert runtime.backend.name != "async"
