"""The kernel's unvalidated model instances (`murmur.core.trusted`) are the validated ones.

`TaskSpec(input=x)` and the runtime's own run events skip pydantic validation for speed; each
must stay indistinguishable from the instance validation builds, and a field added to either
model must not be silently left out of the fast path.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from murmur import TaskSpec
from murmur.core.budget import TokenBudget
from murmur.events import EventType, RuntimeEvent
from murmur.events._model import run_event


def _same(fast: Any, validated: Any) -> None:
    assert type(fast) is type(validated)
    assert fast == validated
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.model_fields_set == validated.model_fields_set
    assert repr(fast) == repr(validated)
    assert pickle.loads(pickle.dumps(fast)) == validated
    assert copy.deepcopy(fast) == validated


def test_taskspec_with_only_an_input_is_the_validated_taskspec() -> None:
    for value in ("hi", {"q": 1}, None, 3, ["a"]):
        fast = TaskSpec(input=value)
        validated = TaskSpec.model_validate(
            {"input": value, "id": fast.id, "trace_id": fast.trace_id}
        )
        object.__setattr__(validated, "__pydantic_fields_set__", {"input"})
        _same(fast, validated)
        assert len(fast.id) == len(fast.trace_id) == 32
        assert fast.id != fast.trace_id


def test_taskspec_without_arguments_and_the_fast_path_covers_every_field() -> None:
    empty = TaskSpec()
    assert empty.model_fields_set == set()
    assert set(empty.__dict__) == set(TaskSpec.model_fields)  # a new field needs the fast path
    assert TaskSpec.model_validate(empty.model_dump()) == empty


def test_taskspec_is_still_frozen_and_still_validates_everything_else() -> None:
    spec = TaskSpec(input="x")
    with pytest.raises(ValidationError):
        spec.input = "y"  # ty: ignore[invalid-assignment]
    with pytest.raises(ValidationError):
        TaskSpec(input="x", metadata="not a dict")  # ty: ignore[invalid-argument-type]
    budget = TokenBudget(10)
    assert TaskSpec(input="x", token_budget=budget).token_budget is budget
    assert TaskSpec(input="x", id="mine").id == "mine"


def test_a_taskspec_subclass_gets_its_own_fields() -> None:
    class Tagged(TaskSpec):
        tag: str = "default"

    assert Tagged(input="x").tag == "default"
    assert Tagged(input="x").model_fields_set == {"input"}


def test_run_event_is_the_validated_event() -> None:
    payload = {"model": "test", "depth": 0}
    fast = run_event(EventType.AGENT_SPAWNED, "a", "t", "0" * 32, None, payload)
    validated = RuntimeEvent(
        event_type=EventType.AGENT_SPAWNED,
        agent_name="a",
        task_id="t",
        trace_id="0" * 32,
        parent_trace_id=None,
        payload=payload,
        timestamp=fast.timestamp,
        id=fast.id,
    )
    object.__setattr__(validated, "__pydantic_fields_set__", set(fast.model_fields_set))
    _same(fast, validated)
    assert set(fast.__dict__) == set(RuntimeEvent.model_fields)
    assert RuntimeEvent.from_json(fast.to_json()) == fast
    with pytest.raises(ValidationError):
        fast.agent_name = "b"  # ty: ignore[invalid-assignment]


@pytest.mark.parametrize("model", [TaskSpec, RuntimeEvent])
def test_the_models_have_nothing_model_construct_would_have_to_handle(model: Any) -> None:
    """`trusted_model` sets what `model_construct` sets for a plain model, nothing more."""
    assert not model.__private_attributes__
    assert model.model_config.get("extra") in (None, "ignore", "forbid")
    assert not model.__pydantic_post_init__
    assert all(f.alias is None and f.validation_alias is None for f in model.model_fields.values())
