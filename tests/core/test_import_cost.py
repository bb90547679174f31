"""Import cost is a feature: `import murmur` and `murmur --help` stay light.

Each check runs in a fresh interpreter, so nothing another test imported can hide a
regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "pydantic_ai",
    "faststream",
    "redis",
    "aiokafka",
    "nats",
    "aio_pika",
    "aiosqlite",
    "rocksdict",
    "opentelemetry",
    "fastapi",
    "starlette",
    "uvicorn",
    "mcp",
    "httpx",
)
"""Modules the design names: each costs from a few hundred ms to seconds to import."""

DISCOVERY_ONLY = ("stevedore",)
"""Needed to load a plugin, never to import murmur or print help."""

REPORT = """
import json, sys
roots = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(roots), file=sys.stderr)
"""


def loaded_top_level_modules(code: str) -> set[str]:
    """Top-level module names in `sys.modules` after running `code` in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", code + REPORT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("import murmur\n", id="import murmur"),
        pytest.param(
            "from murmur.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\n",
            id="murmur --help",
        ),
        pytest.param(
            "from murmur.cli import main\ntry:\n    main(['run', '--help'])\nexcept SystemExit:\n"
            "    pass\n",
            id="murmur run --help",
        ),
    ],
)
def test_light_paths_do_not_import_heavy_modules(code: str) -> None:
    """Neither `import murmur` nor the help path imports a broker, LLM, HTTP or OTel library."""
    loaded = loaded_top_level_modules(code)

    assert set() == loaded & {*HEAVY, *DISCOVERY_ONLY}
