"""The `murmur` CLI: lazy plugin commands, `murmur plugins list`, `murmur run`."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from murmur.cli import cli
from murmur.plugins import PluginIndex
from murmur.plugins import _inventory as inventory_module


def _load_fakedist() -> Any:
    path = Path(__file__).parent / "plugin_fixtures" / "fakedist.py"
    spec = importlib.util.spec_from_file_location("murmur_tests_fakedist", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fakedist = _load_fakedist()

HELLO = """
import click

@click.command()
@click.argument("who")
def hello(who):
    '''Say hello.'''
    click.echo(f"hello {who}")
"""

PLUGIN = """
from murmur.hookspecs import hookimpl

@hookimpl
def murmur_event(event):
    pass

@hookimpl
def murmur_runtime_started(runtime):
    pass
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A directory of fake distributions, first on sys.path for this test only."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("MURMUR_DISABLE_PLUGINS", raising=False)
    fake = fakedist.FakeSite(root)
    # Only the kernel and this test's fakes: the workspace's own plugins may be installed.
    monkeypatch.setattr(PluginIndex, "scan", fakedist.only(fake.names))
    yield fake
    fake.forget_modules()


def ignore_kernel_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave murmur-core's own row out of `murmur plugins list`; its own test judges it."""
    real = inventory_module.inventory

    def without_kernel(index: PluginIndex | None = None) -> list[Any]:
        return [r for r in real(index) if r.name != "murmur-core"]

    monkeypatch.setattr(inventory_module, "inventory", without_kernel)


def murmur(*args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(cli, list(args), prog_name="murmur")


def plugins_json() -> dict[str, dict[str, Any]]:
    """`murmur plugins list --json`, by distribution name."""
    result = murmur("plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_help_lists_kernel_and_plugin_commands_without_importing_plugins(site: Any) -> None:
    """`murmur --help` shows a plugin's command from metadata alone."""
    site.add(
        "murmur-hello",
        summary="Greets people.",
        entry_points={"murmur.commands": {"hello": "hello_cmd:hello"}},
        modules={"hello_cmd": HELLO},
    )
    result = murmur("--help")

    assert result.exit_code == 0
    commands = result.stdout.split("Commands:")[1]
    assert re.search(r"\n  plugins +Inspect installed murmur plugins\.\n", commands)
    assert "run " in commands
    assert re.search(r"\n  hello +Say hello\. \[murmur-hello\]\n", commands)
    assert "hello_cmd" not in sys.modules
    assert murmur("hello", "world").stdout == "hello world\n"


def test_a_command_that_fails_to_import_breaks_only_itself(site: Any) -> None:
    """A broken plugin command still leaves --help and every other command working."""
    site.add(
        "murmur-broken",
        entry_points={"murmur.commands": {"kaput": "kaput_cmd:kaput"}},
        modules={"kaput_cmd": "raise ImportError('missing dependency xyz')\n"},
    )

    assert murmur("--help").exit_code == 0
    assert murmur("plugins", "list").exit_code == 0
    result = murmur("kaput", "--some-option", "arg")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: command 'kaput' is broken: failed to load from murmur-broken "
        "(kaput_cmd:kaput): ImportError: missing dependency xyz\n"
    )


def test_a_command_entry_point_that_is_not_a_command_is_broken(site: Any) -> None:
    """An entry point naming something other than a click.Command says so when invoked."""
    site.add(
        "murmur-notcmd",
        entry_points={"murmur.commands": {"notcmd": "notcmd:value"}},
        modules={"notcmd": "value = 42\n"},
    )
    result = murmur("notcmd")

    assert result.exit_code == 1
    assert "notcmd:value from murmur-notcmd is a int, not a click.Command" in result.stderr


def test_version_prints_the_kernel_version() -> None:
    """`murmur --version` is murmur-core's version."""
    result = murmur("--version")

    assert f"murmur-core {importlib.metadata.version('murmur-core')}\n" == result.stdout


def test_plugins_list_json_shape() -> None:
    """--json prints a list of objects with exactly the documented keys."""
    result = murmur("plugins", "list", "--json")
    rows = json.loads(result.stdout)

    assert isinstance(rows, list)
    for row in rows:
        assert {"name", "version", "provides", "hooks", "status", "error", "kind"} == set(row)


def test_murmur_core_lists_itself_with_its_builtin_concretes() -> None:
    """The kernel is a plugin like any other: its concretes are entry points, all loadable."""
    core = plugins_json()["murmur-core"]

    assert {
        "backends:memory",
        "stores:memory",
        "emitters:log",
        "context_passers:null",
        "context_passers:full",
        "tool_providers:python",
        "machines:local",
        "commands:run",
        "commands:ps",
        "commands:plugins",
        "plugins:core",
    } <= set(core["provides"])
    assert {
        "murmur_resolve_backend",
        "murmur_resolve_store",
        "murmur_resolve_emitter",
        "murmur_resolve_context_passer",
        "murmur_resolve_tool_provider",
        "murmur_resolve_machine",
    } == set(core["hooks"])
    assert (core["status"], core["error"]) == ("ok", None)


def test_a_plugin_lists_what_it_provides_and_its_hooks(site: Any) -> None:
    """A healthy third-party plugin is ok, with its entry points and hooks."""
    site.add(
        "murmur-fine",
        version="2.3",
        entry_points={
            "murmur.plugins": {"fine": "fineplug"},
            "murmur.commands": {"hello": "hello_cmd:hello"},
        },
        modules={"fineplug": PLUGIN, "hello_cmd": HELLO},
        requires=("murmur-core>=0.1", "murmur-core[openai]>=99; extra == 'x'"),
    )

    assert plugins_json()["murmur-fine"] == {
        "name": "murmur-fine",
        "version": "2.3",
        "provides": ["commands:hello", "plugins:fine"],
        "hooks": ["murmur_event", "murmur_runtime_started"],
        "status": "ok",
        "error": None,
        "kind": "plugin",
    }


def test_a_plugin_that_fails_to_import_shows_error(site: Any) -> None:
    """An import error is reported per distribution, and --strict turns it into exit 1."""
    site.add(
        "murmur-broken",
        entry_points={"murmur.plugins": {"broken": "brokenplug"}},
        modules={"brokenplug": "raise RuntimeError('boom at import')\n"},
    )
    row = plugins_json()["murmur-broken"]

    assert (
        row["status"],
        row["error"],
    ) == ("error", "plugins:broken: RuntimeError: boom at import")
    assert murmur("plugins", "list", "--strict").exit_code == 1
    assert murmur("plugins", "list", "--json", "--strict").exit_code == 1


def test_strict_passes_when_nothing_is_broken(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """--strict exits 0 when every distribution is ok."""
    ignore_kernel_row(monkeypatch)
    site.add(
        "murmur-fine",
        entry_points={"murmur.plugins": {"fine": "fineplug"}},
        modules={"fineplug": PLUGIN},
    )
    assert murmur("plugins", "list", "--strict").exit_code == 0


def test_two_distributions_claiming_one_name_conflict(site: Any) -> None:
    """Both distributions that declare backends:foo show conflict, naming the other."""
    for name in ("foo-a", "foo-b"):
        site.add(
            name,
            entry_points={"murmur.backends": {"foo": "foo_impl:factory"}},
            modules={"foo_impl": "def factory(url):\n    return url\n"},
        )
    rows = plugins_json()

    assert (
        rows["foo-a"]["status"],
        rows["foo-a"]["error"],
    ) == ("conflict", "backends:foo is also provided by foo-b")
    assert (
        rows["foo-b"]["status"],
        rows["foo-b"]["error"],
    ) == ("conflict", "backends:foo is also provided by foo-a")
    assert murmur("plugins", "list", "--strict").exit_code == 1


def test_a_plugin_requiring_a_newer_kernel_is_incompatible(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requires-Dist: murmur-core>=99 is not met by the installed kernel."""
    site.add(
        "murmur-future",
        entry_points={"murmur.plugins": {"future": "futureplug"}},
        modules={"futureplug": PLUGIN},
        requires=("murmur-core>=99",),
    )
    ignore_kernel_row(monkeypatch)
    row = plugins_json()["murmur-future"]
    installed = importlib.metadata.version("murmur-core")

    assert ("incompatible", f"requires murmur-core>=99, but {installed} is installed") == (
        row["status"],
        row["error"],
    )
    assert murmur("plugins", "list", "--strict").exit_code == 0


def test_disabled_plugins_are_listed_but_not_loaded(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MURMUR_DISABLE_PLUGINS shows the distribution as disabled and never imports it."""
    site.add(
        "murmur-off",
        entry_points={
            "murmur.plugins": {"off": "offplug"},
            "murmur.commands": {"hello": "hello_cmd:hello"},
        },
        modules={"offplug": "raise RuntimeError('imported')\n", "hello_cmd": HELLO},
    )
    monkeypatch.setenv("MURMUR_DISABLE_PLUGINS", "murmur-off")
    row = plugins_json()["murmur-off"]

    assert (row["status"], row["error"], row["hooks"]) == ("disabled", None, [])
    assert "offplug" not in sys.modules
    assert "hello" not in murmur("--help").stdout
    assert murmur("hello", "x").exit_code == 2  # no such command


def test_plugins_list_table(site: Any) -> None:
    """The default output is a table with one row per distribution and its problems."""
    site.add(
        "murmur-broken",
        entry_points={"murmur.plugins": {"broken": "brokenplug"}},
        modules={"brokenplug": "raise RuntimeError('boom')\n"},
    )
    lines = murmur("plugins", "list").stdout.splitlines()

    assert lines[0].split() == ["NAME", "VERSION", "STATUS", "PROVIDES"]
    [broken] = [i for i, line in enumerate(lines) if line.startswith("murmur-broken ")]
    assert lines[broken].split() == ["murmur-broken", "1.0", "error", "plugins:broken"]
    assert lines[broken + 1].strip() == "error: plugins:broken: RuntimeError: boom"


def test_run_executes_a_script_as_main(tmp_path: Path) -> None:
    """`murmur run script.py args` runs the script as __main__ with its own argv."""
    script = tmp_path / "script.py"
    out = tmp_path / "out.json"
    script.write_text(
        "import json, sys\n"
        f"json.dump({{'name': __name__, 'argv': sys.argv}}, open({str(out)!r}, 'w'))\n"
    )
    argv_before = list(sys.argv)
    result = murmur("run", str(script), "--flag", "value")

    assert result.exit_code == 0, result.output
    assert {"name": "__main__", "argv": [str(script), "--flag", "value"]} == json.loads(
        out.read_text()
    )
    assert argv_before == sys.argv


@pytest.mark.parametrize(
    ("body", "code"), [("sys.exit(3)", 3), ("sys.exit()", 0), ("sys.exit('bad input')", 1)]
)
def test_run_exits_with_the_scripts_exit_code(tmp_path: Path, body: str, code: int) -> None:
    """The script's SystemExit becomes murmur's exit code, as with `python script.py`."""
    script = tmp_path / "script.py"
    script.write_text(f"import sys\n{body}\n")

    assert code == murmur("run", str(script)).exit_code


def test_run_imports_modules_next_to_the_script(tmp_path: Path) -> None:
    """The script's directory is on sys.path, as with `python script.py`."""
    (tmp_path / "helper_next_to_script.py").write_text("VALUE = 7\n")
    script = tmp_path / "script.py"
    script.write_text("import sys, helper_next_to_script\nsys.exit(helper_next_to_script.VALUE)\n")

    assert murmur("run", str(script)).exit_code == 7
    sys.modules.pop("helper_next_to_script", None)


def test_real_process_survives_a_broken_plugin(tmp_path: Path) -> None:
    """In a fresh interpreter too, a broken plugin is listed as error and breaks nothing."""
    fake = fakedist.FakeSite(tmp_path)
    fake.add(
        "murmur-broken",
        entry_points={
            "murmur.plugins": {"broken": "brokenplug"},
            "murmur.commands": {"kaput": "brokenplug:cmd"},
        },
        modules={"brokenplug": "raise RuntimeError('boom')\n"},
    )
    env = fakedist.subprocess_env(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "murmur.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    help_ = run("--help")
    assert help_.returncode == 0, help_.stderr
    assert "kaput" in help_.stdout
    listing = run("plugins", "list", "--json", "--strict")
    assert listing.returncode == 1
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["murmur-broken"]["status"] == "error"
    assert rows["murmur-core"]["status"] == "ok"
