"""`murmur {{ cookiecutter.entry_name }}` is a working command of the murmur CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def murmur(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `murmur` CLI, as a user would."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("murmur")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_is_listed_in_murmur_help() -> None:
    """`murmur --help` lists the command."""
    done = murmur("--help")

    assert done.returncode == 0, done.stderr
    assert "{{ cookiecutter.entry_name }}" in done.stdout


def test_ask_prints_the_agents_answer() -> None:
    """`murmur {{ cookiecutter.entry_name }} ask QUESTION --json` runs an agent offline and prints its answer."""
    done = murmur("{{ cookiecutter.entry_name }}", "ask", "What is murmur?", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["question"] == "What is murmur?"
