"""The documentation site: every page is in the navigation, and the getting-started example
runs as written and prints what the page says it prints. (`mkdocs build --strict`, run by
.ci/run, checks links, anchors and the API reference.)"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def nav_pages(node: object) -> list[str]:
    """Every page named in mkdocs.yml's nav."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in nav_pages(value)]
    return []


def test_every_docs_page_is_in_the_navigation() -> None:
    """A page added to docs/ without a place in the nav fails here (and in the strict build)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = {page.split("#")[0] for page in nav_pages(config["nav"])}
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}

    assert sorted(on_disk - pages) == []
    assert sorted(pages - on_disk) == []


def test_the_getting_started_example_prints_what_the_page_says(tmp_path: Path) -> None:
    """docs/getting-started.md's script runs offline; its stdout is the page's output block."""
    page = (DOCS / "getting-started.md").read_text()
    script = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "asyncio.run" in b)
    expected = re.search(r"It prints:\n\n```text\n(.*?)```", page, re.S)
    assert expected is not None
    (tmp_path / "first_run.py").write_text(script)

    done = subprocess.run(
        [sys.executable, "first_run.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == expected[1]
    assert "agent_completed" in done.stderr  # the default event log: on stderr


def test_the_hook_reference_is_generated_from_every_hookspec() -> None:
    """docs/hooks.md renders `murmur.hookspecs` with mkdocstrings, and its member filter lets
    every hook through (the strict build then fails if one does not render)."""
    import inspect

    from murmur import hookspecs

    page = (DOCS / "hooks.md").read_text()
    block = page[page.index("::: murmur.hookspecs") :]
    options = yaml.safe_load(textwrap.dedent(block.split("\n", 1)[1]))["options"]
    patterns = [re.compile(p) for p in options["filters"]]
    hooks = [
        name
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, "murmur_spec")
    ]

    assert hooks
    assert [h for h in hooks if not any(p.search(h) for p in patterns)] == []
