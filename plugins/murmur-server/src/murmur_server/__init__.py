"""FastAPI REST + SSE server for murmur: murmur serve, murmur status."""

__all__: list[str] = []
