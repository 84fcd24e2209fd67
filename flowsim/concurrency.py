"""Concurrency limits as pure planning: which run arrives, waits, is admitted or cancelled.

Hatchet's ``ConcurrencyExpression`` puts a run (workflow-level ``concurrency=``) or a task
run (task-level) in a *group*: the limit's CEL key evaluated on the run's input and
additional metadata. A group has ``max_runs`` places. A *unit* (the run, or the task run)
takes a place in every group its limits name ("all must admit") and keeps it until it
ends; its task runs are claimable only while it holds them. What happens to a unit that
arrives when a group is full is its strategy's (``rules.on_arrival``); units that wait
are admitted as places free, across groups in round-robin order
(``rules.round_robin_order``).

Every store calls these functions with what it has stored, so the in-memory reference, the
SQL stores and the simulator decide alike; none of them re-derives a rule. Nothing here
reads a clock or holds state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowsim import rules
from flowsim.cel import KeyExpression, parse_key
from flowsim.cel_predicate import Predicate, parse_predicate
from flowsim.errors import InvalidInputError, WorkflowDefinitionError

if TYPE_CHECKING:  # records imports the store package, which imports this module
    from flowsim.store.records import ConcurrencyLimit, WorkflowSpec

#: a group: (the limit's strategy id, the evaluated key)
Group = tuple[str, str]
#: the scope of a workflow-level limit; a task-level limit's scope is the task's name
WORKFLOW_SCOPE = ""


@dataclass(frozen=True, slots=True)
class Gate:
    """One limit as it applies to one unit: the group it names and that group's size."""

    strategy_id: str
    key: str
    max_runs: int
    strategy: rules.ConcurrencyStrategy

    @property
    def group(self) -> Group:
        return (self.strategy_id, self.key)


@dataclass(frozen=True, slots=True)
class Waiting:
    """A unit waiting for places: its gates and its arrival sequence (FIFO in a group)."""

    unit: str
    gates: tuple[Gate, ...]
    seq: int


def strategy_id(workflow: str, scope: str, index: int) -> str:
    """Limits are per workflow, per task (or the workflow itself) and per position in the
    list: two workflows with the same expression do not share places, as in Hatchet."""
    return f"{workflow}/{scope}#{index}"


def shared_strategy_id(name: str) -> str:
    """A shared (tenant-scoped) limit's places, one set for every workflow and task that
    declares its name (Hatchet engine 0.106+: "every task in every workflow that declares
    the same name consumes the same concurrency limit")."""
    return f"tenant:{name}"


@functools.lru_cache(maxsize=1024)
def parsed(expression: str) -> KeyExpression:
    return parse_key(expression)


@functools.lru_cache(maxsize=1024)
def parsed_max_runs(expression: str) -> Predicate:
    """A ``max_runs`` given as CEL (Hatchet engine 0.106+: "compute the limit per key with
    a CEL expression over the task's input", e.g. ``input.tier == 'premium' ? 10 : 1``)."""
    return parse_predicate(expression, ("input", "additional_metadata"), "concurrency",
                           "max_runs expression")  # fmt: skip


def max_runs_of(limit: ConcurrencyLimit, input: Mapping[str, Any],
                metadata: Mapping[str, Any]) -> int:  # fmt: skip
    """The group size a unit arrives with: the limit's number, or its expression evaluated
    on the run's input and metadata, which must give a positive integer (else the run is
    refused when triggered, as a key that cannot be evaluated is)."""
    if isinstance(limit.max_runs, int):
        return limit.max_runs
    shown = f"max_runs expression {limit.max_runs!r}"
    try:
        value = parsed_max_runs(limit.max_runs).value(
            {"input": input, "additional_metadata": metadata}
        )
    except ValueError as exc:
        raise InvalidInputError(f"{shown} cannot be evaluated: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{shown} gave {value!r}; it must give a positive integer")
    return value


def check_limits(workflow: str, where: str, limits: Iterable[ConcurrencyLimit]) -> None:
    """Parse every key (and ``max_runs`` expression) at definition time, naming the
    workflow (and task) it belongs to."""
    for limit in limits:
        try:
            parsed(limit.expression)
            if isinstance(limit.max_runs, str):
                parsed_max_runs(limit.max_runs)
        except WorkflowDefinitionError as exc:
            raise WorkflowDefinitionError(f"workflow {workflow!r}{where}: {exc}") from None


def check_shared(specs: Iterable[WorkflowSpec]) -> None:
    """What Hatchet checks when workflows register: a shared limit is defined the same
    wherever it is declared (Hatchet keeps one definition per name, the last registered:
    two different ones would leave runs of one group under two limits here), and every
    list orders the shared limits it declares alike ("registrations whose chains order
    the same shared strategies differently are rejected, since inconsistent orders can
    deadlock")."""
    first: dict[str, tuple[ConcurrencyLimit, str]] = {}
    ordered: dict[tuple[str, str], str] = {}
    for spec in specs:
        chains = [(f"workflow {spec.name!r}", spec.concurrency)]
        chains += [(f"workflow {spec.name!r} task {t.name!r}", t.concurrency)
                   for t in spec.tasks.values()]  # fmt: skip
        for where, chain in chains:
            names = [limit.shared for limit in chain if limit.shared is not None]
            for limit in chain:
                if limit.shared is None:
                    continue
                known, there = first.setdefault(limit.shared, (limit, where))
                if known != limit:
                    raise WorkflowDefinitionError(
                        f"{where}: the shared concurrency limit {limit.shared!r} is "
                        f"{_described(limit)} here but {_described(known)} in {there}; "
                        "a shared limit has one definition: declare the same one everywhere"
                    )
            for index, earlier in enumerate(names):
                for later in names[index + 1 :]:
                    if (later, earlier) in ordered:
                        raise WorkflowDefinitionError(
                            f"{where}: lists the shared concurrency limits {earlier!r} before "
                            f"{later!r}, {ordered[(later, earlier)]} the other way round; "
                            "Hatchet refuses chains that order shared limits differently "
                            "(they can deadlock): use one order everywhere"
                        )
                    ordered.setdefault((earlier, later), where)


def _described(limit: ConcurrencyLimit) -> str:
    return f"({limit.expression!r}, max_runs={limit.max_runs}, {limit.strategy.value})"


def gates(
    workflow: str,
    scope: str,
    limits: Sequence[ConcurrencyLimit],
    input: Any,
    metadata: Mapping[str, Any],
) -> tuple[Gate, ...]:
    """The unit's gates, its keys evaluated on the run's input and additional metadata;
    ``InvalidInputError`` names the workflow and the expression a run cannot satisfy."""
    result = []
    for index, limit in enumerate(limits):
        given = input if isinstance(input, Mapping) else {}
        try:
            key = parsed(limit.expression).evaluate(given, metadata)
            max_runs = max_runs_of(limit, given, metadata)
        except InvalidInputError as exc:
            where = f" task {scope!r}" if scope else ""
            raise InvalidInputError(
                f"workflow {workflow!r}{where}: {exc}. Nothing was queued."
            ) from None
        if limit.shared is None:
            sid = strategy_id(workflow, scope, index)
        else:
            sid = shared_strategy_id(limit.shared)
        result.append(Gate(sid, key, max_runs, limit.strategy))
    return tuple(result)


def run_gates(spec: WorkflowSpec, input: Any, metadata: Mapping[str, Any]) -> tuple[Gate, ...]:
    """A run's workflow-level gates."""
    return gates(spec.name, WORKFLOW_SCOPE, spec.concurrency, input, metadata)


def task_gates(
    spec: WorkflowSpec, task: str, input: Any, metadata: Mapping[str, Any]
) -> tuple[Gate, ...]:
    """A task run's task-level gates (keys evaluated on its run's input)."""
    return gates(spec.name, task, spec.tasks[task].concurrency, input, metadata)


def cancels_running(spec: WorkflowSpec) -> bool:
    """Whether triggering the workflow (or advancing its DAG) may cancel a running task
    elsewhere: a worker holding one then has to look (CANCEL_IN_PROGRESS)."""
    limits = [*spec.concurrency, *(lim for t in spec.tasks.values() for lim in t.concurrency)]
    return any(lim.strategy is rules.ConcurrencyStrategy.CANCEL_IN_PROGRESS for lim in limits)


def check_run(spec: WorkflowSpec, input: Any, metadata: Mapping[str, Any]) -> None:
    """Evaluate every key a run will need, so a run none of whose keys can be computed is
    refused when triggered (and a DAG task created later cannot fail to evaluate)."""
    run_gates(spec, input, metadata)
    for name, task in spec.tasks.items():
        if task.concurrency:
            task_gates(spec, name, input, metadata)


class Triggered(Protocol):
    """A run about to be created, as the engine and the stores each hold one."""

    @property
    def spec(self) -> WorkflowSpec: ...
    @property
    def input(self) -> Any: ...
    @property
    def additional_metadata(self) -> Mapping[str, Any]: ...


def check_runs(items: Iterable[Triggered], inherited: Mapping[str, Any]) -> None:
    """``check_run`` of every limited item, with the metadata its run will have (the
    spawner's ``inherited``, the item's own keys winning): one bad key refuses them all,
    before anything is written."""
    for item in items:
        if item.spec.limited:
            check_run(item.spec, item.input, {**inherited, **item.additional_metadata})


def waiting_needed(gate: Gate) -> int | None:
    """How many of a group's waiting units (oldest first) its strategy looks at when a
    unit arrives, so a store reads no more of a long queue than that: whether anyone waits
    (GROUP_ROUND_ROBIN), whether the queue is full (EXCEPT_OLDEST), all of it for
    EXCEPT_NEWEST (its arrivals keep it ``max_runs`` deep), none for the others."""
    strategy = gate.strategy
    if strategy is rules.ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_NEWEST:
        return None
    if strategy is rules.ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_OLDEST:
        return gate.max_runs
    return 1 if strategy.queues else 0


def plan_arrival(
    arriving: Sequence[Gate],
    holders: Callable[[Group], list[str]],
    waiting: Callable[[Group, int | None], list[str]],
) -> rules.Arrival:
    """What a unit arriving with these gates does, given each group's holders and the
    units waiting in it (both oldest first; ``waiting(group, most)`` gives at most ``most``
    of them, all for None). A full CANCEL_NEWEST group, or a
    CANCEL_QUEUED_EXCEPT_OLDEST group whose queue is full, cancels the newcomer (nothing
    else happens); otherwise every full CANCEL_IN_PROGRESS group cancels its oldest holders
    to make room, every CANCEL_QUEUED_EXCEPT_NEWEST group its oldest waiting units beyond
    its depth, and the newcomer is admitted if every group whose strategy queues then has
    room and nobody waits there before it, else it waits."""

    def waiting_in(gate: Gate, most: int | None) -> list[str]:
        return [] if most == 0 else waiting(gate.group, most)

    decisions = [
        (gate, rules.on_arrival(gate.strategy, gate.max_runs, holders(gate.group),
                                waiting_in(gate, waiting_needed(gate))))
        for gate in arriving
    ]  # fmt: skip
    if any(decision.cancel_new for _, decision in decisions):
        return rules.Arrival(admit=False, cancel_new=True)
    cancelled: dict[str, None] = {}
    cancelled_waiting: dict[str, None] = {}
    for _, decision in decisions:
        cancelled.update(dict.fromkeys(decision.cancel_holders))
        cancelled_waiting.update(dict.fromkeys(decision.cancel_waiting))
    admit = True
    for gate, decision in decisions:
        if gate.strategy.queues and not decision.admit:
            # a place a cancelled holder frees in this group counts
            left = [unit for unit in holders(gate.group) if unit not in cancelled]
            if len(left) >= gate.max_runs or waiting_in(gate, 1):
                admit = False
    return rules.Arrival(
        admit=admit, cancel_holders=tuple(cancelled), cancel_waiting=tuple(cancelled_waiting)
    )


def plan_admissions(candidates: Sequence[Waiting], held: Callable[[Group], int]) -> list[str]:
    """The waiting units to admit now, in the order they are admitted: round-robin across
    groups (by each unit's first group), first come first within a group, each only if
    every one of its groups has a place left."""
    order = rules.round_robin_order(
        [("\0".join(unit.gates[0].group), unit.seq) for unit in candidates]
    )
    taken: dict[Group, int] = {}
    admitted: list[str] = []
    for index in order:
        unit = candidates[index]
        groups = [gate.group for gate in unit.gates]
        for gate, group in zip(unit.gates, groups, strict=True):
            if group not in taken:
                taken[group] = held(group)
            if taken[group] >= gate.max_runs:
                break
        else:
            for group in groups:
                taken[group] += 1
            admitted.append(unit.unit)
    return admitted


def waiting_units(rows: Iterable[tuple[str, str, str, int, str, int]]) -> list[Waiting]:
    """Waiting units from stored rows ``(unit, strategy id, key, max_runs, strategy,
    arrival)``, each unit's rows in its limits' order; the units in arrival order (how a
    SQL store reads its candidates for ``admit_until_settled``)."""
    gates: dict[str, list[Gate]] = {}
    seqs: dict[str, int] = {}
    for unit, sid, key, max_runs, strategy, seq in rows:
        gates.setdefault(unit, []).append(
            Gate(sid, key, int(max_runs), rules.ConcurrencyStrategy(strategy))
        )
        seqs[unit] = int(seq)
    waiting = [Waiting(unit, tuple(unit_gates), seqs[unit]) for unit, unit_gates in gates.items()]
    return sorted(waiting, key=lambda unit: unit.seq)


def group_size(unit: Waiting, group: Group) -> int:
    """The places of ``group``, as the unit's gate for it says."""
    return next(gate.max_runs for gate in unit.gates if gate.group == group)


def admit_until_settled(
    touched: Iterable[Group],
    candidates: Callable[[set[Group]], list[Waiting]],
    held: Callable[[Group], int],
    admit: Callable[[list[Waiting]], None],
) -> list[str]:
    """Admit waiting units after places freed in the ``touched`` groups. A unit admitted
    leaves the wait in every group it names, which may let a unit behind it there in: so
    the groups of admitted units are looked at again, until nothing more is admitted.
    ``candidates`` lists, for each given group, its first waiting units, as many as the
    group has free places (a group's queue is first come first served: a unit blocked by
    another of its groups holds up those behind it there), in arrival order; ``held``
    counts a group's holders and ``admit`` records units as holders. Looking at no more
    than the free places keeps an admission O(places), whatever the backlog."""
    groups = set(touched)
    admitted: list[str] = []
    while groups:
        waiting = candidates(groups)
        if not waiting:
            break
        by_unit = {unit.unit: unit for unit in waiting}
        ordered = [by_unit[unit] for unit in plan_admissions(waiting, held)]
        if not ordered:
            break
        admit(ordered)
        admitted.extend(unit.unit for unit in ordered)
        groups = {gate.group for unit in ordered for gate in unit.gates}
    return admitted
