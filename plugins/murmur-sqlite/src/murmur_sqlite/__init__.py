"""SQLite run and event stores for murmur."""

__all__: list[str] = []
