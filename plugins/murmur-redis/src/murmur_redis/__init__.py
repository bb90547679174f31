"""Redis Streams broker, Redis run/event stores, fleet-wide budgets and rate limits for murmur."""

__all__: list[str] = []
