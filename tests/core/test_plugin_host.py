"""The plugin host: third-party plugins are found, called, isolated, and named in errors."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from murmur.backends import Backend
from murmur.context import NullContextPasser
from murmur.core.errors import RegistryError
from murmur.hookspecs import hookimpl
from murmur.plugins import PluginHost, PluginIndex
from murmur.plugins._compat import specifier_allows


def _load_fakedist() -> Any:
    path = Path(__file__).parent / "plugin_fixtures" / "fakedist.py"
    spec = importlib.util.spec_from_file_location("murmur_tests_fakedist", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fakedist = _load_fakedist()

RECORDER = """
from murmur.hookspecs import hookimpl

calls = []

@hookimpl
def murmur_event(event):
    calls.append(("event", event))

@hookimpl
def murmur_runtime_started(runtime):
    calls.append(("runtime_started", runtime))

@hookimpl
def murmur_runtime_stopped(runtime):
    calls.append(("runtime_stopped", runtime))

@hookimpl
def murmur_worker_started(worker):
    calls.append(("worker_started", worker))

@hookimpl
def murmur_worker_stopped(worker):
    calls.append(("worker_stopped", worker))

@hookimpl
def murmur_server_routes(app):
    calls.append(("server_routes", app))
"""

HOOK = """
from murmur.hookspecs import hookimpl

@hookimpl
def murmur_event({args}):
    {body}
"""

FACTORIES = """
class Made:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

def backend(url, **options):
    return Made(url, **options)

def store(url):
    return Made(url)

def emitter(**options):
    return Made(**options)

def passer():
    return Made()

def tools(spec):
    return Made(spec)

def explode(*args, **kwargs):
    raise ValueError("bad url")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A directory of fake distributions, first on sys.path for this test only."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("MURMUR_DISABLE_PLUGINS", raising=False)
    fake = fakedist.FakeSite(root)
    # Only the kernel and this test's fakes: the workspace's own plugins may be installed.
    monkeypatch.setattr(PluginIndex, "scan", fakedist.only(fake.names))
    yield fake
    fake.forget_modules()


def kernel_only_index() -> PluginIndex:
    """The index of murmur-core alone, whatever else the test environment has installed."""
    kernel = [d for d in PluginIndex.scan(disabled=()).distributions if d.name == "murmur-core"]
    return PluginIndex(kernel)


def test_third_party_plugin_hooks_are_called(site: Any) -> None:
    """Every observation hook of an installed plugin is called, with the host's argument."""
    site.add(
        "fakeplug",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )
    host = PluginHost()
    host.notify_event("evt")
    host.runtime_started("rt")
    host.runtime_stopped("rt")
    host.worker_started("wk")
    host.worker_stopped("wk")
    host.server_routes("app")

    assert sys.modules["fakeplug"].calls == [
        ("event", "evt"),
        ("runtime_started", "rt"),
        ("runtime_stopped", "rt"),
        ("worker_started", "wk"),
        ("worker_stopped", "wk"),
        ("server_routes", "app"),
    ]
    assert "rec" in host.plugin_names
    assert host.failures == []


def test_resolve_hook_provides_a_custom_backend_scheme(site: Any) -> None:
    """A plugin's murmur_resolve_backend hook handles a scheme no entry point declares."""
    site.add(
        "aliasplug",
        entry_points={"murmur.plugins": {"alias": "aliasplug"}},
        modules={
            "aliasplug": """
                from murmur.hookspecs import hookimpl

                @hookimpl
                def murmur_resolve_backend(url, options):
                    if url.startswith("custom://"):
                        return ("custom", url, options)
                    return None
            """
        },
    )
    host = PluginHost()

    assert host.resolve_backend("custom://x", a=1) == ("custom", "custom://x", {"a": 1})
    assert isinstance(host.resolve_backend("memory://"), Backend)


def test_plugin_hook_answers_before_the_entry_point_lookup() -> None:
    """The kernel's lookup is trylast: a plugin may wrap or alias a built-in name."""

    class Wrapper:
        @hookimpl
        def murmur_resolve_context_passer(self, name: str) -> object | None:
            return "wrapped" if name == "full" else None

    host = PluginHost(index=kernel_only_index(), extra_plugins=[Wrapper()])

    assert host.resolve_context_passer("full") == "wrapped"
    assert isinstance(host.resolve_context_passer("null"), NullContextPasser)


def test_entry_points_of_every_group_are_called_with_their_convention(site: Any) -> None:
    """Factories are called as (url, **options), (url), (**options), () and (spec)."""
    site.add(
        "concretes",
        entry_points={
            "murmur.backends": {"fake": "concretes_impl:backend"},
            "murmur.stores": {"fake": "concretes_impl:store"},
            "murmur.emitters": {"fake": "concretes_impl:emitter"},
            "murmur.context_passers": {"fake": "concretes_impl:passer"},
            "murmur.tool_providers": {"fake": "concretes_impl:tools"},
        },
        modules={"concretes_impl": FACTORIES},
    )
    host = PluginHost()

    backend = host.resolve_backend("FAKE://h:1", signing_key="k")
    assert (backend.args, backend.kwargs) == (("FAKE://h:1",), {"signing_key": "k"})
    assert host.resolve_store("fake:///db").args == ("fake:///db",)
    assert host.resolve_emitter("fake", level="info").kwargs == {"level": "info"}
    assert host.resolve_context_passer("fake").args == ()
    assert host.resolve_tool_provider("fake").args == ("fake",)
    spec = {"kind": "fake", "command": "x"}
    assert (spec,) == host.resolve_tool_provider(spec).args


def test_only_the_selected_entry_point_is_imported(site: Any) -> None:
    """Resolving one backend never imports another backend's module."""
    site.add(
        "twobackends",
        entry_points={
            "murmur.backends": {"good": "good_backend:backend", "heavy": "heavy_backend:backend"}
        },
        modules={"good_backend": FACTORIES, "heavy_backend": "raise ImportError('heavy import')\n"},
    )
    host = PluginHost()
    host.resolve_backend("good://")

    assert "good_backend" in sys.modules
    assert "heavy_backend" not in sys.modules


def test_a_plugin_whose_import_raises_is_recorded_and_skipped(site: Any) -> None:
    """One broken plugin never breaks the host or the plugins next to it."""
    site.add(
        "brokenplug",
        entry_points={"murmur.plugins": {"broken": "brokenplug"}},
        modules={"brokenplug": "raise RuntimeError('boom at import')\n"},
    )
    site.add(
        "fakeplug",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )
    host = PluginHost()
    host.notify_event("evt")

    [failure] = host.failures
    assert (failure.plugin, failure.distribution) == ("broken", "brokenplug")
    assert failure.message == "RuntimeError: boom at import"
    assert sys.modules["fakeplug"].calls == [("event", "evt")]


def test_misspelled_and_async_hooks_are_recorded_failures(site: Any) -> None:
    """check_pending's unknown hooks, and async hooks that would never run, are reported."""
    site.add(
        "sloppy",
        entry_points={"murmur.plugins": {"sloppy": "sloppy"}},
        modules={
            "sloppy": """
                from murmur.hookspecs import hookimpl

                @hookimpl
                def murmur_evnet(event):
                    pass

                @hookimpl
                async def murmur_runtime_started(runtime):
                    pass
            """
        },
    )
    host = PluginHost()

    messages = sorted(f.message for f in host.failures)
    assert messages == [
        "hook murmur_runtime_started must be a plain function, not async def",
        "unknown hook murmur_evnet (misspelled?)",
    ]


def test_a_hook_with_a_wrong_argument_is_a_recorded_failure(site: Any) -> None:
    """A hookimpl asking for an argument its spec does not have is rejected, not raised."""
    site.add(
        "wrongargs",
        entry_points={"murmur.plugins": {"wrongargs": "wrongargs"}},
        modules={"wrongargs": HOOK.format(args="evt", body="pass")},
    )
    host = PluginHost()

    [failure] = host.failures
    assert failure.message.startswith("PluginValidationError:")
    assert "wrongargs" not in host.plugin_names


def test_a_failing_observation_hook_never_fails_the_caller(site: Any) -> None:
    """A plugin that raises in murmur_event is logged; the other plugins still see the event."""
    site.add(
        "raiser",
        entry_points={"murmur.plugins": {"raiser": "raiser"}},
        modules={"raiser": HOOK.format(args="event", body="raise RuntimeError('hook bug')")},
    )
    site.add(
        "fakeplug",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )
    host = PluginHost()
    host.notify_event("one")
    host.notify_event("two")

    assert sys.modules["fakeplug"].calls == [("event", "one"), ("event", "two")]


def test_a_wrapper_hook_still_runs() -> None:
    """A plugin may wrap an observation hook; the call then goes through pluggy's loop."""
    seen: list[str] = []

    class Wrapping:
        @hookimpl(wrapper=True)
        def murmur_event(self, event: str) -> Any:
            seen.append(f"before {event}")
            result = yield
            seen.append(f"after {event}")
            return result

    host = PluginHost(index=kernel_only_index(), extra_plugins=[Wrapping()])
    host.notify_event("e")

    assert seen == ["before e", "after e"]


def test_an_invalid_extra_plugin_raises() -> None:
    """A plugin passed in code is the caller's own: an invalid one is an error, not a warning."""

    class Wrong:
        @hookimpl
        def murmur_event(self, nope: object) -> None: ...

    with pytest.raises(pluggy.PluginValidationError):
        PluginHost(index=kernel_only_index(), extra_plugins=[Wrong()])


def test_unknown_scheme_names_scheme_available_and_install_hint() -> None:
    """A missing first-party scheme tells you what to pip install and what is available."""
    index = kernel_only_index()
    available = index.names("murmur.backends")

    with pytest.raises(RegistryError) as info:
        PluginHost(index=index).resolve_backend("kafka://localhost:9092")

    assert "memory" in available
    assert str(info.value) == (
        'no backend for "kafka://localhost:9092": pip install murmur-kafka '
        f"(available: {', '.join(available)})"
    )
    assert info.value.code == "not_found"
    assert info.value.details == {
        "group": "murmur.backends",
        "name": "kafka",
        "available": available,
        "install": "murmur-kafka",
        "disabled_by": None,
    }


@pytest.mark.parametrize(
    ("resolve", "group", "message"),
    [
        (
            lambda h: h.resolve_backend("rediss://h"),
            "murmur.backends",
            'no backend for "rediss://h": pip install murmur-redis',
        ),
        (
            lambda h: h.resolve_backend("amqp://h"),
            "murmur.backends",
            'no backend for "amqp://h": pip install murmur-rabbitmq',
        ),
        (
            lambda h: h.resolve_store("sqlite:///runs.db"),
            "murmur.stores",
            'no store for "sqlite:///runs.db": pip install murmur-sqlite',
        ),
        (
            lambda h: h.resolve_store("rocksdb:///d"),
            "murmur.stores",
            'no store for "rocksdb:///d": pip install murmur-rocksdb',
        ),
        (
            lambda h: h.resolve_emitter("otel"),
            "murmur.emitters",
            'no emitter named "otel": pip install murmur-otel',
        ),
        (
            lambda h: h.resolve_emitter("sse"),
            "murmur.emitters",
            'no emitter named "sse": pip install murmur-server',
        ),
        (
            lambda h: h.resolve_tool_provider({"kind": "mcp"}),
            "murmur.tool_providers",
            'no tool provider of kind "mcp": pip install murmur-mcp',
        ),
        (
            lambda h: h.resolve_context_passer("telepathy"),
            "murmur.context_passers",
            'no context passer named "telepathy": no installed plugin provides "telepathy"',
        ),
        (
            lambda h: h.resolve_backend("foo://x"),
            "murmur.backends",
            'no backend for "foo://x": no installed plugin handles the "foo" scheme',
        ),
    ],
)
def test_every_group_names_what_is_missing(resolve: Any, group: str, message: str) -> None:
    """Each resolve method raises a RegistryError with the name, hint and alternatives."""
    with pytest.raises(RegistryError, match=r"^no ") as info:
        resolve(PluginHost(index=kernel_only_index()))

    available = ", ".join(kernel_only_index().names(group))
    assert str(info.value) == f"{message} (available: {available})"


def test_a_tool_provider_spec_without_a_kind_is_refused() -> None:
    """A mapping spec needs a string 'kind'."""
    with pytest.raises(RegistryError, match="'kind' key") as info:
        PluginHost(index=kernel_only_index()).resolve_tool_provider({"command": "x"})

    assert info.value.code == "invalid_spec"


def test_two_distributions_claiming_one_scheme_is_a_conflict(site: Any) -> None:
    """murmur does not guess between two providers of backends:foo; it names both."""
    for name in ("foo-a", "foo-b"):
        site.add(
            name,
            entry_points={"murmur.backends": {"foo": "concretes_impl:backend"}},
            modules={"concretes_impl": FACTORIES},
        )

    with pytest.raises(RegistryError) as info:
        PluginHost().resolve_backend("foo://x")

    assert info.value.code == "conflict"
    assert (
        '"foo" in entry-point group murmur.backends is provided by more than one '
        "distribution (foo-a, foo-b)" in str(info.value)
    )
    assert PluginHost(disabled=["foo-b"]).resolve_backend("foo://x").args[0] == "foo://x"


def test_an_entry_point_that_fails_to_load_is_a_typed_error(site: Any) -> None:
    """A selected backend whose module cannot be imported says which distribution failed."""
    site.add(
        "brokenbackend",
        entry_points={"murmur.backends": {"bb": "bb_impl:backend"}},
        modules={"bb_impl": "import not_installed_dependency\n"},
    )

    with pytest.raises(RegistryError) as info:
        PluginHost().resolve_backend("bb://")

    assert info.value.code == "load_failed"
    assert str(info.value).startswith(
        "backends:bb from brokenbackend failed to load (bb_impl:backend): ModuleNotFoundError"
    )
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_factory_that_raises_is_a_typed_error(site: Any) -> None:
    """A factory's own exception comes back as a RegistryError, with the original as cause."""
    site.add(
        "explodes",
        entry_points={"murmur.backends": {"boom": "concretes_impl:explode"}},
        modules={"concretes_impl": FACTORIES},
    )

    with pytest.raises(RegistryError) as info:
        PluginHost().resolve_backend("boom://")

    assert str(info.value) == 'could not create the backend for "boom://": ValueError: bad url'
    assert info.value.code == "factory_failed"
    assert isinstance(info.value.__cause__, ValueError)


def test_disabled_plugins_are_neither_registered_nor_selectable(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MURMUR_DISABLE_PLUGINS switches off a whole distribution: its hooks and its names."""
    site.add(
        "murmur-fake",
        entry_points={
            "murmur.plugins": {"rec": "fakeplug"},
            "murmur.backends": {"fake": "concretes_impl:backend"},
        },
        modules={"fakeplug": RECORDER, "concretes_impl": FACTORIES},
    )
    monkeypatch.setenv("MURMUR_DISABLE_PLUGINS", " Murmur_Fake , other")
    host = PluginHost()
    host.notify_event("evt")

    assert "rec" not in host.plugin_names
    assert "fakeplug" not in sys.modules
    with pytest.raises(RegistryError) as info:
        host.resolve_backend("fake://")
    assert "murmur-fake provides it but is disabled (MURMUR_DISABLE_PLUGINS)" in str(info.value)
    assert info.value.details["disabled_by"] == "murmur-fake"


def test_a_plugin_name_disables_its_distribution(site: Any) -> None:
    """Naming a distribution's murmur.plugins entry point disables the distribution too."""
    site.add(
        "murmur-fake",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )

    assert "rec" not in PluginHost(disabled=["rec"]).plugin_names
    assert "rec" in PluginHost(disabled=[]).plugin_names


def test_the_constructor_overrides_the_environment(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """disabled= wins over MURMUR_DISABLE_PLUGINS; each host has its own plugin manager."""
    site.add(
        "murmur-fake",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )
    monkeypatch.setenv("MURMUR_DISABLE_PLUGINS", "murmur-fake")

    enabled, disabled = PluginHost(disabled=()), PluginHost()

    assert "rec" in enabled.plugin_names
    assert "rec" not in disabled.plugin_names
    assert enabled.plugin_manager is not disabled.plugin_manager


def test_the_kernel_cannot_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Disabling murmur-core or core would leave nothing to run; the names are ignored."""
    monkeypatch.setenv("MURMUR_DISABLE_PLUGINS", "murmur-core,core")
    host = PluginHost()

    assert "core" in host.plugin_names
    assert isinstance(host.resolve_backend("memory://"), Backend)


def test_index_and_disabled_are_exclusive() -> None:
    """An index carries its own disabled set."""
    with pytest.raises(ValueError, match="not both"):
        PluginHost(index=kernel_only_index(), disabled=["x"])


def test_external_plugins_excludes_the_kernel(site: Any) -> None:
    """A runtime can tell, without imports, whether any third-party plugin wants hooks."""
    assert kernel_only_index().external_plugins() == []
    site.add(
        "fakeplug",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )

    assert [ep.name for ep in PluginIndex.scan().external_plugins()] == ["rec"]


@pytest.mark.parametrize(
    ("spec", "version", "allowed"),
    [
        (">=0.1", "0.1.0", True),
        (">=99", "0.1.0", False),
        (">=0.1,<1", "1.0", False),
        ("==0.1.*", "0.1.7", True),
        ("!=0.1.*", "0.1.7", False),
        ("~=0.1.2", "0.1.9", True),
        ("~=0.1.2", "0.2.0", False),
        ("~=1.0.5", "1.1", False),
        ("", "0.1.0", True),
    ],
)
def test_requirement_check_with_and_without_packaging(
    spec: str, version: str, allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The murmur-core requirement check agrees with packaging, and so does its fallback."""
    assert allowed == specifier_allows(spec, version)
    for module in ("packaging", "packaging.specifiers", "packaging.version"):
        monkeypatch.setitem(sys.modules, module, None)

    assert allowed == specifier_allows(spec, version)


class Everything:
    """Answers every resolve hook for the name "dyn" (scheme "dyn://")."""

    @hookimpl
    def murmur_resolve_backend(self, url: str, options: dict[str, Any]) -> object | None:
        return ("backend", url, options) if url.startswith("dyn://") else None

    @hookimpl
    def murmur_resolve_store(self, url: str) -> object | None:
        return ("store", url) if url.startswith("dyn://") else None

    @hookimpl
    def murmur_resolve_emitter(self, name: str, options: dict[str, Any]) -> object | None:
        return ("emitter", name, options) if name == "dyn" else None

    @hookimpl
    def murmur_resolve_context_passer(self, name: str) -> object | None:
        return ("passer", name) if name == "dyn" else None

    @hookimpl
    def murmur_resolve_tool_provider(self, spec: object) -> object | None:
        return ("tools", spec) if spec == {"kind": "dyn"} else None


@pytest.mark.parametrize(
    ("resolve", "expected"),
    [
        (lambda h: h.resolve_backend("dyn://x", n=1), ("backend", "dyn://x", {"n": 1})),
        (lambda h: h.resolve_store("dyn://s"), ("store", "dyn://s")),
        (lambda h: h.resolve_emitter("dyn", n=2), ("emitter", "dyn", {"n": 2})),
        (lambda h: h.resolve_context_passer("dyn"), ("passer", "dyn")),
        (lambda h: h.resolve_tool_provider({"kind": "dyn"}), ("tools", {"kind": "dyn"})),
    ],
)
def test_every_resolve_hook_can_answer_dynamically(resolve: Any, expected: object) -> None:
    """Each murmur_resolve_* hook lets a plugin handle names no entry point declares."""
    host = PluginHost(index=kernel_only_index(), extra_plugins=[Everything()])

    assert expected == resolve(host)


async def test_an_installed_plugin_sees_every_event_of_a_default_runtime(site: Any) -> None:
    """A murmur.plugins entry point gets runtime_started and every RuntimeEvent, unasked."""
    from murmur import Agent, AgentRuntime
    from murmur.events import NullEventEmitter

    site.add(
        "fakeplug",
        entry_points={"murmur.plugins": {"rec": "fakeplug"}},
        modules={"fakeplug": RECORDER},
    )
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    result = await runtime.run(Agent(name="observed", model="test"), "hi")
    await runtime.aclose()
    calls = sys.modules["fakeplug"].calls
    kinds = [kind for kind, _ in calls]
    assert kinds[0] == "runtime_started"
    assert kinds[-1] == "runtime_stopped"
    events = [value for kind, value in calls if kind == "event"]
    assert [e.event_type.value for e in events] == ["agent_spawned", "agent_completed"]
    assert {e.trace_id for e in events} == {result.trace_id}


def _write_dist(root: Path, name: str, entry_points: str) -> Path:
    """A `.dist-info` written by hand: no `importlib.invalidate_caches()` afterwards."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    return info


def test_the_index_is_read_once_while_nothing_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second scan reuses the first reading; a distribution installed meanwhile is seen.

    Every runtime's plugin host scans: reading every installed distribution's metadata
    took 25-40 ms per `AgentRuntime(broker=...)` before the reading was kept.
    """
    import murmur.plugins._discovery as discovery

    monkeypatch.syspath_prepend(str(tmp_path))
    reads: list[int] = []
    real_read = discovery._read
    monkeypatch.setattr(discovery, "_read", lambda path: reads.append(1) or real_read(path))

    first = PluginIndex.scan(disabled=())
    again = PluginIndex.scan(disabled=())
    assert len(reads) == 1
    assert again.distributions == first.distributions
    assert "late_plug" not in {d.name for d in first.distributions}

    _write_dist(tmp_path, "late_plug", "[murmur.backends]\nlate = late_plug:factory\n")
    later = PluginIndex.scan(disabled=())
    assert len(reads) == 2
    assert later.entry_points("murmur.backends", "late")[0].distribution == "late_plug"


def test_invalidate_caches_makes_the_next_scan_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change no directory on the path shows (an entry point edited in place) is seen
    after `importlib.invalidate_caches()`, as Python's own import caches are."""
    import importlib

    monkeypatch.syspath_prepend(str(tmp_path))
    info = _write_dist(tmp_path, "edited_plug", "[murmur.backends]\nold = edited_plug:f\n")
    assert PluginIndex.scan(disabled=()).entry_points("murmur.backends", "old")
    (info / "entry_points.txt").write_text("[murmur.backends]\nnew = edited_plug:f\n")
    assert PluginIndex.scan(disabled=()).entry_points("murmur.backends", "old")  # kept

    importlib.invalidate_caches()
    index = PluginIndex.scan(disabled=())
    assert not index.entry_points("murmur.backends", "old")
    assert index.entry_points("murmur.backends", "new")
