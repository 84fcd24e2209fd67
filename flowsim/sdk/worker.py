"""Workers: slots plus registered workflows, started blocking or in the background.

``start()`` blocks like hatchet_sdk's and drains on SIGINT/SIGTERM. For tests and scripts,
``with worker:`` runs it on a background engine thread and ``async with worker:`` on the
running loop; leaving either stops claiming new runs and waits for running ones (drain).
A ``lifespan`` starts before the worker registers and stops after it drained
(``flowsim.sdk.lifespan``).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flowsim import rules
from flowsim.engine.runtime import WorkerRuntime
from flowsim.errors import ConfigurationError, LoopAlreadyRunningError, WorkflowDefinitionError
from flowsim.sdk.lifespan import Lifespan, LifespanFn
from flowsim.sdk.workflow import BaseWorkflow

if TYPE_CHECKING:
    from flowsim.sdk.client import Hatchet


@dataclass(frozen=True)
class _Serving:
    """A ``start()`` in progress: the loop it serves on, the event that ends it, and the
    event set once it drained and returned."""

    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    stopped: threading.Event = field(default_factory=threading.Event)

    def end(self) -> None:
        """Ask it to drain and return; from any thread."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop.set)

    def on_its_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False


class Worker:
    def __init__(
        self,
        client: Hatchet,
        name: str,
        slots: int | None = None,
        durable_slots: int | None = None,
        labels: dict[str, str | int] | Sequence[Any] | None = None,
        workflows: Sequence[BaseWorkflow] | None = None,
        lifespan: LifespanFn | None = None,
    ) -> None:
        if not name:
            raise ConfigurationError("a worker needs a non-empty name")
        for value, what in ((slots, "slots"), (durable_slots, "durable_slots")):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(
                    f"worker {name!r}: {what} must be a whole number >= 1, got {value!r}"
                )
        self._client = client
        self.name = name
        self._slots = slots
        self._durable_slots = durable_slots
        #: a dict, or hatchet_sdk's list of ``WorkerLabel(key=..., value=...)``
        self.labels: dict[str, str | int] = (
            {label.key: label.value for label in labels if label.key}
            if isinstance(labels, Sequence)
            else dict(labels or {})
        )
        self._workflows: list[BaseWorkflow] = []
        self._runtime: WorkerRuntime | None = None
        self._lifespan = Lifespan(name, lifespan) if lifespan is not None else None
        self._serving: _Serving | None = None
        self.register_workflows(list(workflows or []))

    # ---------------------------------------------------------------- registration

    def register_workflow(self, workflow: BaseWorkflow) -> None:
        if not isinstance(workflow, BaseWorkflow):
            raise ConfigurationError(
                f"worker {self.name!r}: workflows=[...] takes workflows made by "
                f"hatchet.workflow / hatchet.task / hatchet.durable_task, got {workflow!r}; "
                "you likely passed a task (the result of @wf.task) instead of its workflow"
            )
        for existing in self._workflows:
            if existing is workflow:
                return
            if existing.name == workflow.name:
                raise WorkflowDefinitionError(
                    f"worker {self.name!r}: two different workflows are named "
                    f"{workflow.name!r}; the engine keys runs by name, so give them distinct "
                    "names"
                )
        workflow.spec  # noqa: B018 - definition errors surface at registration, not mid-run
        self._workflows.append(workflow)

    async def aio_register_workflow(self, workflow: BaseWorkflow) -> None:
        """``register_workflow``: there is no server to tell, so nothing to wait for."""
        self.register_workflow(workflow)

    def register_workflows(self, workflows: Sequence[BaseWorkflow]) -> None:
        for workflow in workflows:
            self.register_workflow(workflow)

    @property
    def workflows(self) -> list[BaseWorkflow]:
        return list(self._workflows)

    @property
    def slot_config(self) -> dict[str, int]:
        return {pool.value: count for pool, count in self._capacity().items()}

    @property
    def slots(self) -> int:
        return self._capacity().get(rules.SlotPool.DEFAULT, 0)

    @property
    def durable_slots(self) -> int:
        return self._capacity().get(rules.SlotPool.DURABLE, 0)

    def _capacity(self) -> dict[rules.SlotPool, int]:
        tasks = [t for wf in self._workflows for t in wf.tasks]
        return rules.resolve_worker_slots(
            self._slots,
            self._durable_slots,
            has_tasks=any(not t.durable for t in tasks),
            has_durable=any(t.durable for t in tasks),
        )

    @property
    def running(self) -> bool:
        return self._runtime is not None

    # ---------------------------------------------------------------- lifecycle

    def _register(self, lifespan: Any) -> WorkerRuntime:
        engine = self._client.engine
        self._runtime = engine.add_worker(self.name, self._capacity(), self._workflows, self.labels)
        self._runtime.lifespan = lifespan
        return self._runtime

    def _refuse_second_start(self) -> None:
        if self._runtime is not None:
            raise ConfigurationError(f"worker {self.name!r} is already running")

    async def _start_lifespan(self) -> Any:
        return await self._lifespan.start() if self._lifespan is not None else None

    async def _stop_lifespan(self) -> None:
        if self._lifespan is not None:
            await self._lifespan.stop()

    def __enter__(self) -> Worker:
        self._refuse_second_start()
        engine = self._client.engine
        engine.ensure_thread_loop()
        try:  # the lifespan runs on the loop the worker's tasks will run on
            lifespan = engine.run_on_engine_blocking(self._start_lifespan)
        except BaseException:
            engine._release_loop_if_idle()
            raise
        self._register(lifespan)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Drain and unregister (blocking); a ``start()`` serving the worker in another
        thread returns."""
        serving = self._serving
        if serving is not None and not serving.on_its_loop():
            serving.end()
            serving.stopped.wait()
            return
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        engine = self._client.engine
        try:
            engine.run_on_engine_blocking(lambda: engine.drain_worker(runtime))
            engine.run_on_engine_blocking(self._stop_lifespan)
        finally:
            engine._release_loop_if_idle()

    async def __aenter__(self) -> Worker:
        self._refuse_second_start()
        engine = self._client.engine
        engine.bind_current_loop()
        try:
            lifespan = await engine.run_on_engine(self._start_lifespan)
        except BaseException:
            engine._release_loop_if_idle()
            raise
        self._register(lifespan)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aio_stop()

    async def aio_stop(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        engine = self._client.engine
        try:
            await engine.run_on_engine(lambda: engine.drain_worker(runtime))
            await engine.run_on_engine(self._stop_lifespan)
        finally:
            engine._release_loop_if_idle()

    def start(self, options: Any = None) -> None:
        """Run until SIGINT or SIGTERM (or ``stop()`` / ``exit_gracefully()``), then
        drain: the blocking entry point of a worker process, as in hatchet_sdk, which
        likewise refuses to start where an event loop already runs."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._serve_until_signal())
            return
        raise LoopAlreadyRunningError(
            f"worker {self.name!r}: start() blocks and needs an event loop of its own, but "
            "one is already running here; serve the worker on this loop with "
            "`async with worker:` instead"
        )

    async def exit_gracefully(self) -> None:
        """hatchet_sdk's way to stop a worker from code: it takes no new task, lets the
        running ones finish, and stops (a ``start()`` serving it returns)."""
        serving = self._serving
        if serving is None:
            await self.aio_stop()
            return
        serving.end()
        await asyncio.to_thread(serving.stopped.wait)

    async def _serve_until_signal(self) -> None:
        loop = asyncio.get_running_loop()
        serving = _Serving(loop, asyncio.Event())
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, serving.stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread: stop() from elsewhere instead
        self._serving = serving
        try:
            with self._client.engine.keeping_leases():
                async with self:
                    await serving.stop.wait()
        finally:
            self._serving = None
            serving.stopped.set()
            for sig in installed:
                loop.remove_signal_handler(sig)

    def __repr__(self) -> str:
        names = ", ".join(wf.name for wf in self._workflows)
        return f"<Worker {self.name!r} slots={self.slot_config} workflows=[{names}]>"
