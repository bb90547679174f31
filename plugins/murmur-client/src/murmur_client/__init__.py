"""HTTP client and LocalClient for murmur."""

__all__: list[str] = []
