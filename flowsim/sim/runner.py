"""``simulate(scenario)``: the users' workflows on the real engine, in virtual time.

There is no second scheduler here. The simulator builds a simpy world (the clock, the
arrival processes, the worker crashes and restarts), puts the real engine on a loop driven
by that world, starts the scenario's workers on it, and lets the engine claim, run, retry,
time out and detect deadlocks exactly as it does in a test. At the end it reads what
happened off the engine's store.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Generator
from dataclasses import replace
from functools import partial
from typing import Any

import simpy

from flowsim import backend
from flowsim.engine.deadlock import DeadlockReport
from flowsim.engine.engine import Engine
from flowsim.engine.runtime import WorkerRuntime
from flowsim.errors import (
    FlowsimError,
    IdempotencyCollisionError,
    InvalidInputError,
    ScenarioError,
    SlotDeadlockError,
    UnknownWorkflowError,
)
from flowsim.rate_limits import WINDOW_SECONDS
from flowsim.rules import RunStatus, SlotPool
from flowsim.sdk.events import matches, push_event, subscribers
from flowsim.sdk.task import validate_input
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.sim.checks import judge
from flowsim.sim.loop import LoopClock, SimulationStalledError, VirtualTimeLoop
from flowsim.sim.metrics import compute_metrics
from flowsim.sim.modules import load_workflows
from flowsim.sim.results import (
    AttemptRecord,
    RunRecord,
    SimulationResult,
    WorkerRecord,
    no_full_collections,
)
from flowsim.sim.scenario import Arrival, Crash, Scenario, WorkerSpec, arrival_times
from flowsim.sim.work import SimulatedWork
from flowsim.store.records import WorkflowRun


def _free_url() -> str:
    """The same URL for every simulation that runs alone, so nothing in a trace (errors
    quote the backend) depends on how many simulations ran before in this process."""
    for number in itertools.count(1):
        url = "memory://flowsim-simulation" + (f"-{number}" if number > 1 else "")
        if not backend.is_open(url):
            return url
    raise AssertionError("unreachable")


def _first_line(error: str | None) -> str | None:
    """An attempt's error without its traceback: file paths differ between checkouts."""
    return error.split("\n", 1)[0] if error is not None else None


def simulate(scenario: Scenario, *, seed: int | None = None) -> SimulationResult:
    """Run ``scenario`` (with ``seed`` instead of its own, if given) and judge it."""
    if seed is not None:
        scenario = scenario.with_seed(seed)
    workflows = load_workflows(scenario)
    check_references(scenario, workflows)
    return _World(scenario, workflows).run()


def _listened_for(event: str, registered: list[BaseWorkflow]) -> bool:
    """Whether a registered workflow is started by the event or may wait for it: an
    ``on_events=`` subscription, a task's event condition, or a durable task (whose
    ``aio_wait_for`` conditions are known only when it runs)."""
    keys = [key for workflow in registered for key in workflow.on_events]
    tasks = [task for workflow in registered for task in workflow.spec.tasks.values()]
    keys += [c.event_key for task in tasks for c in task.conditions if c.event_key is not None]
    return any(task.durable for task in tasks) or any(matches(key, event) for key in keys)


def check_references(scenario: Scenario, workflows: dict[str, BaseWorkflow]) -> None:
    """Names in the scenario must exist in the module, and inputs must validate, before
    anything runs: a typo is a clear error, not a simulation of nothing."""
    where = scenario.source or "scenario"
    known = ", ".join(sorted(workflows))
    problems: list[str] = []
    registered: set[str] = set()
    for index, worker in enumerate(scenario.workers):
        names = worker.workflows if worker.workflows is not None else tuple(workflows)
        registered.update(names)
        for name in names:
            if name not in workflows:
                problems.append(f"workers[{index}].workflows: no workflow {name!r} (have {known})")
    for index, arrival in enumerate(scenario.arrivals):
        if arrival.event is not None:
            if not _listened_for(
                arrival.event, [workflows[w] for w in registered if w in workflows]
            ):
                problems.append(f"arrivals[{index}].event: no registered workflow subscribes to "
                                f"{arrival.event!r} (on_events=) or waits for it (a task's "
                                "UserEventCondition)")  # fmt: skip
            continue
        assert arrival.workflow is not None
        workflow = workflows.get(arrival.workflow)
        if workflow is None:
            problems.append(f"arrivals[{index}].workflow: no workflow {arrival.workflow!r} "
                            f"(have {known})")  # fmt: skip
            continue
        if arrival.workflow not in registered:
            problems.append(f"arrivals[{index}]: no worker registers {arrival.workflow!r}")
        try:
            validate_input(workflow, arrival.input)
        except InvalidInputError as exc:
            problems.append(f"arrivals[{index}].input: {exc}")
    tasks = {f"{w}.{t.name}" for w, wf in workflows.items() for t in wf.tasks} | set(workflows)
    for key in scenario.durations:
        if key not in tasks:
            problems.append(f"durations.{key}: no such workflow or workflow.task")
    for index, fault in enumerate(scenario.faults):
        if fault.task not in tasks:
            problems.append(f"faults[{index}].task: no such workflow or workflow.task "
                            f"{fault.task!r}")  # fmt: skip
    if problems:
        raise ScenarioError(
            f"{where}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _capacity(spec: WorkerSpec) -> dict[SlotPool, int]:
    return {SlotPool.DEFAULT: spec.slots, SlotPool.DURABLE: spec.durable_slots}


class _World:
    """One simulation: a simpy environment, a loop on it, an engine on the loop."""

    def __init__(self, scenario: Scenario, workflows: dict[str, BaseWorkflow]) -> None:
        self.scenario = scenario
        self.workflows = workflows
        self.env = simpy.Environment()
        self.loop = VirtualTimeLoop(self.env)
        self.url = _free_url()
        self.engine: Engine = backend.engine_for(self.url, LoopClock(self.loop))
        self.engine.inline_sync = True
        self.engine.store.use_sequential_ids()
        self.engine.attempt_prelude = SimulatedWork(scenario)
        self.top_runs: list[WorkflowRun] = []
        self.deduplicated = 0
        self.arrivals_left = sum(len(self._times(i, a)) for i, a in enumerate(scenario.arrivals))
        self.arrivals_done: asyncio.Event | None = None
        self.live: dict[str, list[WorkerRuntime]] = {}
        self.records: dict[str, WorkerRecord] = {}
        self.horizon_reached = False
        self.abandoned: set[str] = set()

    def _times(self, index: int, arrival: Arrival) -> list[float]:
        rng = random.Random(f"{self.scenario.seed}/arrivals/{index}")
        return arrival_times(arrival, rng.random)

    # ------------------------------------------------------------ running

    def run(self) -> SimulationResult:
        stalled: str | None = None
        with backend.redirected(self.url), no_full_collections():
            try:
                self.loop.run_until_complete(self._main())
            except SimulationStalledError as exc:
                stalled = str(exc)
            try:
                return self._result(stalled)
            finally:
                self._shutdown()

    async def _main(self) -> None:
        self.engine.bind_current_loop()
        self.arrivals_done = asyncio.Event()
        for limit in self.scenario.rate_limits:
            self.engine.put_rate_limit(limit.key, limit.limit, WINDOW_SECONDS[limit.duration])
        for spec in self.scenario.workers:
            self.live[spec.name] = [
                self._start_worker(spec, replica) for replica in range(spec.replicas)
            ]
        for index, arrival in enumerate(self.scenario.arrivals):
            self.env.process(self._arrive(arrival, self._times(index, arrival)))
        for crash in self.scenario.crashes:
            self.env.process(self._crash(crash))
        if self.arrivals_left == 0:
            self.arrivals_done.set()
        try:
            async with asyncio.timeout_at(self.scenario.horizon):
                await self.arrivals_done.wait()
                await self._wait_for_arrived_runs()
        except TimeoutError:
            self.horizon_reached = True

    def _start_worker(self, spec: WorkerSpec, replica: int) -> WorkerRuntime:
        name = spec.name if spec.replicas == 1 else f"{spec.name}-{replica + 1}"
        names = spec.workflows if spec.workflows is not None else tuple(self.workflows)
        workflows = [self.workflows[n] for n in names]
        runtime = self.engine.add_worker(name, _capacity(spec), workflows, dict(spec.labels))
        self.records[runtime.id] = WorkerRecord(
            name, spec.name, spec.slots, spec.durable_slots, self.loop.time()
        )
        return runtime

    # ------------------------------------------------------------ simpy processes

    def _arrive(self, arrival: Arrival, times: list[float]) -> Generator[simpy.Event, Any, None]:
        for at in times:
            yield self.env.timeout(at - self.env.now)
            self.loop.on_world(partial(self._trigger, arrival))

    def _trigger(self, arrival: Arrival) -> None:
        if arrival.event is not None:
            listeners = subscribers(self.engine, self.workflows.values())
            event = push_event(
                self.engine, listeners, arrival.event, arrival.input, scope=arrival.scope
            )
            run_ids = list(event.workflow_run_ids)
        else:
            assert arrival.workflow is not None
            try:
                ref = self.workflows[arrival.workflow].run(
                    arrival.input,
                    desired_worker_labels=[e.label() for e in arrival.desired_worker_labels],
                    wait_for_result=False,
                )
                run_ids = [ref.workflow_run_id]
            except IdempotencyCollisionError:  # Hatchet rejects the trigger: no run
                self.deduplicated += 1
                run_ids = []
        self.top_runs.extend(self.engine.store.get_run(run_id) for run_id in run_ids)
        self.arrivals_left -= 1
        if self.arrivals_left == 0 and self.arrivals_done is not None:
            self.arrivals_done.set()

    def _crash(self, crash: Crash) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(crash.at)
        self.loop.on_world(partial(self._kill, crash))
        if crash.restart_after is not None:
            yield self.env.timeout(crash.restart_after)
            self.loop.on_world(partial(self._restart, crash))

    def _victims(self, crash: Crash) -> list[WorkerRuntime]:
        live = self.live.get(crash.worker, [])
        if crash.replica is None:
            return list(live)
        return [r for r in live if r.name.endswith(f"-{crash.replica}") or len(live) == 1]

    def _kill(self, crash: Crash) -> None:
        for runtime in self._victims(crash):
            if crash.restart_after is not None:
                self.engine.workers_expected += 1
            self.live[crash.worker].remove(runtime)
            self.records[runtime.id] = replace(
                self.records[runtime.id], stopped_at=self.loop.time()
            )
            self.engine.crash_worker(runtime, self.scenario.lease_seconds)

    def _restart(self, crash: Crash) -> None:
        spec = next(w for w in self.scenario.workers if w.name == crash.worker)
        running = {r.name for r in self.live[crash.worker]}
        for replica in range(spec.replicas):
            if crash.replica is not None and replica + 1 != crash.replica:
                continue
            name = spec.name if spec.replicas == 1 else f"{spec.name}-{replica + 1}"
            if name in running:
                continue
            self.live[crash.worker].append(self._start_worker(spec, replica))
            self.engine.workers_expected -= 1
        self.engine.request_stall_check()

    # ------------------------------------------------------------ waiting for the end

    async def _wait_for_arrived_runs(self) -> None:
        """Wait until every run ends, children of failed parents included (they go on in
        Hatchet too). A deadlock error is the engine telling the stuck parents (they fail,
        and the rest moves on); keep waiting for what is left, but give up on runs that
        can never start."""
        ended_at_last_error, fruitless = -1, 0
        while True:
            pending = [
                run
                for run in self.engine.store.runs.values()
                if not run.status.is_terminal and run.id not in self.abandoned
            ]
            if not pending:
                return
            try:
                await self.engine.wait_many(pending, fail_fast=False)
            except (SlotDeadlockError, UnknownWorkflowError):
                ended = sum(1 for run in self.engine.store.runs.values() if run.status.is_terminal)
                # the stuck parents fail a few loop turns after the error: only when errors
                # keep coming and no run ends are the rest truly unable to start
                fruitless = fruitless + 1 if ended == ended_at_last_error else 0
                if fruitless >= 5:
                    never = {run.id for run in pending if self.engine.never_starts(run)}
                    self.abandoned.update(never or {run.id for run in pending})
                ended_at_last_error = ended
                await asyncio.sleep(0)

    # ------------------------------------------------------------ results

    def _result(self, stalled: str | None) -> SimulationResult:
        store = self.engine.store
        names = {worker_id: record.name for worker_id, record in self.records.items()}
        # a dict lookup, not the enum's ``.value`` descriptor: this loop runs per record
        statuses = {status: status.value for status in RunStatus}
        pools = {pool: pool.value for pool in SlotPool}
        runs: list[RunRecord] = []
        attempts: list[AttemptRecord] = []
        for run in store.runs.values():
            parent = store.task_runs.get(run.parent_task_run_id or "")
            runs.append(
                RunRecord(
                    run.id,
                    run.workflow_name,
                    statuses[run.status],
                    run.created_at,
                    run.finished_at,
                    parent.workflow_run.id if parent is not None else None,
                    run.input,
                    run.result(),
                )
            )
            for task_run in run.tasks.values():
                for number, attempt in enumerate(task_run.attempts, 1):
                    attempts.append(
                        AttemptRecord(
                            run.id,
                            task_run.id,
                            run.workflow_name,
                            task_run.name,
                            number,
                            names.get(attempt.worker, attempt.worker),
                            pools[task_run.spec.pool],
                            attempt.queued_at,
                            attempt.started_at,
                            attempt.finished_at,
                            attempt.outcome,
                            _first_line(attempt.error),
                        )
                    )
        end = self.loop.time()
        workers = tuple(self.records.values())
        deadlocks = _unique_reports(self.engine)
        metrics = compute_metrics(runs, attempts, workers, end)
        checks = judge(
            self.scenario.assertions, runs, metrics, deadlocks, self.horizon_reached, stalled
        )
        return SimulationResult(
            scenario=self.scenario,
            seed=self.scenario.seed,
            end_time=end,
            horizon_reached=self.horizon_reached,
            runs=tuple(runs),
            attempts=tuple(attempts),
            workers=workers,
            deadlocks=deadlocks,
            metrics=metrics,
            checks=checks,
            stalled=stalled,
            deduplicated=self.deduplicated,
        )

    def _shutdown(self) -> None:
        """Stop what still runs (a horizon cut it short) and free the engine."""
        backend.close_engine(self.url)
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        try:
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        except FlowsimError:
            pass  # a task that ignores cancellation cannot stall a finished simulation
        finally:
            self.loop.close()


def _unique_reports(engine: Engine) -> tuple[DeadlockReport, ...]:
    seen: dict[int, DeadlockReport] = {}
    for report in engine.deadlock_reports():
        seen.setdefault(id(report), report)
    return tuple(sorted(seen.values(), key=lambda r: r.at))
