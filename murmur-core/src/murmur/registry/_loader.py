"""A directory of YAML specs -> a `Registry` of agents and groups, with per-file problems."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from murmur.agent import Agent
from murmur.core.errors import MurmurError, RegistryError, SpecValidationError
from murmur.groups._group import AgentGroup
from murmur.registry._agent import agent_from_dict
from murmur.registry._group import group_from_dict
from murmur.registry._yaml import parse_yaml, read_spec_file

__all__ = ["Registry", "SpecProblem", "load_specs", "spec_files", "validate_specs"]

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One invalid spec file and what is wrong with it."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


class Registry:
    """Agents and groups loaded from specs, by name, with the file each came from.

    ```python
    registry = load_specs("specs/")
    runtime.register_all(registry)          # or: runtime.load_specs("specs/")
    await runtime.run("researcher", TaskSpec(input="..."))
    ```
    """

    def __init__(self) -> None:
        self.agents: dict[str, Agent[Any]] = {}
        self.groups: dict[str, AgentGroup] = {}
        self.sources: dict[str, str] = {}

    def add_agent(self, agent: Agent[Any], source: str | None = None) -> None:
        """Add an agent.

        Raises:
            RegistryError: an agent or group of that name is already loaded.
        """
        self._claim(agent.name, source)
        self.agents[agent.name] = agent

    def add_group(self, group: AgentGroup, source: str | None = None) -> None:
        """Add a group (same naming rule as `add_agent`)."""
        self._claim(group.name, source)
        self.groups[group.name] = group

    def register_agent(self, agent: Agent[Any], *, replace: bool = False) -> Agent[Any]:
        """Register `agent` under its name (a runtime's registry).

        The same agent again is a no-op.

        Raises:
            RegistryError: another agent has that name and `replace` is False.
        """
        existing = self.agents.get(agent.name)
        if existing is not None and existing is not agent and not replace:
            raise RegistryError(
                f"an agent named {agent.name!r} is already registered; pass replace=True"
            )
        self.agents[agent.name] = agent
        return agent

    def register_group(self, group: AgentGroup, *, replace: bool = False) -> AgentGroup:
        """Register `group` under its name (same rule as `register_agent`)."""
        existing = self.groups.get(group.name)
        if existing is not None and existing is not group and not replace:
            raise RegistryError(
                f"a group named {group.name!r} is already registered; pass replace=True"
            )
        self.groups[group.name] = group
        return group

    def _claim(self, name: str, source: str | None) -> None:
        if name in self.agents or name in self.groups:
            where = self.sources.get(name, "elsewhere")
            raise RegistryError(f"the name {name!r} is already defined in {where}")
        if source is not None:
            self.sources[name] = source

    def agent(self, name: str) -> Agent[Any]:
        """A registered or loaded agent by name.

        Raises:
            RegistryError: no agent has that name (the message lists those that do).
        """
        try:
            return self.agents[name]
        except KeyError:
            known = ", ".join(sorted(self.agents)) or "none"
            raise RegistryError(
                f"no agent named {name!r} is registered (registered: {known}); call "
                "runtime.register(agent) or load a YAML spec directory (runtime.load_specs)"
            ) from None

    def group(self, name: str) -> AgentGroup:
        """A registered or loaded group by name.

        Raises:
            RegistryError: no group has that name (the message lists those that do).
        """
        try:
            return self.groups[name]
        except KeyError:
            known = ", ".join(sorted(self.groups)) or "none"
            raise RegistryError(
                f"no group named {name!r} is loaded (loaded: {known}); pass an AgentGroup, or "
                "call runtime.register_group(group) or runtime.load_specs(path) first"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.agents or name in self.groups

    def __iter__(self) -> Iterator[str]:
        return iter([*self.agents, *self.groups])

    def __len__(self) -> int:
        return len(self.agents) + len(self.groups)

    def __repr__(self) -> str:
        return f"Registry(agents={sorted(self.agents)}, groups={sorted(self.groups)})"


def spec_files(path: str | os.PathLike[str]) -> list[Path]:
    """The `.yaml` / `.yml` files at `path` (a file, or a directory searched recursively)."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SpecValidationError(f"{root}: no such file or directory")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in SPEC_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def validate_specs(
    path: str | os.PathLike[str], *, agents: Mapping[str, Agent[Any]] | None = None
) -> tuple[Registry, list[SpecProblem]]:
    """Load every spec under `path`; return what loaded and one problem per bad file.

    Agents load first, then groups (which name agents from the directory or `agents`).
    Never raises for a bad file.
    """
    registry = Registry()
    problems: list[SpecProblem] = []
    docs: list[tuple[str, dict[str, Any]]] = []
    for file in spec_files(path):
        label = str(file)
        try:
            docs.append((label, parse_yaml(read_spec_file(file))))
        except MurmurError as exc:
            problems.append(SpecProblem(label, exc.message.removeprefix(f"{label}: ")))
    for label, doc in docs:
        if doc.get("kind") == "group":
            continue
        _load_one(problems, label, lambda d=doc, f=label: registry.add_agent(agent_from_dict(d), f))
    known = {**(agents or {}), **registry.agents}
    for label, doc in docs:
        if doc.get("kind") != "group":
            continue
        _load_one(
            problems,
            label,
            lambda d=doc, f=label: registry.add_group(group_from_dict(d, agents=known), f),
        )
    problems.sort(key=lambda p: p.file)
    return registry, problems


def _load_one(problems: list[SpecProblem], label: str, load: Any) -> None:
    try:
        load()
    except MurmurError as exc:
        problems.append(SpecProblem(label, exc.message))
    except Exception as exc:  # a user module misbehaving on import: still one line
        problems.append(SpecProblem(label, f"{type(exc).__name__}: {exc}"))


def load_specs(
    path: str | os.PathLike[str], *, agents: Mapping[str, Agent[Any]] | None = None
) -> Registry:
    """Load a spec directory (or one file) into a `Registry`.

    Args:
        path: a directory (searched recursively for `.yaml` / `.yml`) or a spec file.
        agents: agents defined elsewhere (e.g. in Python) that group specs may name.

    Raises:
        SpecValidationError: any spec is invalid; the message has one line per bad file.
    """
    registry, problems = validate_specs(path, agents=agents)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise SpecValidationError(
            f"{len(problems)} invalid spec file{'s' if len(problems) > 1 else ''} "
            f"under {path}:\n{lines}",
            details={"problems": [{"file": p.file, "message": p.message} for p in problems]},
        )
    return registry
