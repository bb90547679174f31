"""`murmur run script.py [args...]`: run a Python script as `__main__`."""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence

import click

__all__ = ["run_command", "run_script"]


def run_script(path: str, args: Sequence[str] = ()) -> int:
    """Run the script at `path` as `python path args...` would, and return its exit code.

    `sys.argv` is `[path, *args]` and the script's directory comes first on `sys.path` while
    it runs; both are restored afterwards. An exception the script does not handle
    propagates.
    """
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return 0


def _exit_code(code: object) -> int:
    """Python's own rules: None is 0, an int is itself, anything else is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    click.echo(str(code), err=True)
    return 1


@click.command(
    name="run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx: click.Context, script: str, args: tuple[str, ...]) -> None:
    """Run a Python script as __main__.

    ARGS become the script's command-line arguments (sys.argv[1:]); murmur exits with the
    script's exit code.
    """
    ctx.exit(run_script(script, args))
