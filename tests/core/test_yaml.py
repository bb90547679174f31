"""YAML specs: Agent.to_yaml / from_yaml round trips, clear errors, spec directories, groups."""

from __future__ import annotations

import importlib
import textwrap
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from murmur import (
    Agent,
    AgentGroup,
    AgentRuntime,
    Edge,
    SpecValidationError,
    TaskSpec,
    TopologyError,
    TrustLevel,
)
from murmur.context import FullContextPasser, NullContextPasser, SummaryContextPasser
from murmur.events import CollectingEventEmitter
from murmur.registry import Registry, load_specs

OUTPUTS = """
from pydantic import BaseModel


class ResearchFinding(BaseModel):
    question: str
    answer: str
    confidence: float
    sources: list[str]


class Question(BaseModel):
    question: str


class Verdict(BaseModel):
    ok: bool


def strip(value):
    return value.strip() if isinstance(value, str) else value


def always(value):
    return True


def not_a_model():
    return None
"""


@pytest.fixture
def pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A throwaway importable package `<name>.outputs` holding output models and hooks."""
    name = f"spec_pkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "src" / name
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "outputs.py").write_text(OUTPUTS)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    return importlib.import_module(f"{name}.outputs")


def path_of(module: ModuleType, attr: str) -> str:
    return f"{module.__name__}.{attr}"


def readme_yaml(pkg: ModuleType) -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        name: researcher
        model: anthropic:claude-sonnet-4-6
        trust_level: medium
        context_passer: "null"
        instructions: |
          Research the question. Cite sources. Be honest about uncertainty.
        output_type: {path_of(pkg, "ResearchFinding")}   # importable class path
        tools:
          - web_search
        """
    )


# -- agents ---------------------------------------------------------------------------


def test_the_readme_yaml_builds_the_agent_it_describes(pkg: ModuleType) -> None:
    """The README's YAML spec loads into the equivalent Python Agent."""
    agent = Agent.from_yaml(readme_yaml(pkg))
    assert agent == Agent(
        name="researcher",
        model="anthropic:claude-sonnet-4-6",
        trust_level=TrustLevel.MEDIUM,
        context_passer=NullContextPasser(),
        instructions="Research the question. Cite sources. Be honest about uncertainty.\n",
        output_type=pkg.ResearchFinding,
        tools=("web_search",),
    )


def test_every_yaml_field_round_trips_with_the_python_form(pkg: ModuleType) -> None:
    """Python -> YAML -> Python gives back an equal agent, for every YAML-able field."""
    agent = Agent(
        name="analyst",
        description="Reads filings.",
        model="openai:gpt-5.2",
        instructions="Line one.\nLine two.",
        output_type=pkg.Verdict,
        input_type=pkg.Question,
        tools=("search", "calculator"),
        fallback_models=("anthropic:claude-haiku-4-5",),
        max_concurrent_requests=3,
        model_settings={"temperature": 0.2, "max_tokens": 500},
        trust_level=TrustLevel.LOW,
        context_passer=FullContextPasser(),
        pre_process=(pkg.strip,),
        post_process=(pkg.strip,),
    )
    text = agent.to_yaml()
    assert "instructions: |-\n  Line one.\n  Line two." in text
    assert f"output_type: {path_of(pkg, 'Verdict')}" in text
    assert Agent.from_yaml(text) == agent


def test_a_default_agent_round_trips(pkg: ModuleType) -> None:
    """The smallest agent writes version, name, model, trust and passer, and reads back equal."""
    agent = Agent(name="tiny")
    assert Agent.from_yaml(agent.to_yaml()) == agent


def test_from_yaml_reads_a_file_path(pkg: ModuleType, tmp_path: Path) -> None:
    """Agent.from_yaml accepts a path (str or Path) as well as YAML text."""
    file = tmp_path / "researcher.yaml"
    file.write_text(readme_yaml(pkg))
    assert Agent.from_yaml(file) == Agent.from_yaml(str(file)) == Agent.from_yaml(readme_yaml(pkg))


def test_named_passers_stay_names_until_a_runtime_resolves_them(pkg: ModuleType) -> None:
    """`context_passer: summary` stays a name; a default SummaryContextPasser writes that name."""
    agent = Agent.from_yaml("name: a\ncontext_passer: summary\n")
    assert agent.context_passer == "summary"
    assert (
        "context_passer: summary"
        in Agent(name="a", context_passer=SummaryContextPasser()).to_yaml()
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("name: a\nmodel: [unclosed\n", "malformed YAML at line 3, column 1: expected ','"),
        ("- just\n- a list\n", "a spec is a YAML mapping"),
        (
            "name: a\ntemprature: 0.2\n",
            "'temprature' \\(did you mean 'temperature' under model_settings",
        ),
        ("name: a\ninstruction: hi\n", "did you mean 'instructions'?"),
        ("name: a\noutput_type: nowhere_pkg.outputs.Finding\n", "no module named 'nowhere_pkg'"),
        ("name: a\noutput_type: Finding\n", "is not a class path"),
        ("name: a\ntrust_level: root\n", "unknown trust_level 'root'; use one of: high, medium"),
        ("name: a\nversion: 2\n", "unsupported spec version 2"),
        ("name: a\ncontext_passer: telepathy\n", "unknown context_passer 'telepathy'"),
        ("name: a\ntools: web_search, other\n", None),
        ("name: a\nmax_concurrent_requests: many\n", "must be an integer"),
        ("model: test\n", "needs a name"),
    ],
)
def test_invalid_specs_fail_with_a_clear_message(spec: str, message: str | None) -> None:
    """Each kind of bad spec is a SpecValidationError that says what is wrong."""
    if message is None:  # a bare string is one tool name: valid
        assert Agent.from_yaml(spec).tools == ("web_search, other",)
        return
    with pytest.raises(SpecValidationError, match=message.replace("[", r"\[")):
        Agent.from_yaml(spec)


def test_class_paths_must_import_to_a_basemodel(pkg: ModuleType) -> None:
    """A missing class, or one that is not a BaseModel, is refused naming the path."""
    missing = path_of(pkg, "Nope")
    with pytest.raises(SpecValidationError, match="has no attribute 'Nope'"):
        Agent.from_yaml(f"name: a\noutput_type: {missing}\n")
    function = path_of(pkg, "not_a_model")
    with pytest.raises(SpecValidationError, match="not a pydantic BaseModel subclass"):
        Agent.from_yaml(f"name: a\noutput_type: {function}\n")


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    """Loading a bad spec file puts its path in the message."""
    file = tmp_path / "bad.yaml"
    file.write_text("name: a\ntrust_level: root\n")
    with pytest.raises(SpecValidationError, match=f"^{file}: unknown trust_level"):
        Agent.from_yaml(file)


def test_agents_that_have_no_yaml_form_refuse_to_serialise() -> None:
    """A lambda hook or a class defined in a function cannot round-trip, so to_yaml says so."""
    from pydantic import BaseModel

    class Local(BaseModel):
        x: int

    with pytest.raises(SpecValidationError, match="move it to module level"):
        Agent(name="a", output_type=Local).to_yaml()
    with pytest.raises(SpecValidationError, match="not importable"):
        Agent(name="a", pre_process=(lambda v: v,)).to_yaml()


# -- directories and groups -----------------------------------------------------------


def write_specs(root: Path, pkg: ModuleType) -> None:
    (root / "agents").mkdir(parents=True)
    (root / "agents" / "researcher.yaml").write_text(
        "version: 1\nname: researcher\nmodel: test\n"
        f"output_type: {path_of(pkg, 'ResearchFinding')}\n"
    )
    (root / "agents" / "judge.yml").write_text(
        f"name: judge\nmodel: test\noutput_type: {path_of(pkg, 'Verdict')}\n"
    )
    (root / "crew.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            kind: group
            name: crew
            edges:
              - from: researcher
                to: judge
                condition: {path_of(pkg, "always")}
                max_concurrency: 2
            """
        )
    )


async def test_a_spec_directory_makes_agents_and_groups_runnable_by_name(
    pkg: ModuleType, tmp_path: Path
) -> None:
    """runtime.load_specs(dir): run("researcher") and run_group("crew") resolve by name."""
    write_specs(tmp_path, pkg)
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    registry = runtime.load_specs(tmp_path)
    assert isinstance(registry, Registry)
    assert sorted(registry.agents) == ["judge", "researcher"]
    assert registry.sources["crew"] == str(tmp_path / "crew.yaml")
    result = await runtime.run("researcher", TaskSpec(input="What is NATS?"))
    assert isinstance(result.output, pkg.ResearchFinding)
    group_result = await runtime.run_group("crew", TaskSpec(input="q"))
    assert group_result.is_ok(), group_result.error
    assert isinstance(group_result.output, pkg.Verdict)


def test_a_group_round_trips_through_yaml(pkg: ModuleType) -> None:
    """group.to_yaml() names agents and import paths; from_yaml rebuilds an equal group."""
    researcher = Agent(name="researcher", output_type=pkg.ResearchFinding)
    judge = Agent(name="judge", output_type=pkg.Verdict)
    group = AgentGroup(
        name="crew",
        topology={researcher: Edge(to=(judge,), condition=pkg.always, max_concurrency=4)},
    )
    text = group.to_yaml()
    assert f"condition: {path_of(pkg, 'always')}" in text
    rebuilt = AgentGroup.from_yaml(text, agents={"researcher": researcher, "judge": judge})
    assert rebuilt == group


def test_group_specs_are_validated_like_python_groups(pkg: ModuleType) -> None:
    """Unknown agents and cycles in a group spec are refused with the names involved."""
    agents = {"a": Agent(name="a"), "b": Agent(name="b")}
    with pytest.raises(SpecValidationError, match="references agent 'ghost'"):
        AgentGroup.from_yaml("kind: group\nname: g\nedges: [{from: a, to: ghost}]\n", agents=agents)
    with pytest.raises(TopologyError, match="cycle: a -> b -> a"):
        AgentGroup.from_yaml(
            "kind: group\nname: g\nedges: [{from: a, to: b}, {from: b, to: a}]\n", agents=agents
        )
    with pytest.raises(SpecValidationError, match=r"unknown field in edges\[0\] edge spec: 'too'"):
        AgentGroup.from_yaml("kind: group\nname: g\nedges: [{from: a, too: b}]\n", agents=agents)


def test_load_specs_reports_every_bad_file_at_once(pkg: ModuleType, tmp_path: Path) -> None:
    """A directory with bad files raises one SpecValidationError listing each file."""
    write_specs(tmp_path, pkg)
    (tmp_path / "broken.yaml").write_text("name: [x\n")
    (tmp_path / "agents" / "zz_dup.yaml").write_text("name: judge\n")
    with pytest.raises(SpecValidationError) as info:
        load_specs(tmp_path)
    problems: list[dict[str, Any]] = info.value.details["problems"]
    assert [p["file"] for p in problems] == [
        str(tmp_path / "agents" / "zz_dup.yaml"),
        str(tmp_path / "broken.yaml"),
    ]
    assert problems[0]["message"] == (
        f"the name 'judge' is already defined in {tmp_path / 'agents' / 'judge.yml'}"
    )
    assert "malformed YAML" in problems[1]["message"]
