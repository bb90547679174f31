"""`Agent` <-> YAML: the spec form of the Agents page, round-tripping with the Python form."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from murmur.agent import Agent
from murmur.context_passer import FullContextPasser, NullContextPasser
from murmur.core.errors import MurmurError, SpecValidationError
from murmur.plugins._discovery import PluginIndex
from murmur.plugins.host import PluginHost
from murmur.registry._paths import import_model, import_object, object_path
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
from murmur.types import TrustLevel

__all__ = ["AGENT_FIELDS", "agent_from_dict", "agent_from_yaml", "agent_to_dict", "agent_to_yaml"]

AGENT_FIELDS = (
    "version",
    "kind",
    "name",
    "description",
    "model",
    "trust_level",
    "context_passer",
    "instructions",
    "output_type",
    "input_type",
    "tools",
    "mcp_servers",
    "fallback_models",
    "max_concurrent_requests",
    "model_settings",
    "pre_process",
    "post_process",
)
"""Every field an agent spec may have, in the order `to_yaml` writes them."""

_MODEL_SETTINGS = {
    name: "model_settings"
    for name in (
        "temperature",
        "max_tokens",
        "top_p",
        "seed",
        "timeout",
        "presence_penalty",
        "frequency_penalty",
        "stop_sequences",
        "parallel_tool_calls",
    )
}

# Stateless passers become instances (so the default agent round-trips exactly); the
# others stay names, resolved once per runtime (through the plugin host: they run agents,
# a layer above this one) so their caches are shared.
_PASSER_INSTANCES = {"null": NullContextPasser, "full": FullContextPasser}
_PASSER_NAMES = frozenset({"summary", "selective"})


@functools.cache
def _installed_passers() -> frozenset[str]:

    try:
        return frozenset(PluginIndex.scan().names("murmur.context_passers"))
    except Exception:  # metadata unreadable: do not block loading on it
        return frozenset()


def _expect(value: Any, kind: type | tuple[type, ...], field: str, shape: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SpecValidationError(f"field {field!r} must be {shape}, got {show(value)}")
    return value


def _str_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    items = _expect(value, list, field, "a list of strings")
    for item in items:
        _expect(item, str, field, "a list of strings")
    return items


def _context_passer(value: Any) -> Any:
    if value is None:
        return NullContextPasser()
    name = _expect(value, str, "context_passer", 'a passer name such as "null" or "full"')
    if name in _PASSER_INSTANCES:
        return _PASSER_INSTANCES[name]()
    if name in _PASSER_NAMES or name in _installed_passers():
        return name
    known = sorted({*_PASSER_INSTANCES, *_PASSER_NAMES, *_installed_passers()})
    raise SpecValidationError(
        f"unknown context_passer {show(name)}; installed passers: {', '.join(known)}"
    )


def agent_from_dict(doc: Mapping[str, Any]) -> Agent[Any]:
    """Build an `Agent` from a parsed spec mapping.

    Raises:
        SpecValidationError: an unknown field, a wrong type, a class path that does not
            import or is not a `BaseModel`, an unknown trust level or context passer, or a
            value `Agent` refuses.
    """
    try:
        return _agent_from_dict(doc)
    except MurmurError:
        raise
    except Exception as exc:  # Agent's own validation, or a value of a type nobody expected
        raise invalid_spec("agent", exc) from None


def _agent_from_dict(doc: Mapping[str, Any]) -> Agent[Any]:
    check_fields(doc, AGENT_FIELDS, "agent", nested=_MODEL_SETTINGS)
    check_version(doc)
    kind = doc.get("kind", "agent")
    if kind != "agent":
        raise SpecValidationError(
            f"this spec is kind: {show(kind)}, not an agent; load it with AgentGroup.from_yaml "
            "or a spec directory"
        )
    if "name" not in doc:
        raise SpecValidationError("an agent spec needs a name")
    values: dict[str, Any] = {"name": _expect(doc["name"], str, "name", "a string")}
    for field in ("description", "instructions", "model"):
        if doc.get(field) is not None:
            values[field] = _expect(doc[field], str, field, "a string")
    if doc.get("trust_level") is not None:
        level = _expect(doc["trust_level"], str, "trust_level", "a trust level name")
        try:
            values["trust_level"] = TrustLevel(level.lower())
        except ValueError:
            allowed = ", ".join(t.value for t in TrustLevel)
            raise SpecValidationError(
                f"unknown trust_level {show(level)}; use one of: {allowed}"
            ) from None
    if "context_passer" in doc:
        values["context_passer"] = _context_passer(doc["context_passer"])
    if doc.get("output_type") is not None:
        values["output_type"] = import_model(
            doc["output_type"], field="output_type", allow_str=True
        )
    if doc.get("input_type") is not None:
        values["input_type"] = import_model(doc["input_type"], field="input_type")
    for field in ("tools", "fallback_models"):
        if doc.get(field) is not None:
            values[field] = tuple(_str_list(doc[field], field))
    if doc.get("mcp_servers") is not None:
        values["mcp_servers"] = _mcp_servers(doc["mcp_servers"])
    if doc.get("max_concurrent_requests") is not None:
        values["max_concurrent_requests"] = _expect(
            doc["max_concurrent_requests"], int, "max_concurrent_requests", "an integer >= 1"
        )
    if doc.get("model_settings") is not None:
        values["model_settings"] = dict(
            _expect(doc["model_settings"], dict, "model_settings", "a mapping")
        )
    for field in ("pre_process", "post_process"):
        if doc.get(field) is not None:
            hooks = [import_object(p, field=field) for p in _str_list(doc[field], field)]
            for path, hook in zip(doc[field], hooks, strict=False):
                if not callable(hook):
                    raise SpecValidationError(f"{field} entry {show(path)} is not callable")
            values[field] = tuple(hooks)
    return Agent(**values)


def _mcp_servers(value: Any) -> tuple[Any, ...]:
    """Tool providers from `mcp_servers:` entries (mappings; `kind` defaults to `mcp`)."""
    entries = _expect(value, list, "mcp_servers", "a list of server mappings")
    host = PluginHost()
    servers = []
    for entry in entries:
        spec = dict(_expect(entry, dict, "mcp_servers", "a list of server mappings"))
        spec.setdefault("kind", "mcp")
        servers.append(host.resolve_tool_provider(spec))
    return tuple(servers)


def agent_from_yaml(source: str | os.PathLike[str]) -> Agent[Any]:
    """Build an `Agent` from YAML text or a spec file.

    Raises:
        SpecValidationError: the spec is invalid; the message names the file.
    """
    text, origin = read_source(source)
    try:
        return agent_from_dict(parse_yaml(text))
    except MurmurError as exc:
        raise with_origin(exc, origin) from None


def _passer_name(passer: Any, owner: str) -> str:
    if isinstance(passer, str):
        return passer
    name = getattr(passer, "name", None)
    if name in _PASSER_INSTANCES and passer == _PASSER_INSTANCES[name]():
        return str(name)
    if name in _PASSER_NAMES and passer == PluginHost().resolve_context_passer(name):
        return str(name)
    raise SpecValidationError(
        f"{owner} cannot be written as YAML: its context_passer {passer!r} has custom "
        "settings; YAML names a passer (null, full, summary, selective) with default settings"
    )


def agent_to_dict(agent: Agent[Any]) -> dict[str, Any]:
    """The spec mapping of `agent` (fields at their defaults are left out).

    Raises:
        SpecValidationError: a field has no YAML form (a model object, a toolset object in
            mcp_servers, builtin tools, a shared limiter, a lambda hook, a local output class).
    """
    owner = f"agent {agent.name!r}"
    if not isinstance(agent.model, str):
        raise SpecValidationError(
            f"{owner} cannot be written as YAML: its model is a {type(agent.model).__name__} "
            "object; use a model string such as 'openai:gpt-5.2'"
        )
    servers = [getattr(server, "to_spec", None) for server in agent.mcp_servers]
    if None in servers:
        raise SpecValidationError(
            f"{owner} cannot be written as YAML: mcp_servers holds a toolset object; build "
            "servers with murmur_mcp.mcp_stdio(), mcp_http() or mcp_sse(), which have a YAML form"
        )
    for field in ("builtin_tools", "model_concurrency_limiter"):
        if getattr(agent, field):
            raise SpecValidationError(
                f"{owner} cannot be written as YAML: {field} holds Python objects; configure "
                "it in Python after Agent.from_yaml(...).model_copy(update=...)"
            )
    doc: dict[str, Any] = {"version": SPEC_VERSION, "name": agent.name}
    if agent.description:
        doc["description"] = agent.description
    doc["model"] = agent.model
    doc["trust_level"] = agent.trust_level.value
    doc["context_passer"] = _passer_name(agent.context_passer, owner)
    doc["instructions"] = agent.instructions
    if agent.output_type is not str:
        doc["output_type"] = object_path(agent.output_type, field="output_type", owner=owner)
    if agent.input_type is not None:
        doc["input_type"] = object_path(agent.input_type, field="input_type", owner=owner)
    if agent.tools:
        doc["tools"] = list(agent.tools)
    if servers:
        doc["mcp_servers"] = [to_spec() for to_spec in servers if to_spec is not None]
    if agent.fallback_models:
        models = [m for m in agent.fallback_models if isinstance(m, str)]
        if len(models) != len(agent.fallback_models):
            raise SpecValidationError(
                f"{owner} cannot be written as YAML: fallback_models holds model objects"
            )
        doc["fallback_models"] = models
    if agent.max_concurrent_requests is not None:
        doc["max_concurrent_requests"] = agent.max_concurrent_requests
    if agent.model_settings:
        doc["model_settings"] = dict(agent.model_settings)
    for field in ("pre_process", "post_process"):
        hooks = getattr(agent, field)
        if hooks:
            doc[field] = [object_path(h, field=field, owner=owner) for h in hooks]
    return doc


def agent_to_yaml(agent: Agent[Any]) -> str:
    """`agent` as a YAML spec that `agent_from_yaml` reads back into an equal agent."""
    doc = agent_to_dict(agent)
    try:
        return dump_yaml(doc)
    except Exception as exc:  # model_settings holding something YAML cannot represent
        raise SpecValidationError(
            f"agent {agent.name!r} cannot be written as YAML: {exc}"
        ) from None
