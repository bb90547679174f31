"""`murmur plugins list`: what is installed, what it provides, and whether it works."""

from __future__ import annotations

import json
import shutil
import textwrap
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from murmur.plugins._inventory import PluginReport

__all__ = ["format_table", "plugins_group"]

FAILING_STATUSES = frozenset({"error", "conflict"})
"""Statuses that make `murmur plugins list --strict` exit 1."""


@click.group(name="plugins")
def plugins_group() -> None:
    """Inspect installed murmur plugins."""


@plugins_group.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--strict", is_flag=True, help="Exit 1 if any plugin has status error or conflict.")
def list_command(as_json: bool, strict: bool) -> None:
    """List every distribution that extends murmur, and its status.

    murmur libraries that declare no entry points (murmur-client) are listed as libraries.

    Statuses: ok, error (an entry point fails to load), conflict (two distributions claim
    one name), incompatible (its murmur-core requirement is not met), disabled
    (MURMUR_DISABLE_PLUGINS).
    """
    from murmur.plugins._inventory import inventory

    reports = inventory()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        click.echo(format_table(reports, width=shutil.get_terminal_size().columns))
    if strict and any(r.status in FAILING_STATUSES for r in reports):
        raise SystemExit(1)


def format_table(reports: list[PluginReport], *, width: int = 100) -> str:
    """Render reports as a table: one row per distribution, hooks and error beneath."""
    headers = ("NAME", "VERSION", "STATUS")
    rows = [(r.name, r.version, r.status) for r in reports]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    indent = sum(widths) + 2 * len(widths)
    detail_width = max(width - indent, 30)

    def line(cells: tuple[str, str, str], detail: str) -> list[str]:
        head = "".join(c.ljust(w + 2) for c, w in zip(cells, widths, strict=True))
        wrapped = textwrap.wrap(detail, detail_width, break_on_hyphens=False) or [""]
        return [(head + wrapped[0]).rstrip(), *(" " * indent + more for more in wrapped[1:])]

    out = line(headers, "PROVIDES")
    blank = ("", "", "")
    for report, row in zip(reports, rows, strict=True):
        provides = ", ".join(report.provides)
        if report.kind == "library":
            provides = "library (no entry points: nothing to load)"
        out += line(row, provides)
        if report.hooks:
            out += line(blank, "hooks: " + ", ".join(report.hooks))
        if report.error:
            out += line(blank, "error: " + report.error)
    return "\n".join(out)
