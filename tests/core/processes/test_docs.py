"""docs/processes.md: its first example runs as written and prints what the page says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "processes.md"


def test_the_first_process_example_prints_what_the_page_says(
    tmp_path: Path, murmur_home: Path
) -> None:
    """The page's runnable script runs offline; its stdout is the page's output block, and
    it leaves its logs under MURMUR_HOME."""
    page = PAGE.read_text()
    script = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "asyncio.run" in b)
    expected = re.search(r"It prints:\n\n```text\n(.*?)```", page, re.S)
    assert expected is not None
    (tmp_path / "first_process.py").write_text(script)

    done = subprocess.run(
        [sys.executable, "first_process.py"],
        cwd=tmp_path,
        env={**os.environ, "MURMUR_HOME": str(murmur_home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == expected[1]
    [run] = (murmur_home / "logs").iterdir()
    assert (run / "runtime.jsonl").read_text().count("process_done") == 3
