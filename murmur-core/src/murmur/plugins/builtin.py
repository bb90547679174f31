"""The kernel's own plugin: resolve a name by looking it up in its entry-point group.

| hook | entry-point group | name looked up | target called as |
|---|---|---|---|
| `murmur_resolve_backend` | `murmur.backends` | URL scheme | `factory(url, **options)` |
| `murmur_resolve_store` | `murmur.stores` | URL scheme | `factory(url)` |
| `murmur_resolve_emitter` | `murmur.emitters` | name | `factory(**options)` |
| `murmur_resolve_context_passer` | `murmur.context_passers` | name | `factory()` |
| `murmur_resolve_tool_provider` | `murmur.tool_providers` | spec or its kind | `factory(spec)` |
| `murmur_resolve_machine` | `murmur.machines` | kind | `factory(**options)` |

Each implementation is `trylast`, so a third-party plugin's hook answers first. Only the
selected entry point is imported, by a stevedore `DriverManager`. An unknown name returns
None, so the host can raise a `RegistryError` with an install hint. A name two enabled
distributions claim raises a `RegistryError` (code `"conflict"`) naming both: murmur does
not guess which one you meant.

`PluginHost` registers one `CorePlugin` per host, bound to that host's `PluginIndex` (and so
to its disabled set); the `core` entry point that names this module is that plugin.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from murmur.core.errors import RegistryError
from murmur.hookspecs import hookimpl
from murmur.plugins._discovery import EntryPointInfo, PluginIndex, scheme_of, tool_provider_kind

if TYPE_CHECKING:
    import importlib.metadata
    from collections.abc import Callable

    from stevedore import DriverManager

__all__ = ["CorePlugin"]


class CorePlugin:
    """Implements every `murmur_resolve_*` hook from the entry points in a `PluginIndex`.

    Args:
        index: The entry points this plugin may select from (disabled ones excluded).
    """

    def __init__(self, index: PluginIndex) -> None:
        self._index = index
        self._factories: dict[tuple[str, str], Callable[..., Any]] = {}

    @hookimpl(trylast=True)
    def murmur_resolve_backend(self, url: str, options: dict[str, Any]) -> object | None:
        """Call the `murmur.backends` factory named by the URL's scheme."""
        factory = self._factory("murmur.backends", scheme_of(url))
        return None if factory is None else factory(url, **options)

    @hookimpl(trylast=True)
    def murmur_resolve_store(self, url: str) -> object | None:
        """Call the `murmur.stores` factory named by the URL's scheme."""
        factory = self._factory("murmur.stores", scheme_of(url))
        return None if factory is None else factory(url)

    @hookimpl(trylast=True)
    def murmur_resolve_emitter(self, name: str, options: dict[str, Any]) -> object | None:
        """Call the `murmur.emitters` factory of that name."""
        factory = self._factory("murmur.emitters", name)
        return None if factory is None else factory(**options)

    @hookimpl(trylast=True)
    def murmur_resolve_context_passer(self, name: str) -> object | None:
        """Call the `murmur.context_passers` factory of that name."""
        factory = self._factory("murmur.context_passers", name)
        return None if factory is None else factory()

    @hookimpl(trylast=True)
    def murmur_resolve_tool_provider(self, spec: object) -> object | None:
        """Call the `murmur.tool_providers` factory named by the spec."""
        kind = tool_provider_kind(spec)
        factory = None if kind is None else self._factory("murmur.tool_providers", kind)
        return None if factory is None else factory(spec)

    @hookimpl(trylast=True)
    def murmur_resolve_machine(self, kind: str, options: dict[str, Any]) -> object | None:
        """Call the `murmur.machines` factory of that kind."""
        factory = self._factory("murmur.machines", kind)
        return None if factory is None else factory(**options)

    def _factory(self, group: str, name: str) -> Callable[..., Any] | None:
        """Load the selected entry point's target once per plugin; None when unknown."""
        cached = self._factories.get((group, name))
        if cached is not None:
            return cached
        selected = self._index.select(group, name)
        if selected is None:
            return None
        manager = _selected_driver_manager()(
            group,
            name,
            [selected],
            on_load_failure_callback=functools.partial(_raise_load_failure, selected),
            on_missing_entrypoints_callback=None,
        )
        factory = manager.driver
        if not callable(factory):
            raise RegistryError(
                f"{selected.key} from {selected.distribution} is not callable: "
                f"{selected.value} is a {type(factory).__name__}",
                code="load_failed",
                details={"group": group, "name": name, "distribution": selected.distribution},
            )
        self._factories[(group, name)] = factory
        return factory


def _raise_load_failure(
    selected: EntryPointInfo,
    _manager: object,
    _entry_point: importlib.metadata.EntryPoint,
    err: BaseException,
) -> None:
    raise RegistryError(
        f"{selected.key} from {selected.distribution} failed to load "
        f"({selected.value}): {type(err).__name__}: {err}",
        code="load_failed",
        details={
            "group": selected.group,
            "name": selected.name,
            "distribution": selected.distribution,
        },
    ) from err


@functools.cache
def _selected_driver_manager() -> Callable[..., DriverManager[Any]]:
    """A `DriverManager` over entry points the index selected (stevedore imported lazily)."""
    from stevedore import DriverManager

    class SelectedDriverManager(DriverManager[Any]):
        """Loads one driver from a given entry-point list instead of stevedore's cache.

        stevedore's cache keeps no distribution per entry point and is memoised per
        namespace for the life of the process; the index has both right.
        """

        def __init__(
            self, namespace: str, name: str, selected: list[EntryPointInfo], **kwargs: Any
        ) -> None:
            self._selected = [ep.entry_point for ep in selected]
            super().__init__(namespace, name, **kwargs)

        def list_entry_points(self) -> list[importlib.metadata.EntryPoint]:
            return self._selected

    return SelectedDriverManager
