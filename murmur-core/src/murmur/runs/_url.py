"""Store URLs: the local path and the options of `sqlite:///runs.db?batch_size=10`-style URLs.

Every persistent store is picked by URL (`AgentRuntime(store=...)`); these helpers are the
one parser the stores share, so `scheme:///relative`, `scheme:////absolute`, an unknown
option and a bad option value mean the same thing and fail the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from murmur.core.errors import RegistryError

__all__ = ["StoreURL", "parse_store_url", "url_flag"]

OptionParser = Callable[[str], Any]
"""Turns one query value into an option (`int`, `float`, `str`, `url_flag`, ...)."""


def url_flag(value: str) -> bool:
    """A boolean URL option: `1`, `true`, `yes` and `on` (any case) are true."""
    return value.lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL.

    Attributes:
        url: the URL as given.
        options: the store's own options, converted.
        passthrough: query options the store does not know, in order (only kept when the
            URL was parsed with `keep_unknown=True`, e.g. for a client library's options).
    """

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    passthrough: list[tuple[str, str]] = field(default_factory=list)

    def path(self, *, names: str, example: str) -> str:
        """The local path the URL names.

        `scheme:///runs.db` is `runs.db` (relative to the working directory),
        `scheme:////var/lib/runs.db` is `/var/lib/runs.db`.

        Args:
            names: what the path is, for the error ("file", "directory").
            example: how to write a good URL, for the error.

        Raises:
            RegistryError: code `"invalid_url"` when the URL names no path.
        """
        parts = urlsplit(self.url)
        path = unquote(parts.netloc + parts.path)
        if path.startswith("/") and not parts.netloc:
            path = path[1:]
        if not path:
            raise RegistryError(
                f"the store URL {self.url!r} names no {names}: use {example}",
                code="invalid_url",
            )
        return path

    def without_options(self) -> str:
        """The URL with the store's own options removed (the passthrough ones stay)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(query=urlencode(self.passthrough)))


def parse_store_url(
    url: str,
    options: Mapping[str, OptionParser],
    *,
    schemes: tuple[str, ...] = (),
    keep_unknown: bool = False,
    shown: str | None = None,
) -> StoreURL:
    """Check a store URL's scheme and convert its query options.

    ```python
    parsed = parse_store_url("mystore:///data?sync=1", {"sync": url_flag}, schemes=("mystore",))
    directory = parsed.path(names="directory", example="mystore:///data (relative)")
    ```

    Args:
        url: the store URL.
        options: the store's own options and how to convert each value.
        schemes: the schemes this store accepts (empty: any).
        keep_unknown: keep options the store does not know in `passthrough` (for a client
            library) instead of refusing them.
        shown: the URL as error messages show it (pass it with its password redacted).

    Raises:
        RegistryError: code `"invalid_url"` for another scheme, an unknown option (unless
            `keep_unknown`) or a value its converter refuses.
    """
    label = url if shown is None else shown
    parts = urlsplit(url)
    if schemes and parts.scheme not in schemes:
        raise RegistryError(f"not a {schemes[0]}:// URL: {label!r}", code="invalid_url")
    ours: dict[str, Any] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query):
        convert = options.get(key)
        if convert is None:
            if keep_unknown:
                theirs.append((key, value))
                continue
            raise RegistryError(
                f"unknown option {key!r} in {label!r} (known: {', '.join(options)})",
                code="invalid_url",
            )
        try:
            ours[key] = convert(value)
        except ValueError:
            kind = getattr(convert, "__name__", "value")
            raise RegistryError(
                f"option {key}={value!r} in {label!r} must be a {kind}", code="invalid_url"
            ) from None
    return StoreURL(url, ours, theirs)
