"""`murmur status` against a server that is not there, or not reachable as a murmur server:
it says why (connection refused, auth failed, not a murmur server) and keeps retrying."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TOKEN = "right-token-5f1e"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Status:
    """`murmur status URL --json` in a subprocess, its stderr collected as it comes."""

    def __init__(self, url: str, token: str) -> None:
        env = {**os.environ, "MURMUR_SERVER_TOKEN": ""}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "murmur.cli", "status", url, "--json", "--token", token],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never said; stderr: {self.lines}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self._reader.join(5)


@pytest.fixture
def served_elsewhere(tmp_path: Path) -> Iterator[str]:
    """A plain static HTTP server (not murmur) on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, "/")
        yield url
    finally:
        process.terminate()
        process.wait(20)


@pytest.fixture
def murmur_server() -> Iterator[str]:
    """`murmur serve` on a free port, with a token."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "murmur.cli", "serve", "--port", str(port), "--token", TOKEN,
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, "/healthz")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _wait_up(url: str, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + path, timeout=1)
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


def keeps_retrying(status: Status, reason: str) -> None:
    """Still running a while after saying why, and said it once, not once per attempt."""
    time.sleep(2.0)
    assert status.process.poll() is None, status.lines
    assert sum(reason in line for line in status.lines) == 1, status.lines
    assert not any("Traceback" in line for line in status.lines), status.lines


def test_nothing_listening_says_connection_refused_and_keeps_retrying() -> None:
    """Against a port nothing listens on: 'connection refused', then retries."""
    url = f"http://127.0.0.1:{free_port()}"
    status = Status(url, TOKEN)
    try:
        line = status.wait_for("connection refused")
        assert line == (
            f"murmur status: connection refused: nothing answers at {url}; is `murmur serve` "
            "running there?; retrying"
        )
        keeps_retrying(status, "connection refused")
    finally:
        status.stop()


def test_a_server_that_is_not_murmur_is_named_as_such(served_elsewhere: str) -> None:
    """Against some other HTTP server: 'not a murmur server', then retries."""
    status = Status(served_elsewhere, TOKEN)
    try:
        line = status.wait_for("not a murmur server")
        assert f"not a murmur server at {served_elsewhere}? " in line
        assert "HTTP 404" in line
        keeps_retrying(status, "not a murmur server")
    finally:
        status.stop()


def test_a_wrong_token_says_auth_failed(murmur_server: str) -> None:
    """Against murmur serve with another token: 'auth failed', with what to do, then retries."""
    status = Status(murmur_server, "wrong-token")
    try:
        line = status.wait_for("auth failed")
        assert "(HTTP 401)" in line
        assert "--token or MURMUR_SERVER_TOKEN" in line
        assert "wrong-token" not in line
        keeps_retrying(status, "auth failed")
    finally:
        status.stop()


def test_the_live_view_shows_why_it_is_reconnecting() -> None:
    """In the terminal view, the header says why the server cannot be followed."""
    from murmur_server._status import StatusView
    from rich.console import Console

    view = StatusView("http://127.0.0.1:1")
    view.set_state("disconnected", "connection refused: nothing answers at http://127.0.0.1:1")
    console = Console(width=120, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(view.render())
    text = console.export_text()

    assert "reconnecting" in text
    assert "connection refused: nothing answers at http://127.0.0.1:1; retrying" in text
