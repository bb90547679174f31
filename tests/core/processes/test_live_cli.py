"""`murmur ps` against a running program: a real Unix socket, the program in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from murmur.cli.ps import ps_group
from murmur.processes._client import live_runs

PROGRAM = Path(__file__).with_name("_live_program.py")
CLI = [sys.executable, "-c", "from murmur.cli import main; main()"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(ps_group, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_live_run_cli_drives_a_running_program(murmur_home: Path) -> None:
    """ps lists the run, status shows its tree, send talks to an agent, call runs an
    endpoint, tail follows events to the end; afterwards the socket is gone and the logs
    remain."""
    env = {**os.environ, "MURMUR_HOME": str(murmur_home)}
    program = subprocess.Popen(
        [sys.executable, str(PROGRAM)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert program.stdout is not None
        assert program.stdout.readline().strip() == "READY"
        deadline = time.monotonic() + 10
        while not live_runs() and time.monotonic() < deadline:
            time.sleep(0.02)
        [run] = live_runs()
        assert stat.S_IMODE(run.socket.stat().st_mode) == 0o600

        listing = invoke()
        assert run.execution_id in listing
        assert "main  running" in listing

        status = json.loads(invoke("status", "--json", "--id", run.execution_id[:6]))
        tree = status["processes"]
        assert (tree["name"], tree["status"]) == ("main", "running")
        assert [a["name"] for a in tree["agents"]] == ["helper"]
        assert {e["name"]: e["read_only"] for e in tree["endpoints"]} == {
            "add": False,
            "finish": True,
        }
        assert "agent helper" in invoke("status")

        assert invoke("send", "helper", "hello").strip() == "echo: hello"
        assert invoke("send", "main/helper", "again").strip() == "echo: again"
        assert invoke("call", "add", "a=2", "b=40").strip() == "42"
        assert invoke("call", "main/add", "a=1", "b=1").strip() == "2"
        refused = CliRunner().invoke(ps_group, ["call", "nope"])
        assert refused.exit_code == 1
        assert "endpoints: main/add, main/finish" in refused.output

        tail = subprocess.Popen([*CLI, "ps", "tail"], env=env, stdout=subprocess.PIPE, text=True)
        assert tail.stdout is not None
        first = tail.stdout.readline()  # tail is connected: it replays from the start
        assert json.loads(invoke("call", "finish", "note=done here")) == "finishing"
        out = first + tail.stdout.read()  # not communicate(): it would skip buffered lines
        assert tail.wait(timeout=30) == 0
        assert program.wait(timeout=30) == 0
        assert program.stdout.read().strip() == "RESULT done here"
    finally:
        if program.poll() is None:
            program.kill()
    types = [json.loads(line)["event_type"] for line in out.splitlines()]
    assert types[0] == "process_started"  # replayed from the start
    assert {"agent_completed", "endpoint_called", "process_emitted"} <= set(types), types
    assert types[-1] == "process_done"
    assert invoke().strip() == "no live runs"
    logs = murmur_home / "logs" / run.execution_id
    meta = json.loads((logs / "run.json").read_text())
    assert meta["status"] == "done"
    assert len((logs / "runtime.jsonl").read_text().splitlines()) == len(types)


def test_ps_removes_stale_sockets_and_says_when_nothing_runs(murmur_home: Path) -> None:
    """A socket nobody listens on (a killed run) is cleaned by `murmur ps`."""
    runtimes = murmur_home / "runtimes"
    runtimes.mkdir(parents=True)
    stale = runtimes / "deadbeef.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(stale))
    sock.close()
    assert stale.exists()
    assert invoke().strip() == "no live runs"
    assert not stale.exists()
    result = CliRunner().invoke(ps_group, ["status"])
    assert result.exit_code == 1
    assert "no live run" in result.output
