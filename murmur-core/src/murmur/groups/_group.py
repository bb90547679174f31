"""`AgentGroup`: a validated DAG of agents joined by typed edges."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel, RootModel

from murmur.agent import Agent
from murmur.core.errors import TopologyError
from murmur.groups._edge import Edge, _as_refs, _ref_name, fanout_field

__all__ = ["AgentGroup"]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


class AgentGroup:
    """A typed DAG of agents, run with `runtime.run_group(group, TaskSpec(...))`.

    Two construction forms build the same group. The **topology form is canonical** (each
    node's outgoing edges sit next to it, and agents are referenced as objects, so a typo
    is a Python error rather than a dangling name):

    ```python
    crew = AgentGroup(
        name="research",
        topology={
            researcher: Edge(to=(reviewer,)),
            reviewer: Edge(to=(summariser,)),
            summariser: Edge.terminal(),
        },
    )
    ```

    The README form names agents and lists `(source, target)` edges:

    ```python
    crew = AgentGroup(
        name="research",
        agents={"researcher": researcher, "reviewer": reviewer, "summariser": summariser},
        edges=[Edge("researcher", "reviewer"), Edge("reviewer", "summariser")],
    )
    ```

    Construction validates the graph: a cycle, a reference to an agent the group does
    not contain, or an edge whose upstream output cannot feed the downstream
    `input_type` raises `TopologyError` naming the agents involved.

    Args:
        name: the group's name (events and the run tree show it).
        agents: the nodes, as `{name: agent}` or a list of agents.
        edges: `Edge(source, target, ...)` links between node names or agents.
        topology: `{agent: Edge(to=...) | Edge.terminal() | [Edge, ...]}`; its agents are
            nodes too, so `agents=` may be omitted.
        description: free text for humans and YAML.
    """

    def __init__(
        self,
        name: str,
        agents: Mapping[str, Agent[Any]] | Iterable[Agent[Any]] | None = None,
        edges: Iterable[Edge] = (),
        *,
        topology: Mapping[Agent[Any] | str, Edge | Iterable[Edge]] | None = None,
        description: str = "",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise TopologyError("AgentGroup needs a non-empty name")
        self.name = name
        self.description = description
        self.agents: dict[str, Agent[Any]] = {}
        for key, agent in _agent_items(agents):
            self._add_agent(agent, key)
        raw: list[tuple[Any, Edge]] = []
        for edge in edges:
            if not isinstance(edge, Edge):
                raise TopologyError(f"group {name!r}: edges= takes Edge objects, got {edge!r}")
            if edge.source is None and not edge.is_terminal:
                raise TopologyError(
                    f"group {name!r}: {edge!r} in edges= has no source; write "
                    "Edge('source', 'target') or use topology={source: Edge(to=...)}"
                )
            if edge.source is not None:
                raw.append((edge.source, edge))
        for key, value in (topology or {}).items():
            for edge in (value,) if isinstance(value, Edge) else tuple(value):
                if not isinstance(edge, Edge):
                    raise TopologyError(f"group {name!r}: topology values are Edges, got {edge!r}")
                if edge.source is not None and edge.source_name != _ref_name(key):
                    raise TopologyError(
                        f"group {name!r}: topology key {_ref_name(key)!r} holds {edge!r} whose "
                        "source is another agent; omit source= in the topology form"
                    )
                raw.append((key, edge))
            if not isinstance(key, str):
                self._add_agent(key)
        for source, edge in raw:
            for ref in (source, *edge.to):
                if not isinstance(ref, str):
                    self._add_agent(ref)
        if not self.agents:
            raise TopologyError(f"group {name!r} has no agents")
        self.edges: tuple[Edge, ...] = self._normalise(raw)
        self._inbound: dict[str, list[Edge]] = {n: [] for n in self.agents}
        self._outbound: dict[str, list[Edge]] = {n: [] for n in self.agents}
        for edge in self.edges:
            self._outbound[edge.source_name or ""].append(edge)
            self._inbound[edge.target_names[0]].append(edge)
        self.order: tuple[str, ...] = self._topological_order()
        self._check_types()

    # -- construction -------------------------------------------------------------------

    def _add_agent(self, agent: Any, key: str | None = None) -> None:
        if not isinstance(agent, Agent):
            raise TopologyError(f"group {self.name!r}: {agent!r} is not an Agent")
        if key is not None and key != agent.name:
            raise TopologyError(
                f"group {self.name!r}: agents key {key!r} holds the agent named "
                f"{agent.name!r}; use the agent's name as its key"
            )
        existing = self.agents.get(agent.name)
        if existing is not None and existing is not agent and existing != agent:
            raise TopologyError(
                f"group {self.name!r}: two different agents are named {agent.name!r}; "
                "give each node a unique name"
            )
        self.agents.setdefault(agent.name, agent)

    def _normalise(self, raw: list[tuple[Any, Edge]]) -> tuple[Edge, ...]:
        out: list[Edge] = []
        seen: set[tuple[str, str]] = set()
        known = ", ".join(self.agents)
        for source, edge in raw:
            source_name = _ref_name(source)
            for target in edge.to:
                target_name = _ref_name(target)
                for ref in (source_name, target_name):
                    if ref not in self.agents:
                        raise TopologyError(
                            f"group {self.name!r}: edge {source_name!r} -> {target_name!r} "
                            f"references {ref!r}, which is not an agent of the group "
                            f"(agents: {known})",
                            details={"source": source_name, "target": target_name},
                        )
                if (source_name, target_name) in seen:
                    raise TopologyError(
                        f"group {self.name!r}: two edges link {source_name!r} -> "
                        f"{target_name!r}; merge them into one Edge"
                    )
                seen.add((source_name, target_name))
                out.append(
                    Edge(
                        source_name,
                        target_name,
                        mapper=edge.mapper,
                        condition=edge.condition,
                        max_concurrency=edge.max_concurrency,
                    )
                )
        return tuple(out)

    def _topological_order(self) -> tuple[str, ...]:
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        order: list[str] = []

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            path.append(node)
            for edge in self._outbound[node]:
                nxt = edge.target_names[0]
                if state.get(nxt) == 1:
                    cycle = [*path[path.index(nxt) :], nxt]
                    raise TopologyError(
                        f"group {self.name!r} has a cycle: {' -> '.join(cycle)}; "
                        "a group is a DAG (loop inside one agent, or spawn instead)",
                        details={"cycle": cycle},
                    )
                if nxt not in state:
                    visit(nxt, path)
            path.pop()
            state[node] = 2
            order.append(node)

        for node in self.agents:
            if node not in state:
                visit(node, [])
        return tuple(reversed(order))

    # -- typing across edges ------------------------------------------------------------

    def fans_out(self, node: str) -> bool:
        """True when `node` statically runs once per item of an upstream `FanOut` field."""
        inbound = self._inbound[node]
        if len(inbound) != 1 or inbound[0].mapper is not None:
            return False
        source = self.agents[inbound[0].source_name or ""]
        return fanout_field(source.output_type) is not None

    def _check_types(self) -> None:
        for node in self.order:
            inbound = self._inbound[node]
            input_type = self.agents[node].input_type
            if len(inbound) > 1:
                self._check_join(node, inbound, input_type)
                continue
            if not inbound or inbound[0].mapper is not None:
                continue
            edge = inbound[0]
            source = edge.source_name or ""
            out_type = self.agents[source].output_type
            problem: str | None
            if self.fans_out(source):
                problem = _check_fan_in(source, out_type, node, input_type)
            else:
                field = fanout_field(out_type)
                value_type = field[1] if field else out_type
                what = f"items of {_type_name(out_type)}.{field[0]}" if field else None
                problem = _check_value(source, value_type, node, input_type, what)
            if problem is not None:
                raise TopologyError(
                    f"group {self.name!r}: incompatible types on edge {source!r} -> "
                    f"{node!r}: {problem}; add an Edge mapper or change the types",
                    details={"source": source, "target": node},
                )

    def _check_join(self, node: str, inbound: list[Edge], input_type: Any) -> None:
        sources = [e.source_name or "" for e in inbound]
        for edge in inbound:
            if edge.mapper is None and fanout_field(
                self.agents[edge.source_name or ""].output_type
            ):
                raise TopologyError(
                    f"group {self.name!r}: {node!r} joins {', '.join(sources)} but "
                    f"{edge.source_name!r} fans out into it; a fan-out target has one upstream",
                    details={"node": node, "sources": sources},
                )
        if isinstance(input_type, type) and issubclass(input_type, BaseModel):
            required = {n for n, f in input_type.model_fields.items() if f.is_required()}
            missing = sorted(required - set(sources))
            if missing:
                raise TopologyError(
                    f"group {self.name!r}: incompatible types into join node {node!r}: it "
                    f"receives {{upstream name: output}} from {', '.join(sources)}, but its "
                    f"input_type {input_type.__name__} requires {missing}",
                    details={"node": node, "sources": sources},
                )

    # -- shape --------------------------------------------------------------------------

    def inbound(self, node: str) -> tuple[Edge, ...]:
        """Edges into `node`."""
        return tuple(self._inbound[node])

    def outbound(self, node: str) -> tuple[Edge, ...]:
        """Edges out of `node`."""
        return tuple(self._outbound[node])

    @property
    def roots(self) -> tuple[str, ...]:
        """Nodes with no inbound edge: they receive the group's task input."""
        return tuple(n for n in self.order if not self._inbound[n])

    @property
    def terminals(self) -> tuple[str, ...]:
        """Nodes with no outbound edge: their outputs are the group's outputs."""
        return tuple(n for n in self.order if not self._outbound[n])

    # -- YAML ---------------------------------------------------------------------------

    def to_yaml(self) -> str:
        """This group as a YAML spec (agents by name; mappers/conditions as import paths)."""
        from murmur.registry._group import group_to_yaml

        return group_to_yaml(self)

    @classmethod
    def from_yaml(
        cls,
        source: str | os.PathLike[str],
        *,
        agents: Mapping[str, Agent[Any]] | None = None,
    ) -> AgentGroup:
        """Build a group from YAML text or a file; agent names resolve through `agents`."""
        from murmur.registry._group import group_from_yaml

        return group_from_yaml(source, agents=agents)

    # -- value semantics ----------------------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        edges = sorted(self.edges, key=lambda e: (e.source_name, e.target_names))
        return (self.name, self.agents, [e._key() for e in edges])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AgentGroup):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        edges = ", ".join(f"{e.source_name}->{e.target_names[0]}" for e in self.edges)
        return f"AgentGroup(name={self.name!r}, agents={list(self.agents)}, edges=[{edges}])"


def _agent_items(agents: Any) -> list[tuple[str | None, Any]]:
    if agents is None:
        return []
    if isinstance(agents, Mapping):
        return [(str(k), v) for k, v in agents.items()]
    return [(None, a) for a in _as_refs(agents)]


def _required_fields(model: type[BaseModel]) -> set[str]:
    return {n for n, f in model.model_fields.items() if f.is_required()}


def _check_value(
    source: str, value_type: Any, node: str, input_type: Any, what: str | None
) -> str | None:
    if not isinstance(input_type, type) or value_type is Any:
        return None
    described = what or f"{source} outputs {_type_name(value_type)}"
    if isinstance(value_type, type) and issubclass(value_type, input_type):
        return None
    if (
        isinstance(value_type, type)
        and issubclass(value_type, BaseModel)
        and issubclass(input_type, BaseModel)
    ):
        missing = sorted(_required_fields(input_type) - set(value_type.model_fields))
        if not missing:
            return None
        return (
            f"{described}, but {node}'s input_type {input_type.__name__} requires "
            f"{missing}, which {_type_name(value_type)} lacks"
        )
    return f"{described}, which cannot become {node}'s input_type {input_type.__name__}"


def _check_fan_in(source: str, out_type: Any, node: str, input_type: Any) -> str | None:
    if input_type is None:
        return None
    root = input_type.model_fields.get("root") if issubclass(input_type, RootModel) else None
    annotation = root.annotation if root is not None else None
    if annotation is None or get_origin(annotation) is not list:
        return (
            f"{node} receives the list of {source}'s outputs ({source} fans out), but its "
            f"input_type {input_type.__name__} is not a RootModel[list[...]]"
        )
    args = get_args(annotation)
    if not args or args[0] is Any:
        return None
    return _check_value(
        source,
        out_type,
        node,
        args[0],
        f"{node} receives a list of {source}'s {_type_name(out_type)} outputs",
    )
