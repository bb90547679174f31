"""`murmur serve` and `murmur status` as a person runs them: real processes, a real terminal."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")
TOKEN = "cli-token-2b9c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def murmur(*args: str) -> list[str]:
    return [sys.executable, "-m", "murmur.cli", *args]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "MURMUR_SERVER_TOKEN": TOKEN,
        "NO_COLOR": "",
    }


class Served:
    """A `murmur serve` process on a port, with a store (RocksDB: it outlives the process)."""

    def __init__(self, port: int, store: str, token: str = TOKEN) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            murmur(
                "serve",
                "--port",
                str(port),
                "--store",
                store,
                "--app",
                "_serve_app:served",
                "--token",
                token,
                "--log-level",
                "warning",
            ),
            env=env(),
            cwd=HERE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise AssertionError(self.process.communicate()[1].decode())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            assert time.monotonic() < deadline, "murmur serve did not start"
            time.sleep(0.1)

    def run(self, agent: str, text: str) -> str:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        run = httpx.post(f"{self.url}/runs", json={"agent": agent, "input": text}, headers=headers)
        assert run.status_code == 202, run.text
        run_id = run.json()["run_id"]
        done = httpx.get(
            f"{self.url}/runs/{run_id}/result", params={"wait": 30}, headers=headers, timeout=60
        )
        assert done.status_code == 200, done.text
        return run_id

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def wait_subscribed(url: str) -> None:
    """Return once a client follows the server's event stream."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/runtime/stats", headers=auth).json()["subscribers"] < 1:
        assert time.monotonic() < deadline, "nothing subscribed to the event stream"
        time.sleep(0.05)


class Terminal:
    """A process on a pseudo-terminal, and what a person would see on it (ANSI stripped)."""

    def __init__(self, argv: list[str], rows: int = 50, cols: int = 160) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=HERE,
            close_fds=True,
            env={**env(), "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)},
        )
        os.close(slave)
        self.master = master
        self.raw = b""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk

    @property
    def screen(self) -> str:
        with self._lock:
            return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def mark(self) -> int:
        return len(self.screen)

    def wait_for(self, pattern: str, since: int = 0, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen[since:]
            if re.search(pattern, text):
                return text
            time.sleep(0.05)
        raise AssertionError(
            f"{pattern!r} never appeared; the terminal shows:\n{self.screen[-3000:]}"
        )

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(20)
        self._reader.join(5)
        os.close(self.master)
        return code


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"rocksdb:///{tmp_path}/runs"


@pytest.fixture
def served(store: str) -> Iterator[Served]:
    server = Served(free_port(), store)
    yield server
    server.stop()


def test_murmur_status_shows_runs_live_and_survives_a_server_restart(
    served: Served, store: str
) -> None:
    """`murmur status` in a terminal shows runs and spend, and reconnects after a restart."""
    terminal = Terminal(murmur("status", served.url))
    try:
        terminal.wait_for(r"murmur status.*connected")
        served.run("echo", "hello")
        shown = terminal.wait_for(r"agent_completed")
        assert "In flight" in shown
        assert "Recent events" in shown
        assert re.search(r"agent_spawned[\s│]+echo", shown)
        terminal.wait_for(r"completed 1\s+failed 0\s+tokens [1-9]")

        served.stop()
        terminal.wait_for(r"reconnecting", since=terminal.mark() - 2000)
        mark = terminal.mark()
        restarted = Served(served.port, store)
        try:
            restarted.run("finder", "after restart")
            shown = terminal.wait_for(r"agent_completed[\s│]+finder", since=mark)
            assert re.search(r"completed 2\s+failed 0", terminal.screen[mark:])
        finally:
            restarted.stop()
    finally:
        code = terminal.interrupt()
    assert code == 0
    assert "Traceback" not in terminal.screen


def test_murmur_status_json_prints_one_event_per_line(served: Served) -> None:
    """`murmur status --json` prints each event as one JSON line."""
    status = subprocess.Popen(
        murmur(
            "status",
            served.url,
            "--json",
            "--max-events",
            "2",
            "--type",
            "agent_spawned",
            "--type",
            "agent_completed",
        ),
        env=env(),
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_subscribed(served.url)  # a late subscriber would only miss live events
        run_id = served.run("echo", "json please")
        out, err = status.communicate(timeout=60)
    finally:
        if status.poll() is None:
            status.kill()
    assert status.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event_type"] for e in events] == ["agent_spawned", "agent_completed"]
    assert {e["trace_id"] for e in events} == {run_id}


def test_murmur_serve_loads_agents_and_groups_and_persists_runs(served: Served, store: str) -> None:
    """`murmur serve --app ... --store rocksdb://` serves the agents; runs outlive the server."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    agents = httpx.get(f"{served.url}/agents", headers=headers).json()
    groups = httpx.get(f"{served.url}/groups", headers=headers).json()
    assert [a["name"] for a in agents] == ["echo", "finder"]
    assert [g["name"] for g in groups] == ["pipeline"]
    run_id = served.run("echo", "keep me")
    served.stop()
    again = Served(served.port, store)
    try:
        result = httpx.get(f"{again.url}/runs/{run_id}/result", headers=headers).json()
        assert result["output"] == "echo:keep me"
    finally:
        again.stop()


def test_murmur_status_goes_on_live_when_a_restarted_server_lost_its_place() -> None:
    """With an in-memory store a restart forgets every event: `murmur status --json` is told
    its resume id is unknown (404), says so, and goes on with live events."""
    server = Served(free_port(), "memory://")
    status = subprocess.Popen(
        murmur("status", server.url, "--json", "--type", "agent_completed", "--max-events", "2"),
        env=env(),
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    restarted: Served | None = None
    try:
        wait_subscribed(server.url)
        deadline = time.monotonic() + 60
        first = server.run("echo", "before")
        assert status.stdout is not None
        before = json.loads(status.stdout.readline())  # it has the event: now restart
        server.stop()
        restarted = Served(server.port, "memory://")
        while status.poll() is None and time.monotonic() < deadline:
            restarted.run("echo", "after")  # until the stream, live again, sees one
            time.sleep(0.5)
        out, err = status.communicate(timeout=60)
    finally:
        if status.poll() is None:
            status.kill()
        server.stop()
        if restarted is not None:
            restarted.stop()
    assert status.returncode == 0, err
    assert before["trace_id"] == first
    (after,) = [json.loads(line) for line in out.splitlines()]
    assert after["trace_id"] != first
    assert "no stored event" in err
    assert "continuing live" in err
    assert "Traceback" not in err, err


def test_status_type_filter_offers_every_event_type() -> None:
    """`murmur status --type` accepts every EventType (process events included)."""
    from murmur_server.commands import _EVENT_TYPES

    from murmur.events import EventType

    assert set(_EVENT_TYPES) == {t.value for t in EventType}


def test_status_describes_process_events() -> None:
    """`murmur status` lines say what a process emitted, which endpoint ran, why it failed."""
    from murmur_server._status import _detail

    from murmur.events import EventType, RuntimeEvent

    def line(event_type: EventType, **payload: object) -> str:
        return _detail(RuntimeEvent(event_type=event_type, agent_name="main", payload=payload))

    assert line(EventType.PROCESS_EMITTED, type="ready", data=None) == "ready: None"
    assert line(EventType.ENDPOINT_CALLED, endpoint="add_task") == "add_task"
    assert line(EventType.PROCESS_FAILED, code="process_failed", error="boom") == (
        "process_failed: boom"
    )
    assert line(EventType.PROCESS_CANCELLED, reason="parent 'main' ended") == (
        "parent 'main' ended"
    )
