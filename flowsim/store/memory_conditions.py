"""The in-memory store's conditions: task runs held until ``wait_for``/``skip_if``/
``cancel_if`` decide, and durable tasks' ``aio_wait_for`` waits, fired by events and by
time. What fires is ``flowsim.store.waits``' decision; this part acts on it."""

from __future__ import annotations

from flowsim.rules import RunStatus
from flowsim.store import conditions as cond
from flowsim.store.dag import start_task
from flowsim.store.memory_core import HELD, StoreCore
from flowsim.store.records import JSON, TaskRun, WorkflowRun
from flowsim.store.transitions import Transition
from flowsim.store.waits import Fired, Wait


class ConditionsPart(StoreCore):
    def _start_with_conditions(
        self, run: WorkflowRun, name: str, now: float, ready_at: float
    ) -> Transition | None:
        """A root task with conditions: held from its ready time (a scheduled run's
        ``run_at``) until they decide, or decided at once as a DAG task would be (None:
        queue it as any root)."""
        _, action, satisfied = start_task(run.spec, name, set(), dict)
        if action is cond.Action.QUEUE:
            return None
        task_run = self._create_task(run, name, now, run.priority, ready_at, held=True)
        if action is None:
            task_run.ready_at = HELD
            conditions = task_run.spec.conditions
            self.waits.add(Wait(task_run.id, conditions, ready_at, satisfied))
            due = cond.wake_at(conditions, ready_at, satisfied)
            return Transition(retry_at=[due] if due is not None else [])
        return self._resolve(task_run, action, now)

    @staticmethod
    def _mark_skipped(task_run: TaskRun) -> None:
        task_run.status = RunStatus.COMPLETED
        task_run.output = dict(cond.SKIPPED_OUTPUT)
        task_run.skipped = True

    def _resolve(self, task_run: TaskRun, action: cond.Action, now: float) -> Transition:
        """A held task's conditions fired: queue it (its schedule clock starts now), skip
        it, or cancel it (and so its downstream tasks)."""
        if action is cond.Action.SKIP:
            self._mark_skipped(task_run)
            return self._advance(task_run.workflow_run, now)
        if action is cond.Action.CANCEL:
            return self.cancel_task(task_run, cond.cancel_reason(task_run.name), now)
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = task_run.ready_at = now
        # a held task run arrives in its task-level concurrency groups when it is queued
        cancel_new = self._arrive_task(task_run, now)
        self._enqueue(task_run, now)
        if cancel_new:
            self._cancel_unit(task_run.id, now)
        return Transition(queued=1)

    def _fire(self, fired: Fired, now: float) -> Transition:
        transition = Transition()
        for wait, action in fired:
            if wait.id in self._durable_waits:
                self._wait_results[wait.id] = cond.wait_result(
                    wait.conditions, wait.satisfied, action
                )
                transition.signals.append(wait.id)
                continue
            task_run = self.task_runs[wait.id]
            if task_run.status is RunStatus.QUEUED:
                transition.merge(self._resolve(task_run, action, now))
        return transition

    def push_event(
        self, key: str, payload: JSON, additional_metadata: JSON, now: float
    ) -> Transition:
        """``hatchet.event.push``: satisfy the event conditions it passes and act on the
        waits that fire, oldest first."""
        return self._settle(
            self._fire(self.waits.on_event(key, payload, additional_metadata, now), now)
        )

    def open_wait(
        self,
        wait_id: str,
        task_run_id: str,
        conditions: tuple[cond.ConditionSpec, ...],
        now: float,
    ) -> Transition:
        """A durable task's ``aio_wait_for``: register the wait (once per ``wait_id``);
        ``wait_result`` has its result once it fired (now, or on a later event or time)."""
        if wait_id in self._durable_waits:
            return Transition()
        self._durable_waits[wait_id] = task_run_id
        wait = Wait(wait_id, conditions, now, cond.on_register(conditions, {}))
        action = cond.decide(conditions, wait.satisfied)
        if action is not None:
            return self._fire([(wait, action)], now)
        self.waits.add(wait)
        due = cond.wake_at(conditions, now, wait.satisfied)
        return Transition(retry_at=[due] if due is not None else [])

    def wait_result(self, wait_id: str) -> JSON:
        """A durable wait's result, None while it waits."""
        return self._wait_results.get(wait_id)

    def fire_due_waits(self, now: float) -> Transition:
        """Act on the condition waits whose sleeps elapsed by ``now`` (time-driven, as
        ``expire`` is in a shared store; a claim does not do it)."""
        return self._settle(self._fire(self.waits.on_time(now), now))
