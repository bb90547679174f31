"""`murmur validate specs/`: exit 0 when all specs are valid, else one line per bad file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from murmur.cli import cli

MODELS = """
from pydantic import BaseModel


class Finding(BaseModel):
    answer: str


def helper():
    return None
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    """A project directory with an importable package of output models and a specs/ folder."""
    name = f"validate_pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "outputs.py").write_text(MODELS)
    (tmp_path / "specs").mkdir()
    return tmp_path, name


def write_good(specs: Path, pkg: str) -> None:
    (specs / "researcher.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: researcher
            model: test
            trust_level: medium
            context_passer: "null"
            instructions: |
              Research the question.
            output_type: {pkg}.outputs.Finding
            tools:
              - web_search
            """
        )
    )
    (specs / "crew.yaml").write_text(
        "version: 1\nkind: group\nname: crew\nagents: [researcher]\nedges: []\n"
    )


BAD = {
    "malformed.yaml": "name: a\nmodel: [oops\n",
    "unknown_field.yaml": "name: b\ntemprature: 0.3\n",
    "bad_path.yaml": "name: c\noutput_type: no_such_pkg.outputs.Finding\n",
    "not_model.yaml": "name: d\noutput_type: {pkg}.outputs.helper\n",
    "bad_trust.yaml": "name: e\ntrust_level: root\n",
    "bad_group.yml": "kind: group\nname: g\nedges: [{from: researcher, to: ghost}]\n",
}

EXPECTED = {
    "malformed.yaml": "malformed YAML at line 3",
    "unknown_field.yaml": "unknown field in agent spec: 'temprature'",
    "bad_path.yaml": "no module named 'no_such_pkg'",
    "not_model.yaml": "is not a pydantic BaseModel subclass",
    "bad_trust.yaml": "unknown trust_level 'root'",
    "bad_group.yml": "references agent 'ghost'",
}


def test_validate_exits_zero_when_every_spec_is_valid(
    project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of valid agent and group specs validates with exit code 0."""
    root, pkg = project
    write_good(root / "specs", pkg)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["validate", "specs"])
    assert result.exit_code == 0, result.output
    assert "ok: 2 spec files valid (1 agent, 1 group)" in result.output


def test_validate_reports_one_line_per_bad_file_and_fails(
    project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Good and bad specs together: exit 1, one line naming each bad file and its problem."""
    root, pkg = project
    specs = root / "specs"
    write_good(specs, pkg)
    for name, text in BAD.items():
        (specs / name).write_text(text.replace("{pkg}", pkg))
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["validate", "specs"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(BAD)
    by_file = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines}
    assert sorted(by_file) == sorted(str(Path("specs") / name) for name in BAD)
    for name, fragment in EXPECTED.items():
        assert fragment in by_file[str(Path("specs") / name)]
    assert "6 of 8 spec files invalid" in result.stderr
    assert "Traceback" not in result.output


def test_validate_with_no_spec_files_fails(tmp_path: Path) -> None:
    """An empty folder is reported, not silently accepted."""
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no .yaml/.yml spec files found" in result.output


def test_the_murmur_command_validates_without_a_traceback(project: tuple[Path, str]) -> None:
    """The installed `murmur validate` command prints the file and problem, exit status 1."""
    root, pkg = project
    write_good(root / "specs", pkg)
    (root / "specs" / "bad.yaml").write_text("name: x\nmodel: test\ntrust_level: god\n")
    script = Path(sys.executable).parent / "murmur"
    done = subprocess.run(
        [str(script), "validate", "specs"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.strip() == (
        f"{Path('specs') / 'bad.yaml'}: unknown trust_level 'god'; "
        "use one of: high, medium, low, sandbox"
    )
    assert "Traceback" not in done.stderr


def test_murmur_validate_refuses_hostile_specs_with_one_short_line_each(tmp_path: Path) -> None:
    """A 1 KB "billion laughs" spec, `output_type: [1, 2]`, a recursive alias and deep
    nesting: `murmur validate` prints one short line per file and exits 1."""
    specs = tmp_path / "specs"
    specs.mkdir()
    laughs = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        laughs.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * 9)}]")
    (specs / "laughs.yaml").write_text("\n".join([*laughs, "name: *lol9"]) + "\n")
    (specs / "listed.yaml").write_text("name: a\noutput_type: [1, 2]\n")
    (specs / "loop.yaml").write_text("a: &a [*a]\nname: b\n")
    (specs / "deep.yaml").write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    script = Path(sys.executable).parent / "murmur"
    done = subprocess.run(
        [str(script), "validate", "specs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        str(Path("specs") / name)
        for name in ("deep.yaml", "laughs.yaml", "listed.yaml", "loop.yaml")
    ]
    assert all(len(line) < 300 for line in lines), lines
    assert "more than 10000 values with its aliases expanded" in lines[1]
    assert "output_type must be an importable path" in lines[2]
    assert "refers to itself" in lines[3]
    assert "4 of 4 spec files invalid" in done.stderr
