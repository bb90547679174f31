"""`PluginHost`: one pluggy `PluginManager` with murmur's hookspecs and installed plugins."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from murmur import hookspecs
from murmur.core.errors import MurmurError, RegistryError
from murmur.core.logs import get_logger
from murmur.plugins import builtin
from murmur.plugins._discovery import (
    DISABLE_ENV_VAR,
    KERNEL_PLUGIN,
    EntryPointInfo,
    PluginIndex,
    scheme_of,
    tool_provider_kind,
)

__all__ = ["INSTALL_HINTS", "PluginFailure", "PluginHost", "plugin_object", "plugin_problems"]

log = get_logger("murmur.plugins")

INSTALL_HINTS: dict[str, dict[str, str]] = {
    "murmur.backends": {
        "redis": "murmur-redis",
        "rediss": "murmur-redis",
        "kafka": "murmur-kafka",
        "nats": "murmur-nats",
        "amqp": "murmur-rabbitmq",
    },
    "murmur.stores": {
        "sqlite": "murmur-sqlite",
        "rocksdb": "murmur-rocksdb",
        "redis": "murmur-redis",
    },
    "murmur.emitters": {"otel": "murmur-otel", "sse": "murmur-server"},
    "murmur.context_passers": {},
    "murmur.tool_providers": {"mcp": "murmur-mcp"},
}
"""First-party distribution that provides a name, by entry-point group."""


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that could not be loaded or validated; the host carried on without it.

    Attributes:
        plugin: The `murmur.plugins` entry-point name (or the registered plugin name).
        distribution: The distribution that declares it, when known.
        message: What went wrong.
    """

    plugin: str
    distribution: str | None
    message: str


def plugin_object(loaded: object, index: PluginIndex) -> object:
    """The object to register for a loaded `murmur.plugins` target.

    The kernel's `core` entry point names the `murmur.plugins.builtin` module; the plugin it
    stands for is a `CorePlugin` bound to `index`. Every other target is registered as is.
    """
    if loaded is builtin:
        return builtin.CorePlugin(index)
    return loaded


def plugin_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hooks of a registered plugin that will never be called as written."""
    problems = []
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            if not caller.has_spec() and not impl.optionalhook:
                problems.append(f"unknown hook {caller.name} (misspelled?)")
            elif inspect.iscoroutinefunction(impl.function):
                problems.append(f"hook {caller.name} must be a plain function, not async def")
    return problems


class PluginHost:
    """Discovers murmur plugins and calls their hooks.

    Each host owns one pluggy `PluginManager`. It registers the kernel's plugin and every
    `murmur.plugins` entry point of every enabled distribution, each in its own try: a
    plugin that fails to import or to validate is recorded in `failures` and left out.

    Args:
        disabled: Plugin or distribution names to leave out; None reads the comma-separated
            `MURMUR_DISABLE_PLUGINS` environment variable.
        extra_plugins: Objects with `@hookimpl` functions to register as well (a module, a
            class instance); an invalid one raises `pluggy.PluginValidationError`.
        index: The installed entry points to use instead of scanning `sys.path` (tests,
            embedding); it carries its own disabled set.

    Example:
        ```python
        host = PluginHost()
        backend = host.resolve_backend("memory://")
        ```
    """

    def __init__(
        self,
        *,
        disabled: Iterable[str] | None = None,
        extra_plugins: Iterable[object] = (),
        index: PluginIndex | None = None,
    ) -> None:
        if index is not None and disabled is not None:
            raise ValueError("pass disabled= or index=, not both: an index has its disabled set")
        self.index: PluginIndex = (
            index if index is not None else PluginIndex.scan(disabled=disabled)
        )
        self.failures: list[PluginFailure] = []
        self._pm = pluggy.PluginManager("murmur")
        self._pm.add_hookspecs(hookspecs)
        self._logged: set[tuple[str, str]] = set()
        self._hears: bool | None = None  # `hears_events`, found again after a registration
        self._pm.register(builtin.CorePlugin(self.index), name=KERNEL_PLUGIN)
        for entry_point in self.index.external_plugins():
            self._load_plugin(entry_point)
        for plugin in extra_plugins:
            self.register(plugin)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self._pm.get_name(exc.plugin) or repr(exc.plugin)
            if not any(f.plugin == name for f in self.failures):
                self._fail(name, None, str(exc))

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager (for inspection; call hooks through the host)."""
        return self._pm

    @property
    def plugin_names(self) -> list[str]:
        """Names of the registered plugins, sorted."""
        return sorted(name for name, _ in self._pm.list_name_plugin())

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object programmatically and return its name.

        Raises:
            pluggy.PluginValidationError: A hook's arguments do not match its spec.
            ValueError: The plugin, or its name, is already registered.
        """
        registered = self._pm.register(plugin, name=name)
        self._hears = None
        if registered is None:
            raise ValueError(f"plugin name {name!r} is blocked")
        for problem in plugin_problems(self._pm, plugin):
            self._fail(registered, None, problem)
        return registered

    def _load_plugin(self, entry_point: EntryPointInfo) -> None:
        try:
            plugin = plugin_object(entry_point.load(), self.index)
            if self._pm.is_registered(plugin):
                return
            self._pm.register(plugin, name=entry_point.name)
            self._hears = None
        except Exception as exc:
            self._fail(entry_point.name, entry_point.distribution, f"{type(exc).__name__}: {exc}")
            return
        for problem in plugin_problems(self._pm, plugin):
            self._fail(entry_point.name, entry_point.distribution, problem)

    def _fail(self, plugin: str, distribution: str | None, message: str) -> None:
        self.failures.append(PluginFailure(plugin, distribution, message))
        log.warning(
            "plugin failed to load", plugin=plugin, distribution=distribution, error=message
        )

    # -- firstresult resolve hooks -------------------------------------------------------

    def resolve_backend(self, url: str, **options: Any) -> Any:
        """The backend for a broker URL, e.g. `"memory://"` or `"kafka://host:9092"`.

        Raises:
            RegistryError: No plugin handles the scheme, two distributions claim it, or its
                entry point failed to load or its factory failed.
        """
        return self._resolve(
            "murmur.backends",
            scheme_of(url),
            f'backend for "{url}"',
            lambda: self._pm.hook.murmur_resolve_backend(url=url, options=options),
        )

    def resolve_store(self, url: str) -> Any:
        """The run/event store for a URL, e.g. `"memory://"` or `"sqlite:///runs.db"`.

        Raises:
            RegistryError: As for `resolve_backend`.
        """
        return self._resolve(
            "murmur.stores",
            scheme_of(url),
            f'store for "{url}"',
            lambda: self._pm.hook.murmur_resolve_store(url=url),
        )

    def resolve_emitter(self, name: str, **options: Any) -> Any:
        """The event emitter called `name`, e.g. `"log"`, built with `options`.

        Raises:
            RegistryError: As for `resolve_backend`.
        """
        return self._resolve(
            "murmur.emitters",
            name,
            f'emitter named "{name}"',
            lambda: self._pm.hook.murmur_resolve_emitter(name=name, options=options),
        )

    def resolve_context_passer(self, name: str) -> Any:
        """The context passer called `name`, e.g. `"null"` or `"full"`.

        Raises:
            RegistryError: As for `resolve_backend`.
        """
        return self._resolve(
            "murmur.context_passers",
            name,
            f'context passer named "{name}"',
            lambda: self._pm.hook.murmur_resolve_context_passer(name=name),
        )

    def resolve_tool_provider(self, spec: object) -> Any:
        """The tool provider for `spec`: a name (`"python"`) or a mapping with a `"kind"` key.

        Raises:
            RegistryError: As for `resolve_backend`, or the spec names no kind.
        """
        kind = tool_provider_kind(spec)
        if kind is None:
            raise RegistryError(
                f"a tool provider spec is a name or a mapping with a string 'kind' key, "
                f"not {spec!r}",
                code="invalid_spec",
            )
        return self._resolve(
            "murmur.tool_providers",
            kind,
            f'tool provider of kind "{kind}"',
            lambda: self._pm.hook.murmur_resolve_tool_provider(spec=spec),
        )

    def resolve_machine(self, kind: str, **options: Any) -> Any:
        """A machine of `kind` (`"local"` is built in), built with `options`.

        Raises:
            RegistryError: As for `resolve_backend`.
        """
        return self._resolve(
            "murmur.machines",
            kind,
            f'machine of kind "{kind}"',
            lambda: self._pm.hook.murmur_resolve_machine(kind=kind, options=options),
        )

    def _resolve(self, group: str, name: str, what: str, call: Callable[[], object]) -> Any:
        try:
            result = call()
        except MurmurError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"could not create the {what}: {type(exc).__name__}: {exc}",
                code="factory_failed",
                details={"group": group, "name": name},
            ) from exc
        if result is None:
            raise self._not_found(group, name, what)
        return result

    def _not_found(self, group: str, name: str, what: str) -> RegistryError:
        available = self.index.names(group)
        disabled_by = self.index.disabled_provider(group, name)
        hint = INSTALL_HINTS.get(group, {}).get(name)
        if disabled_by is not None:
            reason = f": {disabled_by} provides it but is disabled ({DISABLE_ENV_VAR})"
        elif hint is not None:
            reason = f": pip install {hint}"
        else:
            reason = (
                f': no installed plugin handles the "{name}" scheme'
                if group in ("murmur.backends", "murmur.stores")
                else f': no installed plugin provides "{name}"'
            )
        return RegistryError(
            f"no {what}{reason} (available: {', '.join(available) or 'none'})",
            code="not_found",
            details={
                "group": group,
                "name": name,
                "available": available,
                "install": hint,
                "disabled_by": disabled_by,
            },
        )

    # -- observation hooks: a failing plugin is logged, never fails the caller ------------

    @property
    def hears_events(self) -> bool:
        """Whether any plugin implements `murmur_event` (else an event need not be built).

        Asked for every event, and known again after each `register`.
        """
        hears = self._hears
        if hears is None:
            hears = self._hears = bool(self._pm.hook.murmur_event.get_hookimpls())
        return hears

    def notify_event(self, event: Any) -> None:
        """Call `murmur_event(event)` on every plugin; never raises, never blocks on its own."""
        self._call_each("murmur_event", event=event)

    def runtime_started(self, runtime: Any) -> None:
        """Call `murmur_runtime_started(runtime)` on every plugin."""
        self._call_each("murmur_runtime_started", runtime=runtime)

    def runtime_stopped(self, runtime: Any) -> None:
        """Call `murmur_runtime_stopped(runtime)` on every plugin."""
        self._call_each("murmur_runtime_stopped", runtime=runtime)

    def worker_started(self, worker: Any) -> None:
        """Call `murmur_worker_started(worker)` on every plugin."""
        self._call_each("murmur_worker_started", worker=worker)

    def worker_stopped(self, worker: Any) -> None:
        """Call `murmur_worker_stopped(worker)` on every plugin."""
        self._call_each("murmur_worker_stopped", worker=worker)

    def server_routes(self, app: Any) -> None:
        """Call `murmur_server_routes(app)` on every plugin (used by `murmur serve`)."""
        self._call_each("murmur_server_routes", app=app)

    def _call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call each implementation on its own, so one failing plugin cannot starve the rest."""
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook_name)
        impls = caller.get_hookimpls()
        if any(impl.wrapper or impl.hookwrapper for impl in impls):
            # Wrappers need pluggy's call loop; isolation is then per call, not per plugin.
            try:
                caller(**kwargs)
            except Exception:
                self._log_hook_failure(hook_name, "(wrapped call)")
            return
        for impl in reversed(impls):  # pluggy's own order: last registered first
            try:
                impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception:
                self._log_hook_failure(hook_name, impl.plugin_name)

    def _log_hook_failure(self, hook_name: str, plugin: str) -> None:
        first = (hook_name, plugin) not in self._logged
        self._logged.add((hook_name, plugin))
        # The traceback once per plugin and hook; an event hook fails on every event.
        (log.exception if first else log.debug)("plugin hook failed", hook=hook_name, plugin=plugin)
