"""Reaching real services from tests: skip with a reason, or fail under CI."""

from __future__ import annotations

import os
import socket

__all__ = ["require_service", "services_required"]


def services_required() -> bool:
    """True when `MURMUR_REQUIRE_SERVICES=1`: a missing service fails instead of skipping."""
    return os.environ.get("MURMUR_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def require_service(name: str, host: str, port: int, *, timeout: float = 1.0) -> None:
    """Skip the calling test when `host:port` is unreachable (fail under CI).

    Args:
        name: what the service is ("Redis"), for the message.
        host: its host.
        port: its TCP port.
        timeout: seconds to wait for the TCP connection.
    """
    import pytest

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc}); start it to run this test"
    if services_required():
        pytest.fail(message + " (MURMUR_REQUIRE_SERVICES=1)")
    pytest.skip(message)
