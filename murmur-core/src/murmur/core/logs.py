"""The kernel's loggers: structlog, imported on the first log line rather than at import.

structlog pulls in `rich` when it is installed (for pretty tracebacks), a fifth of a second
that `import murmur` and `murmur --help` should not pay for a logger that may never write.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_logger"]


class _LazyLogger:
    """Looks like a structlog logger; imports structlog when first used."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            import structlog

            self._logger = structlog.get_logger(self._name)
        return getattr(self._logger, attribute)

    def __repr__(self) -> str:
        return f"<murmur logger {self._name!r}>"


def get_logger(name: str) -> Any:
    """A structlog logger named `name`, created on its first use (configuration applies)."""
    return _LazyLogger(name)
