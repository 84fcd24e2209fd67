"""The in-memory store's concurrency places: a run or task run with limits arrives in its
groups, holds or waits for a place, and frees it when it ends; whom that lets in is
admitted once per operation (``_settle``), as the SQL stores do at commit. The decisions
are ``flowsim.concurrency``'s and ``flowsim.store.places``'."""

from __future__ import annotations

from flowsim import concurrency, rules
from flowsim.store.memory_core import StoreCore
from flowsim.store.records import TaskRun
from flowsim.store.transitions import Transition


class ConcurrencyPart(StoreCore):
    def _arrive_task(self, task_run: TaskRun, now: float) -> bool:
        """A task run with task-level concurrency arrives in its groups (True: it is the
        newcomer its strategy cancels)."""
        if not task_run.spec.concurrency:
            return False
        run = task_run.workflow_run
        gates = concurrency.task_gates(run.spec, task_run.name, run.input, run.additional_metadata)
        return self._arrive(task_run.id, gates, now, task_run.sequence)

    def _blocked(self, task_run: TaskRun) -> bool:
        """A task run may be claimed only while its run and itself hold their places."""
        places = self._places
        return places.is_waiting(task_run.workflow_run.id) or places.is_waiting(task_run.id)

    def _arrive(
        self, unit: str, gates: tuple[concurrency.Gate, ...], now: float, seq: int | None = None
    ) -> bool:
        """A unit arrives (``concurrency.plan_arrival``): cancel the holders and waiting
        units its strategy cancels, then hold or wait. Its arrival order is its task run's
        sequence, or for a run the next sequence, taken before its root task runs'. True
        when the newcomer itself is to be cancelled (the caller does that once its task
        runs exist)."""
        arrival = next(self._sequence) if seq is None else seq
        plan = self._places.arrive(gates)
        if plan.cancel_new:
            return True
        for unit_cancelled in (*plan.cancel_holders, *plan.cancel_waiting):
            self._cancel_unit(unit_cancelled, now)
        if plan.admit:
            self._places.hold(unit, gates, arrival)
        else:
            self._places.wait(unit, gates, arrival)
        return False

    def _cancel_unit(self, unit: str, now: float) -> None:
        """Cancel a run (and what it spawned, as ``cancel_run`` does) or one task run with
        Hatchet's concurrency reason; what that changes is this call's effect."""
        reason = rules.CONCURRENCY_CANCEL_REASON
        if unit in self.runs:
            _, step = self.cancel_family(unit, reason, now)
        else:
            step = self.cancel_task(self.task_runs[unit], reason, now)
        self._effects.merge(step)

    def _ended(self, task_run: TaskRun, now: float) -> Transition:
        """A task run reached a terminal status: advance its DAG and free the places it
        (and its run, if that ended) held. Whom that lets in is admitted once, when the
        whole operation is done (``_settle``), as the SQL stores do at commit."""
        run = task_run.workflow_run
        if not run.spec.limited:
            return self._advance(run, now)
        self._places.release(task_run.id)
        transition = self._advance(run, now)
        if run.status.is_terminal:
            self._places.release(run.id)
        return self._take_effects(transition)

    def _settle(self, transition: Transition) -> Transition:
        """The end of an operation: admit the units the places freed during it let in."""
        for unit in self._places.admit():
            self._unpark(unit)
        return self._take_effects(transition)

    def _unpark(self, unit: str) -> None:
        """A unit was admitted: its parked task runs join the claim queue, behind what is
        queued already (a fresh claim sequence, in admission order)."""
        run = self.runs.get(unit)
        candidates = list(run.tasks.values()) if run is not None else [self.task_runs[unit]]
        for task_run in candidates:
            if task_run.id in self._awaiting_place and not self._blocked(task_run):
                del self._awaiting_place[task_run.id]
                self._push(task_run, next(self._sequence))
                self._effects.queued += 1

    def _take_effects(self, transition: Transition) -> Transition:
        effects = self._effects
        if not (effects.finished or effects.queued or effects.cancelled or effects.retry_at):
            return transition  # the common case, on every result: nothing to move
        self._effects = Transition()
        return transition.merge(effects)
