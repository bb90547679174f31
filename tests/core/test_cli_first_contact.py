"""What a new user sees first: `murmur --help` says what plugin commands do (without
importing them), and `murmur plugins list` shows murmur libraries that have no entry
points, such as murmur-client, as libraries."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_fakedist() -> Any:
    path = Path(__file__).parent / "plugin_fixtures" / "fakedist.py"
    spec = importlib.util.spec_from_file_location("murmur_tests_fakedist_fc", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fakedist = _load_fakedist()

GREET = '''
raise RuntimeError("murmur --help must not import a plugin's command module")

import click


@click.group(name="greet", short_help="Greet people, politely.")
@click.option("--loud", help="An option's help is not the command's.")
def greet(loud):
    """Long help that the short_help above replaces."""


@click.command(name="wave")
@click.option("--times", help="How often.")
def wave(times):
    """Wave at everyone.

    More detail that --help does not show.
    """


def undocumented():
    pass
'''


def murmur(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `murmur` CLI in a subprocess (with `site` on PYTHONPATH)."""
    env = {**os.environ, "MURMUR_DISABLE_PLUGINS": ""}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "murmur.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.fixture
def site(tmp_path: Path) -> Any:
    """A directory of fake distributions (for a subprocess's PYTHONPATH)."""
    root = tmp_path / "site"
    root.mkdir()
    return fakedist.FakeSite(root)


def test_help_shows_what_each_plugin_command_does_without_importing_it(site: Any) -> None:
    """A plugin command's help line is its short_help or the first line of its docstring,
    read from source: its module (which raises on import here) is never imported."""
    site.add(
        "murmur-greeter",
        summary="The distribution's summary, not what a command does.",
        entry_points={
            "murmur.commands": {
                "greet": "greeter_cmds:greet",
                "wave": "greeter_cmds:wave",
                "mystery": "greeter_cmds:undocumented",
            }
        },
        modules={"greeter_cmds": GREET},
    )

    done = murmur("--help", site=site.root)

    assert done.returncode == 0, done.stderr
    commands = done.stdout.split("Commands:")[1]
    assert re.search(r"\n  greet +Greet people, politely\. \[murmur-greeter\]\n", commands)
    assert re.search(r"\n  wave +Wave at everyone\. \[murmur-greeter\]\n", commands)
    assert re.search(r"\n  mystery +The distribution's summary", commands)
    assert "An option's help" not in commands


def test_help_shows_what_serve_and_status_do() -> None:
    """`murmur serve` and `murmur status` (murmur-server) are described by what they do."""
    pytest.importorskip("murmur_server")

    done = murmur("--help")

    assert done.returncode == 0, done.stderr
    assert re.search(r"\n  serve +Serve the runtime over HTTP", done.stdout), done.stdout
    assert re.search(r"\n  status +Tail a server's live events", done.stdout), done.stdout


def rows(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def test_plugins_list_shows_murmur_libraries_without_entry_points(site: Any) -> None:
    """A murmur-* distribution that requires murmur-core and declares no entry point is
    listed as a library (ok, or incompatible with the installed kernel); an application
    that merely depends on murmur is not listed."""
    site.add("murmur-fakelib", version="0.3", requires=("murmur-core>=0.1",))
    site.add("murmur-oldlib", version="0.1", requires=("murmur-core>=99",))
    site.add("acme-app", requires=("murmur-core>=0.1",))

    listed = rows(murmur("plugins", "list", "--json", site=site.root))

    assert listed["murmur-fakelib"] == {
        "name": "murmur-fakelib",
        "version": "0.3",
        "provides": [],
        "hooks": [],
        "status": "ok",
        "error": None,
        "kind": "library",
    }
    assert listed["murmur-oldlib"]["status"] == "incompatible"
    assert "requires murmur-core>=99" in listed["murmur-oldlib"]["error"]
    assert "acme-app" not in listed
    assert listed["murmur-core"]["kind"] == "plugin"


def test_murmur_client_is_listed_as_a_library() -> None:
    """The table says what murmur-client is, although it has no entry points."""
    pytest.importorskip("murmur_client")

    done = murmur("plugins", "list")

    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("murmur-client ")]
    assert re.search(r" ok +library \(no entry points: nothing to load\)$", line), line
