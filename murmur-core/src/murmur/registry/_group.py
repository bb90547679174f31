"""`AgentGroup` <-> YAML: agents by name, edges with optional mapper / condition paths.

```yaml
version: 1
kind: group
name: research-crew
agents: [researcher, fact_checker, summariser]   # optional: edges name them too
edges:
  - from: researcher
    to: fact_checker
  - from: fact_checker
    to: [summariser]
    condition: my_pkg.flow.is_confident          # importable callables
    mapper: my_pkg.flow.to_summary_task
    max_concurrency: 5
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from murmur.agent import Agent
from murmur.core.errors import MurmurError, SpecValidationError
from murmur.groups._edge import Edge
from murmur.groups._group import AgentGroup
from murmur.registry._paths import import_object, object_path
from murmur.registry._yaml import (
    SPEC_VERSION,
    check_fields,
    check_version,
    dump_yaml,
    invalid_spec,
    parse_yaml,
    read_source,
    show,
    with_origin,
)

__all__ = ["GROUP_FIELDS", "group_from_dict", "group_from_yaml", "group_to_dict", "group_to_yaml"]

GROUP_FIELDS = ("version", "kind", "name", "description", "agents", "edges")
EDGE_FIELDS = ("from", "to", "mapper", "condition", "max_concurrency")


def _names(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecValidationError(
            f"{field} must be an agent name or a list of names, got {show(value)}"
        )
    return value


def _edge(raw: Any, index: int) -> tuple[str, list[str], dict[str, Any]]:
    where = f"edges[{index}]"
    if not isinstance(raw, dict):
        raise SpecValidationError(f"{where} must be a mapping with from: and to:, got {show(raw)}")
    check_fields(raw, EDGE_FIELDS, f"{where} edge")
    if "from" not in raw or "to" not in raw:
        raise SpecValidationError(f"{where} needs both from: and to:")
    source = _names(raw["from"], f"{where}.from")
    if len(source) != 1:
        raise SpecValidationError(f"{where}.from names one agent, got {show(raw['from'])}")
    options: dict[str, Any] = {}
    for field in ("mapper", "condition"):
        if raw.get(field) is not None:
            fn = import_object(raw[field], field=f"{where}.{field}")
            if not callable(fn):
                raise SpecValidationError(f"{where}.{field} {show(raw[field])} is not callable")
            options[field] = fn
    if raw.get("max_concurrency") is not None:
        limit = raw["max_concurrency"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise SpecValidationError(f"{where}.max_concurrency must be an integer >= 1")
        options["max_concurrency"] = limit
    return source[0], _names(raw["to"], f"{where}.to"), options


def group_from_dict(
    doc: Mapping[str, Any], *, agents: Mapping[str, Agent[Any]] | None = None
) -> AgentGroup:
    """Build an `AgentGroup` from a parsed group spec; names resolve through `agents`.

    Raises:
        SpecValidationError: invalid fields or an agent name `agents` does not hold.
        TopologyError: a cycle, or incompatible types across an edge.
    """
    try:
        return _group_from_dict(doc, agents)
    except MurmurError:
        raise
    except Exception as exc:  # AgentGroup's own validation, or a value of an odd type
        raise invalid_spec("group", exc) from None


def _group_from_dict(doc: Mapping[str, Any], agents: Mapping[str, Agent[Any]] | None) -> AgentGroup:
    check_fields(doc, GROUP_FIELDS, "group")
    check_version(doc)
    if doc.get("kind") != "group":
        raise SpecValidationError("a group spec has kind: group")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SpecValidationError("a group spec needs a name")
    edges = doc.get("edges") or []
    if not isinstance(edges, list):
        raise SpecValidationError("edges must be a list of {from:, to:} mappings")
    parsed = [_edge(raw, i) for i, raw in enumerate(edges)]
    names = _names(doc["agents"], "agents") if doc.get("agents") is not None else []
    for source, targets, _ in parsed:
        names.extend(n for n in (source, *targets) if n not in names)
    available = dict(agents or {})
    missing = [n for n in names if n not in available]
    if missing:
        raise SpecValidationError(
            f"group {show(name)} references agent{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(show, missing[:10]))}{' ...' if len(missing) > 10 else ''}, "
            "not defined in the spec directory or registered "
            "(add a spec file per agent, or register it before loading)",
            details={"missing": missing[:100]},
        )
    description = doc.get("description") or ""
    return AgentGroup(
        name=name,
        agents={n: available[n] for n in names},
        edges=[Edge(source, targets, **options) for source, targets, options in parsed],
        description=str(description),
    )


def group_from_yaml(
    source: str | os.PathLike[str], *, agents: Mapping[str, Agent[Any]] | None = None
) -> AgentGroup:
    """Build an `AgentGroup` from YAML text or a file (agents resolved by name)."""
    text, origin = read_source(source)
    try:
        return group_from_dict(parse_yaml(text), agents=agents)
    except MurmurError as exc:
        raise with_origin(exc, origin) from None


def group_to_dict(group: AgentGroup) -> dict[str, Any]:
    """The spec mapping of `group` (its agents are written separately, by name)."""
    owner = f"group {group.name!r}"
    doc: dict[str, Any] = {"version": SPEC_VERSION, "kind": "group", "name": group.name}
    if group.description:
        doc["description"] = group.description
    doc["agents"] = list(group.agents)
    edges = []
    for edge in group.edges:
        entry: dict[str, Any] = {"from": edge.source_name, "to": edge.target_names[0]}
        if edge.mapper is not None:
            entry["mapper"] = object_path(edge.mapper, field="mapper", owner=owner)
        if edge.condition is not None:
            entry["condition"] = object_path(edge.condition, field="condition", owner=owner)
        if edge.max_concurrency is not None:
            entry["max_concurrency"] = edge.max_concurrency
        edges.append(entry)
    doc["edges"] = edges
    return doc


def group_to_yaml(group: AgentGroup) -> str:
    """`group` as a YAML spec; write each agent with `agent.to_yaml()` next to it."""
    return dump_yaml(group_to_dict(group))
