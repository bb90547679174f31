"""The plugin template (`cookiecutter/murmur-plugin`) bakes a working plugin of every kind.

For each kind: the baked project has the files a published plugin needs and passes ruff;
installed into a fresh venv with the local murmur-core it passes its own tests (which
subclass the matching `murmur.testing` contract suite); and `murmur plugins list` shows it
with status `ok`. One venv per kind, installed by uv from its cache (a few seconds each).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "cookiecutter" / "murmur-plugin"

KINDS = {
    # kind: (plugin name, entry-point group, implementation module)
    "broker transport": ("carrier-pigeon", "backends", "_transport"),
    "run/event store": ("jsonl", "stores", "_store"),
    "event emitter": ("jsonl-events", "emitters", "_emitter"),
    "context passer": ("recent", "context_passers", "_context"),
    "tool provider": ("text_tools", "tool_providers", "_tools"),
    "CLI command": ("hello", "commands", "_command"),
}


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed (pip install uv)")
    return found


def _env(venv: Path | None) -> dict[str, str]:
    """The environment without the workspace's venv (and with `venv` when given)."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _bake(cookies: Any, kind: str) -> Path:
    name = KINDS[kind][0]
    result = cookies.bake(template=str(TEMPLATE), extra_context={"kind": kind, "plugin_name": name})
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    return Path(result.project_path)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_bakes_a_complete_clean_project(cookies: Any, kind: str) -> None:
    """A baked project has a distribution named murmur-<name>, its entry points, a hooks
    module, py.typed, a README, a LICENSE, CI and publish workflows, and no stubs; ruff
    finds nothing in it."""
    name, group, impl = KINDS[kind]
    project = _bake(cookies, kind)
    dist = f"murmur-{name.replace('_', '-')}"
    module = f"murmur_{name.replace('-', '_')}"
    package = project / "src" / module

    assert project.name == dist
    for path in [
        "pyproject.toml",
        "README.md",
        "LICENSE",
        ".gitignore",
        ".github/workflows/ci.yml",
        ".github/workflows/publish.yml",
        f"src/{module}/__init__.py",
        f"src/{module}/hooks.py",
        f"src/{module}/py.typed",
        f"src/{module}/{impl}.py",
        "tests/test_plugin.py",
    ]:
        assert (project / path).is_file(), path
    others = {k[2] for k in KINDS.values()} - {impl}
    assert not [p.name for p in package.iterdir() if p.stem in others]
    pyproject = (project / "pyproject.toml").read_text()
    assert f'name = "{dist}"' in pyproject
    assert f'[project.entry-points."murmur.{group}"]' in pyproject
    assert '[project.entry-points."murmur.plugins"]' in pyproject
    assert "${{ matrix.python-version }}" in (project / ".github/workflows/ci.yml").read_text()
    sources = "".join(p.read_text() for p in project.rglob("*.py"))
    assert "NotImplementedError" not in sources
    assert "{{" not in sources
    assert "{%" not in sources
    ruff = [sys.executable, "-m", "ruff"]
    _run([*ruff, "check", "--no-cache", "."], cwd=project, env=_env(None))
    _run([*ruff, "format", "--no-cache", "--check", "."], cwd=project, env=_env(None))


def test_a_name_that_cannot_be_a_distribution_is_refused(cookies: Any) -> None:
    """`plugin_name="My Plugin!"` fails to bake, with a message saying what a name may be."""
    result = cookies.bake(template=str(TEMPLATE), extra_context={"plugin_name": "My Plugin!"})

    assert result.exit_code != 0
    assert result.project_path is None or not Path(result.project_path).exists()


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_installs_passes_its_tests_and_is_listed_ok(
    cookies: Any, kind: str, tmp_path: Path
) -> None:
    """Installed into a fresh venv with the local murmur-core, the baked plugin passes its
    own tests (its contract suite included), and `murmur plugins list` shows it `ok`."""
    uv = _uv()
    name, group, _ = KINDS[kind]
    project = _bake(cookies, kind)
    venv = tmp_path / "venv"
    _run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=tmp_path, env=_env(None)
    )
    _run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "-e",
            str(ROOT / "murmur-core"),
            "-e",
            f"{project}[test]",
        ],
        cwd=tmp_path,
        env=_env(venv),
    )

    report = _run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=_env(venv),
        timeout=600,
    )
    assert " passed" in report
    assert " failed" not in report
    listing = _run(
        [str(venv / "bin" / "murmur"), "plugins", "list", "--json", "--strict"],
        cwd=tmp_path,
        env=_env(venv),
    )
    rows = {row["name"]: row for row in json.loads(listing)}
    row = rows[project.name]
    assert (row["status"], row["error"]) == ("ok", None)
    assert f"{group}:{name.replace('_', '-')}" in row["provides"]
    assert "murmur_event" in row["hooks"]
