"""`murmur worker start` never prints a broker password: not in its start banner, its
lifecycle events, or anything else it writes while it serves and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from murmur.testing import require_service

APP = "from murmur import Agent\nagent = Agent(name='echo', model='test')\n"


def serve_then_stop(url: str, tmp_path: Path) -> tuple[str, int]:
    """Start a worker on `url`, wait for its banner, stop it (SIGINT); all it printed."""
    (tmp_path / "redactapp.py").write_text(APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "murmur.cli", "worker", "start", "-a", "echo", "-b", url,
         "--app", "redactapp:agent"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MURMUR_BROKER": ""},
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if ": serving echo on " in line:
            break
    time.sleep(0.5)  # the worker_started event, a heartbeat
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    return "".join(lines) + rest, process.returncode


def test_the_banner_and_events_of_a_worker_redact_the_password(tmp_path: Path) -> None:
    """On memory://user:<password>@fleet the banner shows user:***@, and the password
    appears nowhere in what the worker printed."""
    output, code = serve_then_stop("memory://murmur:Sup3r-s3cret@fleet-redact", tmp_path)

    assert code == 0, output
    assert "serving echo on memory://murmur:***@fleet-redact " in output
    assert "worker_started" in output
    assert "Sup3r-s3cret" not in output


def test_a_rabbitmq_worker_banner_does_not_print_guest_guest(tmp_path: Path) -> None:
    """The case from the issue: amqp://guest:guest@... is printed as amqp://guest:***@..."""
    pytest.importorskip("murmur_rabbitmq")
    require_service("RabbitMQ", "127.0.0.1", 5672)

    output, code = serve_then_stop("amqp://guest:guest@127.0.0.1:5672/", tmp_path)

    assert code == 0, output
    assert "serving echo on amqp://guest:***@127.0.0.1:5672/ " in output
    assert "guest:guest" not in output
