"""YAML specs: Agent.to_yaml / from_yaml round trips, clear errors, spec directories, groups."""

from __future__ import annotations

import contextlib
import importlib
import textwrap
import tracemalloc
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from murmur.registry import (
    AGENT_FIELDS,
    GROUP_FIELDS,
    Registry,
    agent_from_dict,
    group_from_dict,
    load_specs,
    validate_specs,
)
from murmur.registry._yaml import MAX_SPEC_NODES

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
        ("name: a\nmodel: [unclosed\n", "malformed YAML at line 3, column 1: .*expected ','"),
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
    with pytest.raises(SpecValidationError, match=message):
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


# -- malformed and hostile specs ------------------------------------------------------


def billion_laughs(levels: int = 10, width: int = 9) -> str:
    """About 500 bytes of YAML whose aliases expand to `width ** levels` strings."""
    lines = ["lol0: &lol0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        refs = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    lines.append(f"name: *lol{levels - 1}")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_spec_is_refused_before_it_expands() -> None:
    """Nested aliases that would expand to 3.4 billion strings are refused while parsing:
    a short message, and a few MB of memory at most (not 4 GB)."""
    spec = billion_laughs()
    assert len(spec) < 1024
    tracemalloc.start()
    try:
        with pytest.raises(SpecValidationError) as caught:
            Agent.from_yaml(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert caught.value.code == "malformed"
    assert caught.value.message == (
        f"the spec holds more than {MAX_SPEC_NODES} values with its aliases expanded; simplify it"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("name: a\noutput_type: [1, 2]\n", "output_type must be an importable path"),
        ("name: a\ninput_type: {x: 1}\n", "input_type must be an importable path"),
        ("a: &a [*a]\nname: x\n", "the alias \\*'a' refers to itself"),
        ("name: " + "[" * 65 + "]" * 65 + "\n", "nests more than 64 levels deep"),
        ("name: " + "[" * 100_000 + "]" * 100_000 + "\n", "nests more than 64 levels deep"),
        (
            "x: &x ["
            + ", ".join(["'" + "y" * 2000 + "'"] * 100)
            + "]\nname: [*x, *x, *x, *x, *x, *x]\n",
            "more than 1048576 characters of text with its aliases expanded",
        ),
        ("name: a\nmax_concurrent_requests: " + "9" * 5000 + "\n", "ValueError: Exceeds the limit"),
        ("name: a\ndescription: 2026-13-45\n", "malformed YAML: ValueError: month must be in"),
        ("name: a\nmodel: !!python/object:os.system x\n", "could not determine a constructor"),
        ("name: a\nmodel: *nowhere\n", "found undefined alias"),
        ("name: \ud800\n", "UnicodeEncodeError"),
        ("name: " + "9" * 1_048_000, "Exceeds the limit"),  # one line: not taken for a path
        ("{" + ", ".join(f"k{i}: {i}" for i in range(60_000)) + "}", "more than 10000 values"),
        ("name: a\n" + "x" * 1_048_577, "specs are limited to 1048576"),
        (
            "name: a\nmax_concurrent_requests: 0\n",
            "max_concurrent_requests: Input should be greater than or equal to 1",
        ),
        ("name: a\nmodel_settings: {temperature: [1]}\n", None),
        ("name: a\n" + "".join(f"k{i}: 1\n" for i in range(2000)), "and 1990 more"),
        ("name: a\n? " + "q" * 10_000 + "\n: 1\n", "unknown field in agent spec: 'qqqq"),
        ("name: a\ntools: [[1]]\n", "must be a list of strings, got \\[1\\]"),
        ("name: a\npre_process: " + ".".join(["a"] * 400) + "\n", "at most 300 characters"),
    ],
)
def test_every_malformed_spec_is_a_spec_validation_error(spec: str, message: str | None) -> None:
    """Each hostile or odd spec is a SpecValidationError with a short message (or loads)."""
    if message is None:
        Agent.from_yaml(spec)
        return
    with pytest.raises(SpecValidationError, match=message) as caught:
        Agent.from_yaml(spec)
    assert len(caught.value.message) < 1500


def test_a_huge_or_binary_spec_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """A spec file over the limit, or not UTF-8, is one problem line; loading goes on."""
    (tmp_path / "huge.yaml").write_bytes(b"name: a\n" + b"#" * 8_000_000)
    (tmp_path / "binary.yaml").write_bytes(b"name: \xff\xfe\n")
    (tmp_path / "laughs.yaml").write_text(billion_laughs())
    (tmp_path / "fine.yaml").write_text("name: fine\nmodel: test\n")
    registry, problems = validate_specs(tmp_path)
    assert list(registry.agents) == ["fine"]
    messages = {Path(p.file).name: p.message for p in problems}
    assert sorted(messages) == ["binary.yaml", "huge.yaml", "laughs.yaml"]
    assert messages["binary.yaml"].endswith(
        "the spec file is not UTF-8 text (invalid start byte at byte 6)"
    )
    assert messages["huge.yaml"].endswith("the spec file is larger than 1048576 characters")
    assert messages["laughs.yaml"].startswith("the spec holds more than 10000 values")


_GARBAGE_TOKENS = st.sampled_from(
    [
        "name:",
        "model:",
        "kind: group",
        "edges:",
        "agents:",
        "tools:",
        "output_type:",
        "input_type:",
        "trust_level:",
        "context_passer:",
        "model_settings:",
        "version:",
        "from:",
        "to:",
        "mapper:",
        "condition:",
        "max_concurrency:",
        "pre_process:",
        "&a",
        "*a",
        "&b",
        "*b",
        "<<:",
        "[",
        "]",
        "{",
        "}",
        ",",
        "- ",
        "? ",
        ": ",
        "|",
        ">",
        "!!str",
        "!!int",
        "!!binary",
        "!!python/name:os.system",
        "'",
        '"',
        "#",
        "\n",
        "\n  ",
        "\n    ",
        "\t",
        "1",
        "-1",
        "1e400",
        ".nan",
        ".inf",
        "null",
        "~",
        "true",
        "2026-02-30",
        "0x1f",
        "str",
        "os.path",
        "murmur.Agent",
        "\ud800",
        "\x00",
        "\u2028",
        "\ufeff",
        "é",
    ]
)


@given(
    text=st.one_of(
        st.lists(_GARBAGE_TOKENS, max_size=40).map(" ".join),
        st.text(st.characters(exclude_categories=()), max_size=200),
        st.tuples(_GARBAGE_TOKENS, st.integers(1, 20_000)).map(lambda t: t[0] * t[1]),
        st.tuples(st.lists(_GARBAGE_TOKENS, max_size=6).map("".join), st.integers(1, 3000)).map(
            lambda t: "name: x\n" + t[0] * t[1]
        ),
    )
)
@settings(max_examples=400, deadline=None, derandomize=True)
def test_generated_garbage_text_is_a_spec_or_a_spec_validation_error(text: str) -> None:
    """Any text: an Agent or AgentGroup, or a SpecValidationError; nothing else escapes."""
    for load in (Agent.from_yaml, AgentGroup.from_yaml):
        message = ""
        try:
            load(text)
        except SpecValidationError as exc:
            message = exc.message
        assert len(message) < 2000


_SPEC_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["str", "test", "high", "null", "os.path", "x.y.Z", "echo"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(
    doc=st.dictionaries(
        st.sampled_from([*AGENT_FIELDS, *GROUP_FIELDS, "temperature", "edges", "from"]),
        _SPEC_VALUES,
        max_size=8,
    )
)
@settings(max_examples=400, deadline=None, derandomize=True)
def test_generated_spec_mappings_are_a_spec_or_a_spec_validation_error(
    doc: dict[str, Any],
) -> None:
    """Any mapping of spec fields to any values: built, or a SpecValidationError."""
    with contextlib.suppress(SpecValidationError):
        agent_from_dict(doc)
    with contextlib.suppress(SpecValidationError):
        group_from_dict({**doc, "kind": "group"}, agents={"echo": Agent(name="echo")})
