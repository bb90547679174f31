"""The README's first command works: the quickstart example runs offline end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_prints_typed_outputs_events_and_tokens() -> None:
    """examples/quickstart.py prints gather results, a pipeline summary, events and tokens."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "'What is Kafka?' -> About What is Kafka?" in out
    assert "summary: headline='Verified: About What is murmur?: it works.'" in out
    assert "agent_spawned" in out
    assert "group_completed" in out
    assert "budget used=" in out
