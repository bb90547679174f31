"""`Edge` (a typed link between group nodes) and the `FanOut` output-field marker."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin

from pydantic import BaseModel

from murmur.core.errors import TopologyError

if TYPE_CHECKING:
    from murmur.agent import Agent
    from murmur.types import TaskSpec

__all__ = ["Edge", "FanOut", "FanOutMarker", "Mapper", "Predicate", "fanout_field"]

_T = TypeVar("_T")

Mapper = Callable[[Any], "TaskSpec | list[TaskSpec] | Any"]
"""An edge mapper: upstream output (or list of outputs after a fan-out) -> TaskSpec(s)."""

Predicate = Callable[[Any], bool]
"""An edge condition: upstream output (or list of outputs) -> deliver or not."""


class FanOutMarker:
    """The metadata object `FanOut[...]` attaches to an output field."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FanOut"


_FANOUT = FanOutMarker()

FanOut = Annotated[_T, _FANOUT]
"""Marks a list field of an upstream output: the downstream node runs once per item.

```python
class Plan(BaseModel):
    title: str
    questions: FanOut[list[str]]   # one downstream run per question
```
"""


def fanout_field(output_type: Any) -> tuple[str, Any] | None:
    """The `(field name, item type)` of the `FanOut` field of `output_type`, if it has one.

    Raises:
        TopologyError: the model marks more than one field, or marks a non-list field.
    """
    if not (isinstance(output_type, type) and issubclass(output_type, BaseModel)):
        return None
    found: list[tuple[str, Any]] = []
    for name, info in output_type.model_fields.items():
        if not any(isinstance(m, FanOutMarker) for m in info.metadata):
            continue
        annotation = info.annotation
        if get_origin(annotation) not in (list, tuple):
            raise TopologyError(
                f"{output_type.__name__}.{name} is marked FanOut but is not a list; "
                "use FanOut[list[ItemType]]"
            )
        args = get_args(annotation)
        found.append((name, args[0] if args else Any))
    if len(found) > 1:
        names = ", ".join(n for n, _ in found)
        raise TopologyError(
            f"{output_type.__name__} marks more than one field FanOut ({names}); "
            "a node fans out over one list: keep one marker, or fan out with an edge mapper"
        )
    return found[0] if found else None


def _ref_name(ref: Any) -> str:
    name = getattr(ref, "name", None)
    if isinstance(ref, str):
        return ref
    if isinstance(name, str):
        return name
    raise TopologyError(f"an edge endpoint must be an Agent or an agent name, got {ref!r}")


def _as_refs(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


class Edge:
    """A link from one group node to one or more downstream nodes.

    Both documented forms are accepted:

    ```python
    Edge("researcher", "fact_checker")              # README form: (source, target)
    Edge(to=(reviewer,))                            # topology form: the source is the key
    Edge(to=(reviewer,), mapper=to_review, condition=lambda f: f.confidence > 0.5)
    Edge.terminal()                                 # no downstream node
    ```

    Args:
        source: the upstream agent (or its name); omitted in the topology form.
        target: one downstream agent (or name), or several.
        to: downstream agents (or names); combined with `target`.
        mapper: builds the downstream input from the upstream output: returns a `TaskSpec`,
            a list of `TaskSpec`s (one downstream run each), or a plain value (the input).
            Default: the upstream output itself (one run per item for a `FanOut` field;
            the JSON list of outputs after a fan-out).
        condition: a predicate on the upstream output; when False the edge delivers nothing
            and a downstream node with nothing delivered is skipped.
        max_concurrency: bound on concurrent downstream runs when the edge fans out.
    """

    __slots__ = ("condition", "mapper", "max_concurrency", "source", "to")

    source: Any
    to: tuple[Any, ...]
    mapper: Mapper | None
    condition: Predicate | None
    max_concurrency: int | None

    def __init__(
        self,
        source: Agent[Any] | str | None = None,
        target: Agent[Any] | str | Iterable[Agent[Any] | str] | None = None,
        *,
        to: Agent[Any] | str | Iterable[Agent[Any] | str] = (),
        mapper: Mapper | None = None,
        condition: Predicate | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        targets = (*_as_refs(target), *_as_refs(to))
        for ref in (source, *targets):
            if ref is not None:
                _ref_name(ref)
        if mapper is not None and not callable(mapper):
            raise TopologyError(f"Edge mapper must be callable, got {mapper!r}")
        if condition is not None and not callable(condition):
            raise TopologyError(f"Edge condition must be callable, got {condition!r}")
        if max_concurrency is not None and max_concurrency < 1:
            raise TopologyError(f"Edge max_concurrency must be >= 1, got {max_concurrency}")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "to", targets)
        object.__setattr__(self, "mapper", mapper)
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "max_concurrency", max_concurrency)

    @classmethod
    def terminal(cls) -> Edge:
        """An edge with no downstream node: marks its source as a terminal node."""
        return cls()

    @property
    def is_terminal(self) -> bool:
        """True when the edge leads nowhere."""
        return not self.to

    @property
    def source_name(self) -> str | None:
        """The source's agent name (None in the topology form)."""
        return None if self.source is None else _ref_name(self.source)

    @property
    def target_names(self) -> tuple[str, ...]:
        """The targets' agent names."""
        return tuple(_ref_name(t) for t in self.to)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Edge is immutable; build a new Edge")

    def _key(self) -> tuple[Any, ...]:
        return (
            self.source_name,
            self.target_names,
            self.mapper,
            self.condition,
            self.max_concurrency,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edge):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.source_name, self.target_names, self.max_concurrency))

    def __repr__(self) -> str:
        parts = []
        if self.source is not None:
            parts.append(repr(self.source_name))
        if self.to:
            parts.append(f"to={self.target_names!r}")
        if self.mapper is not None:
            parts.append(f"mapper={getattr(self.mapper, '__name__', self.mapper)}")
        if self.condition is not None:
            parts.append(f"condition={getattr(self.condition, '__name__', self.condition)}")
        if self.max_concurrency is not None:
            parts.append(f"max_concurrency={self.max_concurrency}")
        return f"Edge({', '.join(parts)})"
