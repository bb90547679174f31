"""`GroupResult` and `NodeResult`: what a group run produced, node by node."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from murmur.agent import Agent
from murmur.core.errors import MurmurError, SpawnError, TopologyError
from murmur.types import AgentResult

__all__ = ["GroupResult", "NodeResult", "NodeStatus"]

OutputT = TypeVar("OutputT")


class NodeStatus(StrEnum):
    """What happened to one node of a group run."""

    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(slots=True)
class NodeResult:
    """The runs of one group node.

    Attributes:
        name: the node (agent) name.
        status: completed, failed, or skipped (an upstream failed, or no edge delivered).
        results: every run of the node, in item order (one for a plain node).
        fanned_out: True when the node ran once per item of an upstream list.
        error: why the node failed (`AllAgentsFailedError` when every fan-out run failed).
        reason: why the node was skipped.
        restored: True when the outputs came from a checkpoint instead of new runs.
    """

    name: str
    status: NodeStatus
    results: list[AgentResult[Any]] = field(default_factory=list)
    fanned_out: bool = False
    error: MurmurError | None = None
    reason: str | None = None
    restored: bool = False
    restored_outputs: tuple[Any, ...] = ()

    @property
    def outputs(self) -> list[Any]:
        """The successful outputs, in item order."""
        if self.restored:
            return list(self.restored_outputs)
        return [r.value for r in self.results if r.is_ok()]

    @property
    def output(self) -> Any:
        """The node's output: one value, or the list of outputs for a fan-out node.

        Raises:
            MurmurError: the node failed (its error) or was skipped (`SpawnError`).
        """
        if self.error is not None:
            raise self.error
        if self.status is NodeStatus.SKIPPED:
            raise SpawnError(
                f"node {self.name!r} was skipped ({self.reason}); it has no output",
                code="skipped",
            )
        outputs = self.outputs
        if self.fanned_out:
            return outputs
        return outputs[0] if outputs else None

    @property
    def result(self) -> AgentResult[Any]:
        """The single run of a plain node.

        Raises:
            SpawnError: the node fanned out (use `results`) or never ran.
        """
        if self.fanned_out or len(self.results) != 1:
            raise SpawnError(
                f"node {self.name!r} has {len(self.results)} runs; use .results",
                code="not_single_run",
            )
        return self.results[0]

    @property
    def failures(self) -> list[AgentResult[Any]]:
        """The runs that failed (a fan-out node can complete with some failures)."""
        return [r for r in self.results if not r.is_ok()]

    def is_ok(self) -> bool:
        """True when the node completed."""
        return self.status is NodeStatus.COMPLETED


@dataclass(slots=True)
class GroupResult:
    """The outcome of `runtime.run_group`: terminal outputs and every node's runs.

    ```python
    result = await runtime.run_group(crew, TaskSpec(input="What is NATS?"))
    if result.is_ok():
        summary = result.output_of(summariser)    # typed as summariser's output_type
    print(result.nodes["researcher"].result.metadata.total_tokens)
    ```

    Like `runtime.run`, a group run never raises for a failed node: the first failure
    is `error`, and `output` re-raises it.
    """

    group_name: str
    trace_id: str
    task_id: str
    nodes: dict[str, NodeResult]
    terminals: tuple[str, ...]
    error: MurmurError | None = None
    duration_ms: float = 0.0
    parent_trace_id: str | None = None

    def is_ok(self) -> bool:
        """True when every node completed or was skipped by a condition."""
        return self.error is None

    @property
    def failed_nodes(self) -> list[str]:
        """Names of the nodes that failed."""
        return [n for n, r in self.nodes.items() if r.status is NodeStatus.FAILED]

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs of the terminal nodes that completed, by name."""
        return {
            name: self.nodes[name].output
            for name in self.terminals
            if self.nodes[name].status is NodeStatus.COMPLETED
        }

    @property
    def output(self) -> Any:
        """The output of the group's only terminal node.

        Raises:
            MurmurError: the group failed (its error), the terminal was skipped, or the
                group has several terminals (`TopologyError`: use `outputs`).
        """
        if self.error is not None:
            raise self.error
        if len(self.terminals) != 1:
            raise TopologyError(
                f"group {self.group_name!r} has {len(self.terminals)} terminal nodes "
                f"({', '.join(self.terminals)}); use result.outputs[name] or result.output_of()"
            )
        return self.nodes[self.terminals[0]].output

    def output_of(self, agent: Agent[OutputT] | str) -> OutputT:
        """The typed output of one node (a plain node; use `outputs_of` after a fan-out)."""
        node = self._node(agent)
        if node.fanned_out:
            raise SpawnError(
                f"node {node.name!r} fanned out; use result.outputs_of({node.name!r})",
                code="fanned_out",
            )
        return node.output

    def outputs_of(self, agent: Agent[OutputT] | str) -> list[OutputT]:
        """The successful outputs of one node, in item order."""
        return self._node(agent).outputs

    def _node(self, agent: Agent[Any] | str) -> NodeResult:
        name = agent if isinstance(agent, str) else agent.name
        try:
            return self.nodes[name]
        except KeyError:
            raise SpawnError(
                f"group {self.group_name!r} has no node {name!r} (nodes: {', '.join(self.nodes)})",
                code="unknown_node",
            ) from None

    @property
    def total_tokens(self) -> int:
        """Tokens spent by every run of the group."""
        return sum(r.metadata.total_tokens for n in self.nodes.values() for r in n.results)
