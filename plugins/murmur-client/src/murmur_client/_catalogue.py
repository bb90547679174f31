"""Agents and groups described for the API: names, models, JSON schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from murmur.core.errors import RegistryError, SpawnError
from murmur_client._models import AgentInfo, GroupInfo

__all__ = ["agent_info", "check_input", "group_info", "resolve_group", "schema_of"]


def schema_of(tp: Any) -> dict[str, Any] | None:
    """The JSON schema of a type (None when it has none, e.g. no input_type)."""
    if tp is None:
        return None
    try:
        return TypeAdapter(tp).json_schema()
    except Exception:  # an exotic type: describe it as "anything" rather than fail a listing
        return {}


def agent_info(agent: Any) -> AgentInfo:
    """The wire description of an `Agent`."""
    return AgentInfo(
        name=agent.name,
        description=agent.description,
        model=agent.model_name,
        trust_level=agent.trust_level,
        tools=list(agent.tools),
        input_schema=schema_of(agent.input_type),
        output_schema=schema_of(agent.output_type) or {},
    )


def group_info(group: Any) -> GroupInfo:
    """The wire description of an `AgentGroup`."""
    agents: dict[str, Any] = dict(getattr(group, "agents", {}))
    roots = list(getattr(group, "roots", ()))
    terminals = list(getattr(group, "terminals", ()))
    input_schema = None
    if len(roots) == 1 and roots[0] in agents:
        input_schema = schema_of(agents[roots[0]].input_type)
    output_schema = None
    if len(terminals) == 1 and terminals[0] in agents:
        output_schema = schema_of(agents[terminals[0]].output_type)
    elif terminals:
        output_schema = {
            "type": "object",
            "properties": {
                t: schema_of(agents[t].output_type) or {} for t in terminals if t in agents
            },
        }
    return GroupInfo(
        name=group.name,
        description=getattr(group, "description", "") or "",
        agents=list(getattr(group, "order", agents)),
        entry=roots,
        terminal=terminals,
        input_schema=input_schema,
        output_schema=output_schema,
    )


def resolve_group(groups: Mapping[str, Any], name: str) -> Any:
    """A group by name.

    Raises:
        RegistryError: no such group.
    """
    try:
        return groups[name]
    except KeyError:
        known = ", ".join(sorted(groups)) or "none"
        raise RegistryError(
            f"no group named {name!r} is registered (registered: {known}); pass "
            "groups= to the client or server, or load a spec directory (--specs)",
            details={"group": name},
        ) from None


def check_input(agent: Any, value: Any, index: int | None = None) -> Any:
    """`value` validated as the agent's `input_type` (as is when it has none).

    Raises:
        SpawnError: code `input_invalid`, naming each bad field.
    """
    input_type = agent.input_type
    if input_type is None or isinstance(value, input_type):
        return value
    try:
        if isinstance(value, str):
            return input_type.model_validate_json(value)
        return input_type.model_validate(value)
    except ValidationError as exc:
        where = "input" if index is None else f"inputs[{index}]"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or where}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise SpawnError(
            f"{where} for agent {agent.name!r} does not match its input_type "
            f"{input_type.__name__}: {problems}",
            code="input_invalid",
            details={"errors": exc.errors(include_url=False, include_context=False)},
        ) from None
