"""Context passers: what a spawned agent sees of its parent's conversation.

The ladder, cheapest first: `NullContextPasser` (nothing), `FullContextPasser` (the
parent's whole conversation), `SummaryContextPasser` (a summary written by a summariser
agent, cached per parent run) and `SelectiveContextPasser` (only the parent messages a
selector keeps). Each is also a plugin-resolvable name (`"null"`, `"full"`, `"summary"`,
`"selective"`): `Agent(context_passer="summary")`, or `context_passer: summary` in YAML.
"""

from __future__ import annotations

from murmur.context._selective import SelectiveContextPasser
from murmur.context._summary import SummaryContextPasser
from murmur.context_passer import (
    ContextPasser,
    FullContextPasser,
    NullContextPasser,
    ParentContext,
    runnable_history,
)

__all__ = [
    "ContextPasser",
    "FullContextPasser",
    "NullContextPasser",
    "ParentContext",
    "SelectiveContextPasser",
    "SummaryContextPasser",
    "runnable_history",
]
