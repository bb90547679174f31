"""The checkpoint hook of group runs: record finished nodes, skip them on resume.

A group run calls its checkpoint twice:

- `load(group_trace_id)` once, before any node runs: the nodes it returns are treated as
  already finished (their outputs feed the downstream edges; they are not run again);
- `save(group_trace_id, node)` after each node completes, with its typed outputs.

Resuming is running the same group with the same `TaskSpec` (same `trace_id`) and the
same checkpoint. `MemoryCheckpoint` keeps everything in this process. `StoreCheckpoint`
persists through a `RunStore` (`put_checkpoint(group_trace_id, "node:<name>", ...)`):
it stores each output's JSON form and re-validates it with the node agent's
`output_type` on load, so restored outputs are typed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from murmur.core.errors import MurmurError, SpawnError
from murmur.core.json import dump_value

if TYPE_CHECKING:
    from murmur.groups._group import AgentGroup
    from murmur.runs._base import RunStore

__all__ = ["GroupCheckpoint", "MemoryCheckpoint", "NodeCheckpoint", "StoreCheckpoint"]

_KEY_PREFIX = "node:"


@dataclass(frozen=True, slots=True)
class NodeCheckpoint:
    """A finished node: its successful outputs in item order.

    Attributes:
        node: the node (agent) name.
        outputs: typed outputs (instances of the agent's `output_type`), in item order.
        fanned_out: True when the node ran once per item (its downstream gets the list).
        error: set when the node's checkpoint exists but cannot be restored (for example
            `SpawnError(checkpoint_invalid)`): the node then fails with it on resume.
    """

    node: str
    outputs: tuple[Any, ...]
    fanned_out: bool = False
    error: MurmurError | None = None


@runtime_checkable
class GroupCheckpoint(Protocol):
    """Where a group run records finished nodes, and finds them again on resume."""

    async def load(self, group_trace_id: str) -> Mapping[str, NodeCheckpoint]:
        """Nodes already finished for this group run, by name (empty for a new run)."""
        ...

    async def save(self, group_trace_id: str, checkpoint: NodeCheckpoint) -> None:
        """Record one finished node."""
        ...


class MemoryCheckpoint:
    """An in-process `GroupCheckpoint` (a dict): resumes within one process only."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, NodeCheckpoint]] = {}

    async def load(self, group_trace_id: str) -> Mapping[str, NodeCheckpoint]:
        """Finished nodes of the group run."""
        return dict(self._runs.get(group_trace_id, {}))

    async def save(self, group_trace_id: str, checkpoint: NodeCheckpoint) -> None:
        """Record a finished node."""
        self._runs.setdefault(group_trace_id, {})[checkpoint.node] = checkpoint

    def forget(self, group_trace_id: str) -> None:
        """Drop everything recorded for a group run."""
        self._runs.pop(group_trace_id, None)


class StoreCheckpoint:
    """A `GroupCheckpoint` persisted in a `RunStore`, keyed `node:<name>` under the group run.

    ```python
    checkpoint = StoreCheckpoint(runtime.stores.runs, crew)
    result = await runtime.run_group(crew, task, checkpoint=checkpoint)
    # after a crash: the same task (same trace_id) skips the nodes that finished
    result = await runtime.run_group(crew, task, checkpoint=checkpoint)
    ```

    Args:
        store: where checkpoints are kept (the group's run record is written there too
            when it is the runtime's store).
        group: the group whose agents' output types re-validate restored outputs.
    """

    def __init__(self, store: RunStore, group: AgentGroup) -> None:
        self.store = store
        self.group = group

    async def load(self, group_trace_id: str) -> Mapping[str, NodeCheckpoint]:
        """Finished nodes, with outputs validated back into their output types.

        A node whose checkpoint no longer validates comes back with `error` set.
        """
        saved = await self.store.checkpoints(group_trace_id)
        out: dict[str, NodeCheckpoint] = {}
        for key, value in saved.items():
            name = key.removeprefix(_KEY_PREFIX)
            agent = self.group.agents.get(name)
            if not key.startswith(_KEY_PREFIX) or agent is None or not isinstance(value, dict):
                continue
            output_type = agent.output_type
            try:
                outputs = tuple(
                    output_type.model_validate(v)
                    if isinstance(output_type, type) and issubclass(output_type, BaseModel)
                    else v
                    for v in value.get("outputs", [])
                )
            except ValueError as exc:  # this node fails on resume; the others restore
                error = SpawnError(
                    f"checkpoint of node {name!r} no longer matches its output_type "
                    f"({exc}); run the group again under a new trace id, or restore the "
                    "agent's previous output_type",
                    code="checkpoint_invalid",
                    details={"node": name},
                )
                out[name] = NodeCheckpoint(name, (), error=error)
                continue
            out[name] = NodeCheckpoint(name, outputs, bool(value.get("fanned_out")))
        return out

    async def save(self, group_trace_id: str, checkpoint: NodeCheckpoint) -> None:
        """Store the node's outputs in their JSON form."""
        await self.store.put_checkpoint(
            group_trace_id,
            f"{_KEY_PREFIX}{checkpoint.node}",
            {
                "outputs": [dump_value(o) for o in checkpoint.outputs],
                "fanned_out": checkpoint.fanned_out,
            },
        )
