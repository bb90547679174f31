"""The README's first command works: the quickstart example runs offline end to end."""

from __future__ import annotations

import re
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
    assert "'What is Kafka?' -> Finding(" in out  # typed outputs, in task order
    # The pipeline's summary quotes the review it was handed: outputs flow between agents.
    claim = re.search(r"review:  claim=('.*?') verified=(True|False)", out)
    assert claim is not None, out
    verdict = "Verified" if claim[2] == "True" else "Unverified"
    assert f'summary: headline="{verdict}: {claim[1]}"' in out
    assert "agent_spawned" in out
    assert "group_completed" in out
    assert "budget used=" in out


def test_quickstart_uses_test_models_except_where_it_needs_chosen_outputs() -> None:
    """The example is written as the README teaches: model="test", one FunctionModel, said why."""
    source = (ROOT / "examples" / "quickstart.py").read_text()

    assert source.count('model="test"') == 2
    assert source.count("FunctionModel(") == 1
    assert "because the example needs a chosen output" in source
