"""The wire models of the murmur HTTP API, shared by the server, `MurmurClient` and `LocalClient`.

Every request and response of the API is one of these pydantic models, so the OpenAPI
schema, the server's validation and the clients' parsing come from one definition.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator

from murmur.core.errors import MurmurError, error_from_dict
from murmur.runs import RunStatus
from murmur.types import TrustLevel
from murmur_client._json import MAX_JSON_DEPTH, json_problem

__all__ = [
    "RUN_ID_PATTERN",
    "AgentInfo",
    "BudgetInfo",
    "ErrorInfo",
    "ErrorResponse",
    "GroupInfo",
    "Health",
    "Readiness",
    "RunInfo",
    "RunKind",
    "RunPage",
    "RunProgress",
    "RunResult",
    "RunStatus",
    "RunTreeNode",
    "RuntimeStats",
    "StartGatherRequest",
    "StartGroupRequest",
    "StartRunRequest",
    "ToolStat",
    "ToolsReport",
    "UsageGroupBy",
    "UsageReport",
    "UsageRow",
    "WorkerInfo",
]

OutputT = TypeVar("OutputT")

RUN_ID_PATTERN = r"^[0-9a-f]{32}$"
"""A run id chosen by the caller: 32 lowercase hex digits (it is also the W3C trace id)."""

_MAX_NAME = 200
_MAX_GATHER = 10_000


class RunKind(StrEnum):
    """What a run executes: one agent, one agent over many inputs, or a group."""

    AGENT = "agent"
    GATHER = "gather"
    GROUP = "group"


class ErrorInfo(BaseModel):
    """A typed error: the `MurmurError` subclass name, its message, code and details."""

    type: str = Field(description="The error class, e.g. `RegistryError`.")
    message: str = Field(description="What went wrong and what to do about it.")
    code: str = Field(description="A short machine-readable code, e.g. `not_found`.")
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_error(cls, error: MurmurError) -> ErrorInfo:
        """The wire form of a `MurmurError`."""
        return cls.model_validate(error.to_dict())

    def to_error(self) -> MurmurError:
        """The `MurmurError` this describes (unknown types become `MurmurError`)."""
        return error_from_dict(self.model_dump())


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx response: `{"error": {"type", "message", "code"}}`."""

    error: ErrorInfo


class AgentInfo(BaseModel):
    """A registered agent and the JSON schemas of what it takes and returns."""

    name: str
    description: str = ""
    model: str
    trust_level: TrustLevel
    tools: list[str] = Field(default_factory=list)
    input_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of the input; null when any JSON is accepted."
    )
    output_schema: dict[str, Any] = Field(description="JSON schema of the output.")


class GroupInfo(BaseModel):
    """A registered agent group: its agents and the schemas of its entry and terminal nodes."""

    name: str
    description: str = ""
    agents: list[str] = Field(default_factory=list)
    entry: list[str] = Field(default_factory=list, description="Nodes that receive the input.")
    terminal: list[str] = Field(default_factory=list, description="Nodes whose output is returned.")
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None


_JSON_RULES = (
    f"JSON nested at most {MAX_JSON_DEPTH} levels, with finite numbers and Unicode text "
    "(no NaN / Infinity, no lone surrogates)."
)


class _StartBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("input", "inputs", "metadata", check_fields=False)
    @classmethod
    def _json_only(cls, value: Any, info: ValidationInfo) -> Any:
        problem = json_problem(value, str(info.field_name))
        if problem is not None:
            raise ValueError(problem)
        return value

    run_id: str | None = Field(
        default=None,
        pattern=RUN_ID_PATTERN,
        description="Optional id for the run (32 lowercase hex digits). Starting a run "
        "with an id that exists returns the existing run: the id is an idempotency key.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form annotations carried into events and stores. " + _JSON_RULES,
    )
    token_budget: int | None = Field(
        default=None, ge=1, le=10**12, description="A token ceiling for this run (and its spawns)."
    )


class StartRunRequest(_StartBase):
    """Start one agent on one input."""

    agent: str = Field(min_length=1, max_length=_MAX_NAME, description="A registered agent.")
    input: Any = Field(
        default=None, description="The task input (validated by input_schema). " + _JSON_RULES
    )


class StartGatherRequest(_StartBase):
    """Start one agent on many inputs, at most `max_concurrency` at once."""

    agent: str = Field(min_length=1, max_length=_MAX_NAME)
    inputs: list[Any] = Field(
        max_length=_MAX_GATHER, description="One task per input, in order. " + _JSON_RULES
    )
    max_concurrency: int | None = Field(default=None, ge=1, le=1024)


class StartGroupRequest(_StartBase):
    """Start a registered agent group on one input."""

    group: str = Field(min_length=1, max_length=_MAX_NAME)
    input: Any = Field(default=None, description="The group's input. " + _JSON_RULES)


class RunProgress(BaseModel):
    """How many of a run's tasks are done: one for an agent run, one per input for a gather."""

    total: int = 1
    completed: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        """Tasks that finished, successfully or not."""
        return self.completed + self.failed


class RunInfo(BaseModel):
    """A run's status and progress (no output: see `RunResult`)."""

    run_id: str
    kind: RunKind
    status: RunStatus
    agent_name: str | None = None
    group_name: str | None = None
    task_id: str | None = None
    trace_id: str | None = None
    parent_trace_id: str | None = None
    created_at: float
    updated_at: float
    progress: RunProgress = Field(default_factory=RunProgress)
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None

    @property
    def finished(self) -> bool:
        """True once the run completed, failed or was cancelled."""
        return self.status.finished


class RunPage(BaseModel):
    """One page of runs, newest first."""

    runs: list[RunInfo]
    limit: int
    offset: int
    next_offset: int | None = Field(
        default=None, description="Pass as `offset` for the next page; null on the last page."
    )


class RunResult(BaseModel, Generic[OutputT]):
    """A finished run: its typed output, or its typed error.

    A gather's result has one item per input, in input order, and no output of its own.
    `MurmurClient.result(run_id, output_type=Finding)` validates each output as `Finding`.
    """

    run_id: str
    kind: RunKind
    status: RunStatus
    ok: bool
    output: OutputT | None = None
    error: ErrorInfo | None = None
    items: list[RunResult[OutputT]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def unwrap(self) -> OutputT:
        """The output; raises the run's `MurmurError` when it failed."""
        if self.error is not None:
            raise self.error.to_error()
        return cast("OutputT", self.output)

    def typed(self, output_type: type[Any] | None) -> RunResult[Any]:
        """This result with every output validated as `output_type` (None: as is)."""
        if output_type is None:
            return self
        adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        data = self.model_dump(mode="json")
        _validate_outputs(data, adapter)
        generic: Any = RunResult
        return generic[output_type].model_validate(data)


def _validate_outputs(data: dict[str, Any], adapter: TypeAdapter[Any]) -> None:
    if data.get("output") is not None:
        data["output"] = adapter.validate_python(data["output"])
    for item in data.get("items") or []:
        _validate_outputs(item, adapter)


class RunTreeNode(BaseModel):
    """A run and the runs it spawned, rebuilt from parent links."""

    trace_id: str
    agent_name: str | None = None
    task_id: str | None = None
    status: str | None = None
    children: list[RunTreeNode] = Field(default_factory=list)


class WorkerInfo(BaseModel):
    """A fleet worker, as its lifecycle and heartbeat events describe it."""

    worker_id: str
    status: Literal["alive", "stale", "stopped"]
    started_at: float | None = None
    last_heartbeat: float | None = None
    seconds_since_heartbeat: float | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="The last event payload.")


class BudgetInfo(BaseModel):
    """The runtime-wide token budget."""

    name: str
    limit: int | None = None
    used: int = 0
    remaining: int | None = None
    cost_usd: float = 0.0
    max_cost_usd: float | None = None


class RuntimeStats(BaseModel):
    """The runtime at a glance: runs in flight and finished, workers, spend."""

    in_flight: int = Field(description="Agent runs executing now.")
    completed: int = Field(description="Agent runs completed since the server started.")
    failed: int = Field(description="Agent runs failed since the server started.")
    cancelled: int = Field(description="Agent runs cancelled since the server started.")
    background_runs: int = Field(description="Runs started through the API still executing.")
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    workers: list[WorkerInfo] = Field(default_factory=list)
    budget: BudgetInfo | None = None
    backend: str
    started_at: float
    uptime_seconds: float
    events_seen: int = 0
    subscribers: int = Field(0, description="Live event-stream subscribers.")
    dropped_events: int = Field(0, description="Events slow subscribers re-read from the store.")


class UsageGroupBy(StrEnum):
    """How `/usage` groups spend."""

    AGENT = "agent"
    TRACE = "trace"
    MODEL = "model"
    NONE = "none"


class UsageRow(BaseModel):
    """Tokens and USD for one group (`key` is null when not grouped)."""

    key: str | None = None
    runs: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0


class UsageReport(BaseModel):
    """Spend of completed agent runs in a time range, grouped."""

    group_by: UsageGroupBy
    since: float | None = None
    until: float | None = None
    rows: list[UsageRow]
    total: UsageRow


class ToolStat(BaseModel):
    """Call counts and latency percentiles of one tool."""

    name: str
    calls: int = Field(description="Finished calls (completed + failed).")
    failed: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None


class ToolsReport(BaseModel):
    """Per-tool statistics in a time range."""

    since: float | None = None
    until: float | None = None
    tools: list[ToolStat]


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"
    version: str


class Readiness(BaseModel):
    """Readiness: the runtime and its store answer."""

    ready: bool
    checks: dict[str, str]
