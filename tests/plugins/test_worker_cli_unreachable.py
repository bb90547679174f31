"""`murmur worker start` against a broker nothing listens on: one line, then a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "s3cret-pw"

DEAD = {
    "redis": f"redis://murmur:{SECRET}@127.0.0.1:1/0",
    "nats": f"nats://murmur:{SECRET}@127.0.0.1:1",
    "rabbitmq": f"amqp://guest:{SECRET}@127.0.0.1:1/",
    "kafka": f"kafka://murmur:{SECRET}@127.0.0.1:1",
}
"""One URL per broker plugin, at a port nothing listens on, with a password in it."""

HINTS = {
    "redis": "check that it is running and the URL",
    "nats": "start nats-server with JetStream (-js) or fix the URL",
    "rabbitmq": "start RabbitMQ or fix the URL",
    "kafka": "start the Kafka cluster or fix the URL",
}


@pytest.mark.parametrize("broker", sorted(DEAD))
def test_an_unreachable_broker_is_one_line_naming_it_and_what_to_do(
    broker: str, tmp_path: Path
) -> None:
    """The worker CLI prints one line naming the broker (password redacted) and what to
    do, no traceback, and exits with status 1 well within its connect bound."""
    (tmp_path / "cliagents.py").write_text(
        "from murmur import Agent\nagent = Agent(name='echo', model='test')\n"
    )
    url = DEAD[broker]
    done = subprocess.run(
        [sys.executable, "-m", "murmur.cli", "worker", "start", "-a", "echo", "-b", url,
         "--app", "cliagents:agent"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # the worker's own connect bound is 10 s
        env={**os.environ, "MURMUR_BROKER": ""},
    )  # fmt: skip
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    redacted = url.replace(SECRET, "***")
    assert done.returncode == 1, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: murmur worker: cannot reach the broker at {redacted} ")
    assert HINTS[broker] in lines[0]
    assert SECRET not in lines[0]
