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
    (`file: what is wrong`) and exits 1. An agent whose model's SDK is not installed here
    is valid (a worker elsewhere may run it), and gets a warning naming what to install.
    """
    from murmur.core.errors import MurmurError
    from murmur.core.providers import missing_sdk
    from murmur.registry import spec_files, validate_specs

    for extra in (*reversed(import_paths), os.getcwd()):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    problems: list[str] = []
    warnings: list[str] = []
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
        for name, agent in registry.agents.items():
            for model in (agent.model, *agent.fallback_models):
                missing = missing_sdk(model) if isinstance(model, str) else None
                if missing is not None:
                    source = registry.sources.get(name, path)
                    warnings.append(f"{source}: warning: agent {name!r}: {missing.message(model)}")
    for line in problems:
        click.echo(line)
    for line in warnings:
        click.echo(line, err=True)
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
