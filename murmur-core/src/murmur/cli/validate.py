"""`murmur validate specs/`: check YAML agent and group specs, one line per bad file."""

from __future__ import annotations

import os
import sys

import click

__all__ = ["validate_command"]


@click.command(name="validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--import-path",
    "-I",
    "import_paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Extra directory to import output_type classes from (the current one always is).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
def validate_command(paths: tuple[str, ...], import_paths: tuple[str, ...], quiet: bool) -> None:
    """Validate YAML agent and group specs in PATHS (directories or files).

    Exits 0 when every spec is valid; otherwise prints one line per bad file
    (`file: what is wrong`) and exits 1.
    """
    from murmur.core.errors import MurmurError
    from murmur.registry import spec_files, validate_specs

    for extra in (*reversed(import_paths), os.getcwd()):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    problems: list[str] = []
    agents = groups = files = 0
    for path in paths:
        try:
            files += len(spec_files(path))
            registry, found = validate_specs(path)
        except MurmurError as exc:
            problems.append(exc.message)
            continue
        agents += len(registry.agents)
        groups += len(registry.groups)
        problems.extend(str(p) for p in found)
    for line in problems:
        click.echo(line)
    if files == 0:
        click.echo(f"no .yaml/.yml spec files found in {', '.join(paths)}", err=True)
        sys.exit(1)
    if problems:
        bad = len(problems)
        click.echo(f"{bad} of {files} spec file{'s' if files > 1 else ''} invalid", err=True)
        sys.exit(1)
    if not quiet:
        click.echo(
            f"ok: {_plural(files, 'spec file')} valid "
            f"({_plural(agents, 'agent')}, {_plural(groups, 'group')})"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
