"""The public surface: exactly the intended names, and the documented error hierarchy."""

from __future__ import annotations

import json
import subprocess
import sys

import murmur
import murmur.core.errors as errors
from murmur.events import RuntimeEvent


def test_top_level_exports_are_exactly_the_intended_names() -> None:
    """murmur.__all__ is the deliberate public face, and every name resolves."""
    expected = {
        "Agent", "AgentGroup", "AgentResult", "AgentRuntime", "AgentTemplate",
        "AllAgentsFailedError", "BudgetExceededError", "ContextError", "DepthLimitError", "Edge",
        "EventType", "FanOut", "GatherProgress", "GroupResult", "MurmurError", "RegistryError",
        "ResultMetadata", "RuntimeEvent", "RuntimeOptions", "SpawnCapError", "SpawnCycleError",
        "SpawnError", "SpawnResult", "SpecValidationError", "TaskSpec", "TokenBudget",
        "ToolExecutionError", "TopologyError", "TrustLevel", "TrustViolationError", "__version__",
    }  # fmt: skip
    assert set(murmur.__all__) == expected


def test_documented_module_paths_import() -> None:
    """The import paths the reference docs use all work."""
    from murmur.context import FullContextPasser, NullContextPasser
    from murmur.events import EventType, LogEventEmitter, MultiEventEmitter
    from murmur.middleware.cost_tracking import TokenBudget
    from murmur.models import ConcurrencyLimiter
    from murmur.types import TrustLevel

    assert all(
        (FullContextPasser, NullContextPasser, EventType, LogEventEmitter, MultiEventEmitter,
         TokenBudget, ConcurrencyLimiter, TrustLevel, RuntimeEvent)
    )  # fmt: skip


def test_error_hierarchy_is_exactly_the_documented_one() -> None:
    """Every documented error exists with the documented parent, and nothing else."""
    parents = {
        name: cls.__mro__[1].__name__
        for name, cls in vars(errors).items()
        if isinstance(cls, type)
        and issubclass(cls, Exception)
        and cls.__module__ == errors.__name__
    }
    assert parents == {
        "MurmurError": "Exception",
        "SpawnError": "MurmurError",
        "SpawnCycleError": "MurmurError",
        "SpawnCapError": "MurmurError",
        "ToolExecutionError": "MurmurError",
        "ContextError": "MurmurError",
        "BudgetExceededError": "MurmurError",
        "DepthLimitError": "MurmurError",
        "RegistryError": "MurmurError",
        "TrustViolationError": "MurmurError",
        "AllAgentsFailedError": "MurmurError",
        "SpecValidationError": "MurmurError",
        "TopologyError": "SpecValidationError",
    }


def test_errors_round_trip_through_dicts() -> None:
    """An error crosses a process boundary with its type, code and details."""
    import pickle

    err = errors.BudgetExceededError("over", code="timeout", details={"limit": 3})
    again = errors.error_from_dict(err.to_dict())
    assert type(again) is errors.BudgetExceededError
    assert (again.message, again.code, again.details) == ("over", "timeout", {"limit": 3})
    assert pickle.loads(pickle.dumps(err)).code == "timeout"
    assert type(errors.error_from_dict({"type": "Unknown", "message": "m"})) is errors.MurmurError


PUBLIC_FACES = """
import importlib, json, pkgutil

roots = ["murmur"] + sorted(
    info.name for info in pkgutil.iter_modules() if info.name.startswith("murmur_")
)
walk_errors = []
names = []
for root in roots:
    package = importlib.import_module(root)
    names.append(root)
    names += [
        info.name
        for info in pkgutil.walk_packages(package.__path__, root + ".", onerror=walk_errors.append)
    ]
report = {"roots": roots, "walk_errors": walk_errors, "modules": {}}
for name in names:
    # `_private` modules are not API; `__main__` modules run a program when imported.
    if any(part.startswith("_") for part in name.split(".")):
        continue
    module = importlib.import_module(name)
    exported = vars(module).get("__all__")
    report["modules"][name] = {
        "all": None if exported is None else list(exported),
        # getattr, not vars: package faces resolve some names lazily in `__getattr__`.
        "unresolved": [n for n in exported or () if not hasattr(module, n)],
    }
print(json.dumps(report))
"""


def test_every_public_module_declares_what_it_exports_and_every_export_resolves() -> None:
    """Every public module of murmur and its plugins has an `__all__`, and each name resolves."""
    proc = subprocess.run(
        [sys.executable, "-c", PUBLIC_FACES], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "murmur_redis" in report["roots"], report["roots"]  # the plugins were walked too
    assert report["walk_errors"] == []
    modules = report["modules"]
    assert {"murmur", "murmur.core", "murmur.testing.stores"} <= set(modules)
    assert [name for name, m in modules.items() if m["all"] is None] == []
    assert {name: m["unresolved"] for name, m in modules.items() if m["unresolved"]} == {}
    assert [name for name, m in modules.items() if len(m["all"]) != len(set(m["all"]))] == []
