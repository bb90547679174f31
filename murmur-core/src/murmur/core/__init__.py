"""The kernel's dependency-free core: errors, token budgets, the bounded fan-out, ids and JSON.

The package face exports nothing: import from its modules (`murmur.core.errors`,
`murmur.core.budget`, `murmur.core.fanout`, `murmur.core.collector`, `murmur.core.ids`,
`murmur.core.json`).
"""

__all__: list[str] = []
