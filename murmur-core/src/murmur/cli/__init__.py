"""The `murmur` command line: a click group whose subcommands are entry points.

Every subcommand, the kernel's own included, is an entry point in the `murmur.commands`
group, and none is imported until it is needed: `murmur --help` reads names from package
metadata, and imports only murmur-core's own (light) command modules, for their one-line
help. A plugin's command is never imported for `--help`: its help line is read from the
source of its module (the command's `short_help=`/`help=` or docstring, found with the
import system's path finder and `ast`, executing nothing), else its distribution's summary
is shown. So a slow or broken plugin cannot slow down or break `murmur --help`; a command
that fails to import says so when it is invoked, and every other command keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import click

from murmur.plugins._discovery import KERNEL_DISTRIBUTION, PluginIndex, canonical_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from murmur.plugins._discovery import EntryPointInfo

__all__ = ["LazyCommandGroup", "cli", "main"]

COMMANDS_GROUP = "murmur.commands"


class LazyCommandGroup(click.Group):
    """A click group that finds its subcommands in the `murmur.commands` entry-point group.

    Commands added with `add_command` take precedence over entry points of the same name.
    """

    def _index(self, ctx: click.Context) -> PluginIndex:
        meta = ctx.find_root().meta
        index = meta.get("murmur.plugin_index")
        if not isinstance(index, PluginIndex):
            index = meta["murmur.plugin_index"] = PluginIndex.scan()
        return index

    def _entry_points(self, ctx: click.Context, name: str | None = None) -> list[EntryPointInfo]:
        return self._index(ctx).entry_points(COMMANDS_GROUP, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and entry-point command names, sorted."""
        return sorted({*self.commands, *(ep.name for ep in self._entry_points(ctx))})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the named command; a command that cannot be imported comes back broken."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        candidates = self._entry_points(ctx, cmd_name)
        if not candidates:
            return None
        if len(candidates) > 1:
            owners = ", ".join(ep.distribution for ep in candidates)
            return broken_command(cmd_name, f"more than one distribution provides it: {owners}")
        entry_point = candidates[0]
        try:
            command = entry_point.load()
        except Exception as exc:
            return broken_command(
                cmd_name,
                f"failed to load from {entry_point.distribution} ({entry_point.value}): "
                f"{type(exc).__name__}: {exc}",
            )
        if not isinstance(command, click.Command):
            return broken_command(
                cmd_name,
                f"{entry_point.value} from {entry_point.distribution} is a "
                f"{type(command).__name__}, not a click.Command",
            )
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands without importing any plugin's command module."""
        rows: list[tuple[str, str]] = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        for name in names:
            short = self._short_help(ctx, name, limit)
            if short is not None:
                rows.append((name, short))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _short_help(self, ctx: click.Context, name: str, limit: int) -> str | None:
        candidates = [] if name in self.commands else self._entry_points(ctx, name)
        owners = {canonical_name(ep.distribution) for ep in candidates}
        if len(candidates) == 1 and owners != {KERNEL_DISTRIBUTION}:
            dist = next(
                d for d in self._index(ctx).distributions if d.name == candidates[0].distribution
            )
            described = static_short_help(candidates[0].value) or dist.summary
            return _shorten(f"{described} [{dist.name}]".strip(), limit)
        command = self.get_command(ctx, name)
        if command is None or command.hidden:
            return None
        return command.get_short_help_str(limit)


def static_short_help(target: str) -> str | None:
    """The one-line help of the click command `module:function` names, read without importing it.

    The help is read from the module's source without importing the module (nor its package):
    `short_help=` or `help=` in its `@click.command(...)` / `@click.group(...)` decorator, else the
    first line of its docstring. None when the source cannot be found or says nothing.
    """
    import ast
    from importlib.machinery import PathFinder

    module, _, attr = target.partition(":")
    parts = module.strip().split(".")
    attr = attr.strip().split(".")[0]
    try:
        spec = PathFinder.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None or not spec.submodule_search_locations:
                return None
            locations = list(spec.submodule_search_locations)
            spec = PathFinder.find_spec(".".join(parts[: i + 1]), locations)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError, ImportError):
        return None
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name != attr:
            continue
        for decorator in node.decorator_list:
            func = decorator.func if isinstance(decorator, ast.Call) else None
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if not isinstance(decorator, ast.Call) or name not in {"command", "group"}:
                continue  # @click.option(help=...) is an option's help
            for keyword in decorator.keywords:
                value = keyword.value
                if keyword.arg in {"short_help", "help"} and isinstance(value, ast.Constant):
                    return str(value.value).strip().split("\n")[0] or None
        doc = ast.get_docstring(node)
        return doc.strip().split("\n")[0] if doc else None
    return None


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to fit `limit` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(" ,.:;") + "..."


def broken_command(name: str, reason: str) -> click.Command:
    """A stand-in for a command that cannot be used: invoking it reports why and exits 1."""

    def fail(**_: Any) -> NoReturn:
        raise click.ClickException(f"command {name!r} is broken: {reason}")

    return click.Command(
        name,
        callback=fail,
        help=f"BROKEN: {reason}",
        short_help=f"BROKEN: {reason}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(
    cls=LazyCommandGroup,
    name="murmur",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    None,
    "-V",
    "--version",
    package_name=KERNEL_DISTRIBUTION,
    prog_name="murmur",
    message="%(package)s %(version)s",
)
def cli() -> None:
    """murmur: run, distribute and coordinate LLM agents.

    Plugins add commands; `murmur plugins list` shows what is installed.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `murmur` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="murmur")
