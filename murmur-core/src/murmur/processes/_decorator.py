"""`@agent_process`, `spawn`, the root of an execution and its live-run control answers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload

from murmur.core.errors import RegistryError, SpawnError
from murmur.core.ids import new_id
from murmur.core.json import dump_value
from murmur.processes._control import ControlServer
from murmur.processes._handle import ProcessHandle
from murmur.processes._home import logs_dir, socket_path
from murmur.processes._live import Live
from murmur.processes._process import Process, current_process, maybe_current
from murmur.runtime import AgentRuntime

__all__ = ["ProcessFunction", "agent_process", "spawn", "use_runtime"]

P = ParamSpec("P")
R = TypeVar("R")

_default_runtime: ContextVar[AgentRuntime | None] = ContextVar(
    "murmur_process_runtime", default=None
)


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    """How a process runs (the arguments of `@agent_process`)."""

    timeout: float | None = None
    log_dir: str | os.PathLike[str] | None = None
    runtime: AgentRuntime | None = None
    name: str | None = None
    control: bool = True


class ProcessFunction(Generic[P, R]):
    """An async function wrapped by `@agent_process`: call and await it to run the process."""

    def __init__(self, function: Callable[P, Coroutine[Any, Any, R]], options: ProcessOptions):
        if not inspect.iscoroutinefunction(function):
            raise SpawnError(
                f"@agent_process needs an async function, got {function!r}; write `async def`",
                code="invalid_process",
            )
        self.function = function
        self.options = options
        self.name = options.name or getattr(function, "__name__", "process")
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"<agent_process {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """Run the process; the coroutine returns its result or raises its typed error."""
        return self._run(args, kwargs)

    async def _run(self, args: Any, kwargs: Any) -> R:
        parent = maybe_current()
        if parent is None:
            return await _run_root(self, args, kwargs)
        process = Process(self.name, parent.live, parent, self.options.timeout)
        return await _run_to_end(process, self.function, args, kwargs)


@overload
def agent_process(function: Callable[P, Coroutine[Any, Any, R]], /) -> ProcessFunction[P, R]: ...


@overload
def agent_process(
    *,
    timeout: float | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    runtime: AgentRuntime | None = None,
    name: str | None = None,
    control: bool = True,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], ProcessFunction[P, R]]: ...


def agent_process(
    function: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    /,
    *,
    timeout: float | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    runtime: AgentRuntime | None = None,
    name: str | None = None,
    control: bool = True,
) -> Any:
    """Wrap an async function as an agent process.

    ```python
    @agent_process(timeout=600)
    async def run_task(spec: str) -> str:
        worker = await agent("worker")
        ...
        return await wait()

    result = await run_task("Write a haiku")
    ```

    Awaited outside any process, it is the root of an execution: it uses `runtime` (or the
    one set with `use_runtime`, or a new `AgentRuntime` closed at the end), listens on
    `$MURMUR_HOME/runtimes/<execution id>.sock` for `murmur ps` (unless `control=False`)
    and writes JSONL logs to `log_dir` (default `$MURMUR_HOME/logs/<execution id>/`).
    Awaited inside a process, it is a child and inherits all of that.

    Args:
        function: the async function (when used as `@agent_process` without arguments).
        timeout: seconds the process may run; past it, it fails with a
            `BudgetExceededError` (code `"timeout"`) and its children are cancelled.
        log_dir: the root's log directory.
        runtime: the root's runtime.
        name: the process name in events and `murmur ps` (default: the function's).
        control: whether a root listens on a control socket.
    """
    options = ProcessOptions(
        timeout=timeout, log_dir=log_dir, runtime=runtime, name=name, control=control
    )

    def wrap(fn: Callable[..., Coroutine[Any, Any, Any]]) -> ProcessFunction[Any, Any]:
        return ProcessFunction(fn, options)

    return wrap if function is None else wrap(function)


@contextlib.contextmanager
def use_runtime(runtime: AgentRuntime) -> Generator[AgentRuntime]:
    """Root processes started inside this block use `runtime` (unless given their own).

    ```python
    with use_runtime(AgentRuntime(store="sqlite:///runs.db")):
        await main()
    ```
    """
    token = _default_runtime.set(runtime)
    try:
        yield runtime
    finally:
        _default_runtime.reset(token)


def spawn(
    function: Callable[P, Coroutine[Any, Any, Any]], /, *args: P.args, **kwargs: P.kwargs
) -> ProcessHandle:
    """Start `function` as a child of the current process, in the background.

    The child is cancelled when the current process ends, if it has not ended by then.

    Returns:
        A `ProcessHandle` to observe (`events`), call (`call`, `attach`), cancel or await it.
    """
    parent = current_process()
    wrapped = function if isinstance(function, ProcessFunction) else None
    name = wrapped.name if wrapped else getattr(function, "__name__", "process")
    timeout = wrapped.options.timeout if wrapped else None
    target = wrapped.function if wrapped else function
    process = Process(name, parent.live, parent, timeout)
    process.start(target, args, kwargs)
    return ProcessHandle(process)


async def _run_to_end(
    process: Process, function: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    task = process.start(function, args, kwargs)
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we were cancelled, and so was the child
    return process.outcome()


async def _run_root(pf: ProcessFunction[Any, Any], args: Any, kwargs: Any) -> Any:
    options = pf.options
    runtime = options.runtime or _default_runtime.get()
    owned = runtime is None
    if runtime is None:
        runtime = AgentRuntime()
    execution_id = new_id()
    directory = Path(options.log_dir) if options.log_dir is not None else logs_dir(execution_id)
    live = Live(runtime, execution_id, directory)
    root = Process(pf.name, live, None, options.timeout, id=execution_id)
    server: ControlServer | None = None
    started = time.time()
    await live.open()
    try:
        _write_meta(directory, root, started, ended=None)
        if options.control:
            server = ControlServer(
                socket_path(execution_id),
                functools.partial(_answer, root),
                functools.partial(_stream, root),
            )
            await server.start()
        return await _run_to_end(root, pf.function, args, kwargs)
    finally:
        await live.close()  # delivers the last events, then ends the tails
        if server is not None:
            await server.close()
        _write_meta(directory, root, started, ended=time.time())
        if owned:
            await runtime.aclose()


def _write_meta(directory: Path, root: Process, started: float, ended: float | None) -> None:
    meta = {
        "execution_id": root.id,
        "root": root.name,
        "pid": os.getpid(),
        "status": root.status,
        "started_at": started,
        "ended_at": ended,
        "processes": root.status_tree(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps(meta, indent=2, default=str))


# -- live-run control ---------------------------------------------------------------------


async def _answer(root: Process, request: dict[str, Any]) -> Any:
    op = request.get("op")
    if op == "status":
        return {
            "execution_id": root.id,
            "root": root.name,
            "pid": os.getpid(),
            "status": root.status,
            "log_dir": str(root.live.log_dir or ""),
            "processes": root.status_tree(),
        }
    if op == "send":
        handle = _find_agent(root, str(request.get("agent", "")))
        return dump_value(await handle.send(request.get("message", "")))
    if op == "call":
        name = str(request.get("endpoint", ""))
        process = _find_endpoint(root, name)
        kwargs = request.get("kwargs") or {}
        result = await ProcessHandle(process).call(name.rpartition("/")[2], **kwargs)
        return dump_value(result)
    raise SpawnError(
        f"unknown control op {op!r}; use status, send, call or tail", code="bad_request"
    )


async def _stream(root: Process, request: dict[str, Any]) -> AsyncIterator[Any]:
    async for event in root.live.tail(replay=bool(request.get("replay", True))):
        yield event.model_dump(mode="json")


def _find_agent(root: Process, name: str) -> Any:
    """The agent `name` (or `process/agent`) of a running process of the execution."""
    wanted_process, _, wanted = name.rpartition("/")
    found = [
        p.agents[wanted]
        for p in root.walk()
        if p.running and wanted in p.agents and wanted_process in ("", p.name, p.id)
    ]
    if not found:
        known = sorted({f"{p.name}/{a}" for p in root.walk() if p.running for a in p.agents})
        raise RegistryError(
            f"no running process has an agent {name!r} (agents: {', '.join(known) or 'none'})"
        )
    return found[0]


def _find_endpoint(root: Process, name: str) -> Process:
    """The first running process (depth first) exposing the endpoint `name` (or `process/name`)."""
    wanted_process, _, wanted = name.rpartition("/")
    for process in root.walk():
        if (
            process.running
            and wanted in process.endpoints
            and wanted_process in ("", process.name, process.id)
        ):
            return process
    known = sorted({f"{p.name}/{e}" for p in root.walk() if p.running for e in p.endpoints})
    raise RegistryError(
        f"no running process exposes an endpoint {name!r} (endpoints: {', '.join(known) or 'none'})"
    )
