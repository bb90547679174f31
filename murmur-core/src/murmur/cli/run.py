"""`murmur run script.py [args...]`: run a Python script as `__main__`.

On a terminal, the gathers the script runs show a progress bar on stderr (`--no-progress`
turns it off; it is never drawn when stderr is a pipe or a file).
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence
from contextlib import ExitStack

import click

__all__ = ["run_command", "run_script"]


def run_script(path: str, args: Sequence[str] = (), *, progress: bool | None = None) -> int:
    """Run the script at `path` as `python path args...` would, and return its exit code.

    `sys.argv` is `[path, *args]` and the script's directory comes first on `sys.path` while
    it runs; both are restored afterwards. An exception the script does not handle
    propagates.

    Args:
        path: the script.
        args: its command-line arguments.
        progress: draw a progress bar on stderr for the script's gathers; None (the
            default) draws it when stderr is a terminal.
    """
    if progress is None:
        progress = _is_terminal(sys.stderr)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        with ExitStack() as stack:
            if progress:
                # Only a run on a terminal pays for the bar's imports, never `murmur --help`.
                from murmur.cli._progress import progress_bar

                stack.enter_context(progress_bar())
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return 0


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


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
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar for the script's gathers (default: when stderr is a terminal).",
)
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(
    ctx: click.Context, progress: bool | None, script: str, args: tuple[str, ...]
) -> None:
    """Run a Python script as __main__.

    ARGS become the script's command-line arguments (sys.argv[1:]); murmur exits with the
    script's exit code. On a terminal, each gather the script runs shows a progress bar.
    """
    ctx.exit(run_script(script, args, progress=progress))
