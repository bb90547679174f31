"""Fixtures of the murmur-mcp tests (the peers themselves are in `_peers`)."""

from ._peers import everything_http_url, everything_sse_url  # noqa: F401 - module-scoped servers
