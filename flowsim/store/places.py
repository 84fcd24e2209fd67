"""The in-memory store's concurrency ledger: who holds a place in which group, who waits.

Units are ids: a run id for a workflow-level limit, a task run id for a task-level one.
Every decision is ``flowsim.concurrency``'s; this class only keeps the state those
functions read (holders oldest first, waiters in arrival order) and remembers which groups
changed since the last admission, so admitting looks only where a place may have freed.
"""

from __future__ import annotations

import itertools

from flowsim import rules
from flowsim.concurrency import (
    Gate,
    Group,
    Waiting,
    admit_until_settled,
    group_size,
    plan_arrival,
)


class Places:
    def __init__(self) -> None:
        #: holders by group, each with its arrival sequence (oldest = lowest)
        self._holders: dict[Group, dict[str, int]] = {}
        self._waiters: dict[Group, dict[str, Waiting]] = {}
        self._holding: dict[str, Waiting] = {}
        self._waiting: dict[str, Waiting] = {}
        self._touched: set[Group] = set()

    def holders(self, group: Group) -> list[str]:
        """Oldest arrival first (what CANCEL_IN_PROGRESS cancels first)."""
        held = self._holders.get(group, {})
        return sorted(held, key=held.__getitem__)

    def _held(self, group: Group) -> int:
        return len(self._holders.get(group, ()))

    def waiters(self, group: Group, most: int | None) -> list[str]:
        """The first ``most`` (all for None), in arrival order (what
        CANCEL_QUEUED_EXCEPT_NEWEST cancels first)."""
        return list(itertools.islice(self._waiters.get(group, ()), most))

    def is_waiting(self, unit: str) -> bool:
        return unit in self._waiting

    def is_placed(self, unit: str) -> bool:
        """Whether the unit holds or waits for places (it arrived and has not ended)."""
        return unit in self._holding or unit in self._waiting

    def arrive(self, gates: tuple[Gate, ...]) -> rules.Arrival:
        return plan_arrival(gates, self.holders, self.waiters)

    def hold(self, unit: str, gates: tuple[Gate, ...], seq: int) -> None:
        self._holding[unit] = Waiting(unit, gates, seq)
        for gate in gates:
            self._holders.setdefault(gate.group, {})[unit] = seq

    def wait(self, unit: str, gates: tuple[Gate, ...], seq: int) -> None:
        waiting = Waiting(unit, gates, seq)
        self._waiting[unit] = waiting
        for gate in gates:
            self._waiters.setdefault(gate.group, {})[unit] = waiting

    def release(self, unit: str) -> None:
        """The unit ended: its places free (or it stops waiting). Unknown units are fine:
        every ended task run is offered, whether or not it was a unit."""
        holding = self._holding.pop(unit, None)
        if holding is not None:
            for gate in holding.gates:
                self._holders[gate.group].pop(unit, None)
                self._touched.add(gate.group)
            return
        waiting = self._waiting.pop(unit, None)
        if waiting is not None:
            for gate in waiting.gates:
                self._waiters[gate.group].pop(unit, None)
                self._touched.add(gate.group)

    def admit(self) -> list[str]:
        """Admit what the places freed since the last call let in, in admission order."""
        if not self._touched:
            return []
        touched, self._touched = self._touched, set()
        return admit_until_settled(touched, self._candidates, self._held, self._record)

    def _candidates(self, groups: set[Group]) -> list[Waiting]:
        """Each group's first waiters, as many as it has free places (arrival order: the
        dicts keep it, units arriving in sequence order)."""
        found: dict[str, Waiting] = {}
        for group in groups:
            waiters = self._waiters.get(group)
            if not waiters:
                continue
            head = next(iter(waiters.values()))
            room = group_size(head, group) - self._held(group)
            found.update(itertools.islice(waiters.items(), max(room, 0)))
        return sorted(found.values(), key=lambda unit: unit.seq)

    def _record(self, admitted: list[Waiting]) -> None:
        for waiting in admitted:
            del self._waiting[waiting.unit]
            for gate in waiting.gates:
                self._waiters[gate.group].pop(waiting.unit, None)
            self.hold(waiting.unit, waiting.gates, waiting.seq)
