"""Run a generated scenario on a real flowsim engine, instrumented, and check the result
against the oracle and the slot model.

Each scenario gets its own backend URL (fresh engine, no shared state), its own event loop
(``asyncio.run``) and is reset afterwards. Task bodies are instrumented: they count how
many bodies run at once per worker and slot pool, and how often each (run, retry) body is
invoked. Waits are bounded, so an engine that hangs fails the example instead of hanging
the suite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from flowsim import (
    BaseWorkflow,
    Context,
    DurableContext,
    FailedTaskRunExceptionGroup,
    Hatchet,
    SlotDeadlockError,
    backend,
)
from flowsim.store.records import WorkflowRun
from tests.property.model import (
    ROOT_X,
    TASK_NAME,
    Node,
    NodeType,
    Scenario,
    child_x,
    expected_output,
    node_types,
    scenario_bounds,
    scenario_deadlocks,
    uniform_style,
    walk,
)

#: generous: these runs take milliseconds; the bound only turns a hang into a failure
TIMEOUT = 2.0


class NodeInput(BaseModel):
    x: int
    spec: dict[str, Any]


class InjectedError(RuntimeError):
    """The failure a node raises on its first ``fails`` attempts."""


@dataclass(repr=False)
class Probe:
    """What the task bodies saw."""

    running: Counter[tuple[str, str]] = field(default_factory=Counter)
    peak: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: (workflow run id, retry count) -> worker id the body ran on
    placed: dict[tuple[str, int], str] = field(default_factory=dict)
    #: workflow run id -> times the engine reported the run finished to its waiters
    finished: Counter[str] = field(default_factory=Counter)

    def enter(self, ctx: Context) -> tuple[str, str]:
        key = (ctx.worker_id, "durable" if isinstance(ctx, DurableContext) else "default")
        self.running[key] += 1
        self.peak[key] = max(self.peak[key], self.running[key])
        self.calls[(ctx.workflow_run_id, ctx.retry_count)] += 1
        self.placed[(ctx.workflow_run_id, ctx.retry_count)] = ctx.worker_id
        return key

    def leave(self, key: tuple[str, str]) -> None:
        self.running[key] -= 1


@dataclass(repr=False)
class Outcome:
    result: Any = None
    error: BaseException | None = None
    hung: str | None = None
    #: on a hang: whether the engine's own stall analysis sees a stall it never raised
    stall_on_hang: bool | None = None
    elapsed: float = 0.0
    runs: dict[str, WorkflowRun] = field(default_factory=dict)
    worker_names: dict[str, str] = field(default_factory=dict)
    held_at_end: dict[str, dict[str, int]] = field(default_factory=dict)
    probe: Probe = field(default_factory=Probe)

    def __repr__(self) -> str:  # compact: pytest prints it when an assertion fails
        ended = self.error if self.error is not None else self.hung or "returned"
        return f"<Outcome {ended!r:.200} runs={len(self.runs)} elapsed={self.elapsed:.3f}s>"


def define_workflows(hatchet: Hatchet, tree: Node, probe: Probe) -> dict[str, BaseWorkflow]:
    """One workflow per node type; a single body runs any node, its subtree in its input."""
    registry: dict[str, BaseWorkflow] = {}

    async def body(input: NodeInput, ctx: Context) -> dict[str, Any]:
        key = probe.enter(ctx)
        try:
            spec = input.spec
            children: list[dict[str, Any]] = spec["children"]
            inputs = [
                NodeInput(x=child_x(input.x, index), spec=child)
                for index, child in enumerate(children)
            ]
            results: list[Any] = []
            if children and spec["style"] == "gather":
                results = await asyncio.gather(
                    *(
                        registry[child["type"]].aio_run(child_input)
                        for child, child_input in zip(children, inputs, strict=True)
                    ),
                    return_exceptions=True,
                )
            elif children:
                (workflow_name,) = {child["type"] for child in children}
                workflow = registry[workflow_name]
                results = await workflow.aio_run_many(
                    [workflow.create_bulk_run_item(input=item) for item in inputs],
                    return_exceptions=True,
                )
            folded: list[Any] = []
            for result in results:
                if isinstance(result, FailedTaskRunExceptionGroup):
                    folded.append({"failed": True})
                elif isinstance(result, BaseException):
                    raise result  # a deadlock: not ours to fold
                else:
                    folded.append(result)
            if ctx.retry_count < spec["fails"]:
                raise InjectedError(f"x={input.x} attempt {ctx.attempt_number}")
            return {"x": input.x, "children": folded}
        finally:
            probe.leave(key)

    # The slot model has no eviction: durable nodes are pinned to their slots (eviction_policy
    # None). Eviction frees them (tests/sim/test_durable_eviction.py and
    # tests/acceptance/test_durable.py prove that), which the model would call a deadlock.
    pinned: dict[str, Any] = {"eviction_policy": None}
    for node_type in node_types(tree):
        name = node_type.workflow_name
        options = pinned if node_type.durable else {}
        if node_type.kind == "standalone":
            factory = hatchet.durable_task if node_type.durable else hatchet.task
            registry[name] = factory(
                name=name, input_validator=NodeInput, retries=node_type.retries, **options
            )(body)
        else:
            workflow = hatchet.workflow(name=name, input_validator=NodeInput)
            decorator = workflow.durable_task if node_type.durable else workflow.task
            decorator(name=TASK_NAME, retries=node_type.retries, **options)(body)
            registry[name] = workflow
    return registry


async def _until(predicate: Callable[[], bool]) -> None:
    """Let the engine loop run until the store shows ``predicate`` (bounded by the caller)."""
    while not predicate():  # noqa: ASYNC110 - we observe the store; there is no event to await
        await asyncio.sleep(0)


async def run_scenario(scenario: Scenario) -> Outcome:
    outcome = Outcome()
    hatchet = Hatchet(backend=f"memory://prop-{uuid.uuid4().hex}")
    engine = hatchet.engine
    probe = outcome.probe

    # count how often the engine reports each run finished (it must be exactly once)
    finish_waiters = engine._finish_waiters

    def counting_finish(run: WorkflowRun) -> None:
        probe.finished[run.id] += 1
        finish_waiters(run)

    engine._finish_waiters = counting_finish  # type: ignore[method-assign]

    registry = define_workflows(hatchet, scenario.tree, probe)
    types = node_types(scenario.tree)
    workers = [
        hatchet.worker(
            spec.name,
            slots=spec.slots,
            durable_slots=spec.durable_slots,
            workflows=[registry[t.workflow_name] for t in types if t.group in spec.groups],
        )
        for spec in scenario.workers
    ]
    root = registry[scenario.tree.type.workflow_name]
    outcome.runs = engine.store.runs
    try:
        for worker in workers:
            await worker.__aenter__()
        outcome.worker_names = {runtime.id: runtime.name for runtime in engine.workers()}
        started = time.monotonic()
        try:
            outcome.result = await asyncio.wait_for(
                root.aio_run(NodeInput(x=ROOT_X, spec=scenario.tree.spec())), TIMEOUT
            )
        except TimeoutError:
            outcome.hung = f"the root run did not end within {TIMEOUT}s"
            return outcome
        except (SlotDeadlockError, FailedTaskRunExceptionGroup) as exc:
            outcome.error = exc
        outcome.elapsed = time.monotonic() - started
        # after a deadlock the runs caught in it fail and the rest still run: wait for that
        try:
            await asyncio.wait_for(
                _until(lambda: all(run.status.is_terminal for run in outcome.runs.values())),
                TIMEOUT,
            )
        except TimeoutError:
            outcome.hung = f"runs still not terminal {TIMEOUT}s after the root ended"
            return outcome
        outcome.held_at_end = {
            runtime.name: {pool.value: count for pool, count in runtime.held.items()}
            for runtime in engine.workers()
        }
        try:
            for worker in reversed(workers):
                await asyncio.wait_for(worker.aio_stop(), TIMEOUT)
        except TimeoutError:
            outcome.hung = f"a worker did not drain within {TIMEOUT}s after every run ended"
        return outcome
    finally:
        if outcome.hung is not None:
            outcome.stall_on_hang = engine.find_stall() is not None
            engine.close()  # cancels stuck attempts; draining would wait for them forever
        backend.reset()


def run(scenario: Scenario) -> Outcome:
    return asyncio.run(run_scenario(scenario))


# ---------------------------------------------------------------- checks


def describe(scenario: Scenario) -> str:
    lines = [f"layout={scenario.layout} workers={scenario.workers}"]
    for path, x, node in walk(scenario.tree):
        lines.append(
            f"{'  ' * len(path)}x={x} {node.type.workflow_name} fails={node.fails} "
            f"style={node.style}"
        )
    return "\n".join(lines)


def check(scenario: Scenario, outcome: Outcome) -> None:
    """Every property, on one run of one scenario."""
    where = describe(scenario)
    exact = uniform_style(scenario.tree)
    bounds = scenario_bounds(scenario)
    model = scenario_deadlocks(scenario) if exact else None
    verdict = f"model deadlock={model}" if exact else f"bounds={bounds}"
    assert outcome.hung is None, (
        f"{outcome.hung}; {verdict}, engine.find_stall() sees a stall={outcome.stall_on_hang}"
        f"\n{where}"
    )

    # SlotDeadlockError iff the slot model says the configuration deadlocks
    deadlocked = isinstance(outcome.error, SlotDeadlockError)
    raised = f"engine raised {outcome.error!r:.300}; {verdict}\n{where}"
    if exact:
        assert deadlocked == model, raised
    else:  # mixed styles: the spawn order depends on timing, only the bounds are certain
        assert deadlocked or not bounds.certain, raised
        assert bounds.possible or not deadlocked, raised
    if isinstance(outcome.error, SlotDeadlockError):
        assert outcome.elapsed < 1.0, f"deadlock took {outcome.elapsed:.2f}s to report"
        report = outcome.error.report
        assert report.holders and all(holder.waiting_for for holder in report.holders), where

    nodes = {x: (path, node) for path, x, node in walk(scenario.tree)}
    check_runs_end_exactly_once(outcome, nodes, deadlocked, where)
    check_slots(scenario, outcome, where)
    if not deadlocked:
        check_outputs(scenario, outcome, where)
    else:
        check_outputs_untouched_by_the_deadlock(outcome, nodes, where)


def check_runs_end_exactly_once(
    outcome: Outcome, nodes: dict[int, tuple[Any, Node]], deadlocked: bool, where: str
) -> None:
    runs = list(outcome.runs.values())
    by_x = {run.input["x"]: run for run in runs}
    # one run per node: retried parents re-attach to the children they already spawned
    assert len(runs) == len(nodes) and set(by_x) == set(nodes), (
        f"{len(runs)} runs for {len(nodes)} nodes\n{where}"
    )
    attempts_total = 0
    for x, run in by_x.items():
        _, node = nodes[x]
        assert run.status.is_terminal and run.finished_at is not None, f"x={x}: {run.status}"
        assert outcome.probe.finished[run.id] == 1, (
            f"x={x}: reported finished {outcome.probe.finished[run.id]} times\n{where}"
        )
        [task] = run.tasks.values()
        assert task.status == run.status
        attempts = task.attempts
        attempts_total += len(attempts)
        assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
        assert all(a.finished_at is not None for a in attempts), f"x={x}: unfinished attempt"
        # each attempt ran its body exactly once, on the worker the engine recorded
        for retry, attempt in enumerate(attempts):
            assert outcome.probe.calls[(run.id, retry)] == 1, (
                f"x={x} retry {retry}: body ran {outcome.probe.calls[(run.id, retry)]} times"
            )
            assert outcome.probe.placed[(run.id, retry)] == attempt.worker
        if deadlocked:
            assert len(attempts) <= node.attempts, f"x={x}: {len(attempts)} attempts\n{where}"
        else:
            expected_status = "COMPLETED" if node.succeeds else "FAILED"
            assert run.status == expected_status, f"x={x}: {run.status}\n{where}"
            assert len(attempts) == node.attempts, (
                f"x={x}: {len(attempts)} attempts, expected {node.attempts}\n{where}"
            )
            errors = [a.error for a in attempts]
            failed_attempts = node.attempts if not node.succeeds else node.attempts - 1
            assert all(e is not None and "InjectedError" in e for e in errors[:failed_attempts])
            assert all(e is None for e in errors[failed_attempts:])
    assert sum(outcome.probe.calls.values()) == attempts_total, "a body ran outside any attempt"


def check_slots(scenario: Scenario, outcome: Outcome, where: str) -> None:
    specs = {spec.name: spec for spec in scenario.workers}
    for (worker_id, pool), peak in outcome.probe.peak.items():
        spec = specs[outcome.worker_names[worker_id]]
        capacity = spec.capacity(pool == "durable")
        assert peak <= capacity, (
            f"{peak} {pool} task bodies ran at once on {spec.name} ({capacity} slots)\n{where}"
        )
    for name, held in outcome.held_at_end.items():
        assert all(count == 0 for count in held.values()), f"{name} still holds {held}"
    # a run only ever ran on a worker that registers its workflow
    types: dict[str, NodeType] = {t.workflow_name: t for t in node_types(scenario.tree)}
    for run in outcome.runs.values():
        node_type = types[run.workflow_name]
        [task] = run.tasks.values()
        for attempt in task.attempts:
            name = outcome.worker_names[attempt.worker]
            assert node_type.group in specs[name].groups, f"{run.workflow_name} ran on {name}"


def check_outputs(scenario: Scenario, outcome: Outcome, where: str) -> None:
    tree = scenario.tree
    expected = expected_output(tree)
    if expected is None:
        assert isinstance(outcome.error, FailedTaskRunExceptionGroup), (
            f"root should fail, got {outcome.result!r:.300}\n{where}"
        )
        [error] = outcome.error.exceptions
        assert error.exc_type == "InjectedError"
        return
    assert outcome.error is None, f"unexpected {outcome.error!r:.300}\n{where}"
    if tree.type.kind == "workflow":
        expected = {TASK_NAME: expected}
    assert outcome.result == expected, f"result differs from the oracle\n{where}"


def check_outputs_untouched_by_the_deadlock(
    outcome: Outcome, nodes: dict[int, tuple[Any, Node]], where: str
) -> None:
    """After a deadlock, a run none of whose subtree failed with the deadlock still returns
    what the oracle says (the deadlock did not corrupt unrelated results)."""
    by_x = {run.input["x"]: run for run in outcome.runs.values()}
    caught = {
        x
        for x, run in by_x.items()
        for task in run.tasks.values()
        for attempt in task.attempts
        if attempt.error is not None and "SlotDeadlockError" in attempt.error
    }
    assert caught, f"a deadlock was raised but no run failed with it\n{where}"
    for x, run in by_x.items():
        path, node = nodes[x]
        subtree = {child for child, (p, _) in nodes.items() if p[: len(path)] == path}
        if run.status != "COMPLETED" or subtree & caught:
            continue
        [task] = run.tasks.values()
        assert task.output == expected_output(node, x), f"x={x}: output differs\n{where}"
