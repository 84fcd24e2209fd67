"""Cron triggers: a run of a workflow at every tick of a cron expression, on the engine clock.

Hatchet's server fires crons; here the engine of every process that runs a worker does, on
its injected clock (so a simulated day of ``*/5 * * * *`` is 288 runs in milliseconds).
Several processes sharing a SQLite file or a Postgres database fire the same tick; the run
is created with a trigger key naming the cron and the tick (``rules.trigger_spawn_key``),
so the store creates it once. Ticks pass only while a worker runs (the engine has a loop):
ticks missed while none ran are not back-filled, as a Hatchet server that was down does
not either.

Two kinds of cron: a workflow's ``on_crons=``, which the engine of a worker registering
the workflow adds, and crons made at runtime (``hatchet.cron.create``), which live in the
store (``flowsim.store.cron_records``) and which the engine mirrors with ``sync_stored``
whenever it is told of a change and, on a shared store, at every heartbeat: a cron made or
deleted by another process is fired or stopped here within a third of a lease.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from croniter import croniter

from flowsim.clock import Clock, TimerHandle
from flowsim.errors import WorkflowDefinitionError
from flowsim.store.cron_records import StoredCron
from flowsim.store.records import JSON, WorkflowSpec
from flowsim.store.transitions import NewRun

#: Hatchet's ticker parses crons with gocron's ``CronJob(expression, withSeconds=true)``:
#: five fields, or six with the seconds *first* (``30 */5 * * * *`` is second 30 of every
#: fifth minute). croniter reads a sixth field as seconds last unless told otherwise.
SECONDS_FIRST = True


def is_cron_expression(expression: object) -> bool:
    """Five or six fields (seconds first), or an alias such as ``@daily``."""
    if not isinstance(expression, str):
        return False
    fields = expression.split()
    if not fields or (not fields[0].startswith("@") and len(fields) not in (5, 6)):
        return False  # croniter would also take a seventh field, a year: Hatchet does not
    return bool(croniter.is_valid(expression, second_at_beginning=SECONDS_FIRST))


def check_expression(expression: str, where: str) -> str:
    """A cron expression Hatchet's server would schedule."""
    if not is_cron_expression(expression):
        raise WorkflowDefinitionError(
            f"{where}: {expression!r} is not a cron expression; use five fields "
            "(minute hour day-of-month month day-of-week, in UTC), e.g. '*/5 * * * *', six "
            "with seconds first, e.g. '*/10 * * * * *', or an alias such as '@daily'"
        )
    return expression


def ticks_after(expression: str, after: float) -> Iterator[float]:
    """The ticks strictly after ``after`` (seconds since the epoch, UTC), in order."""
    ticks = croniter(expression, after, second_at_beginning=SECONDS_FIRST)
    while True:
        yield float(ticks.get_next(float))


def next_tick(expression: str, after: float) -> float:
    """The first tick strictly after ``after``."""
    return next(ticks_after(expression, after))


#: additional metadata Hatchet's ticker adds to every run a cron makes (its keys win over
#: the cron's own metadata of the same names)
CRON_EXPRESSION_KEY = "hatchet__cron_expression"
CRON_NAME_KEY = "hatchet__cron_name"


@dataclass(frozen=True, slots=True)
class CronTrigger:
    """One cron: which workflow to run at each tick, with what input and options."""

    id: str
    name: str
    spec: WorkflowSpec
    expression: str
    input: JSON
    additional_metadata: dict[str, JSON] = field(default_factory=dict)
    priority: int = 1
    #: made at runtime and kept in the store (else declared with ``on_crons=``)
    stored: bool = False

    def run_at_tick(self, tick: float) -> NewRun:
        key = f"cron:{self.id}:{tick!r}"
        # a declared cron has no name in Hatchet's store (NULL), which its ticker passes on
        # as '' (flowsim lists it under its expression)
        metadata = {**self.additional_metadata, CRON_EXPRESSION_KEY: self.expression,
                    CRON_NAME_KEY: self.name if self.stored else ""}  # fmt: skip
        return NewRun(self.spec, self.input, metadata, self.priority, trigger_key=key)


def stored_trigger(cron: StoredCron, spec: WorkflowSpec) -> CronTrigger:
    """The trigger of a cron kept in the store, for a workflow this engine serves."""
    return CronTrigger(
        cron.id, cron.name, spec, cron.expression, cron.input,
        dict(cron.additional_metadata), cron.priority, stored=True,
    )  # fmt: skip


@runtime_checkable
class DeclaresCrons(Protocol):
    """A registered workflow with ``on_crons=``: its worker's engine fires them."""

    def cron_triggers(self) -> list[CronTrigger]: ...


class CronTable:
    """The engine's crons and one clock timer per cron, re-armed after every tick.

    The table is changed by whoever holds the engine's lock, from any thread (a sync
    test's ``hatchet.cron.create`` runs on the test's thread, its worker's loop on
    another); its timers are set and cancelled only through ``on_loop``, on the engine
    loop, where a system clock's timers live (asyncio's ``call_later`` is not safe from
    another thread)."""

    def __init__(
        self,
        clock: Clock,
        post: Callable[[Callable[[], None]], None],
        fire: Callable[[NewRun], object],
        on_loop: Callable[[Callable[[], None]], None],
    ) -> None:
        self._clock = clock
        self._post = post
        self._fire = fire
        self._on_loop = on_loop
        self._crons: dict[str, CronTrigger] = {}
        self._added: dict[str, float] = {}
        self._timers: dict[str, TimerHandle] = {}
        self._running = False

    def added_at(self, cron_id: str) -> float:
        """When the cron was added here (a declared cron's "created at": when a worker
        registered its workflow)."""
        return self._added[cron_id]

    def drop_declared(self, gone: Callable[[CronTrigger], bool]) -> None:
        """Remove the declared crons ``gone`` says (their workflow is no longer served)."""
        for cron in [cron for cron in self._crons.values() if not cron.stored and gone(cron)]:
            self.remove(cron.id)

    def declared(self) -> list[CronTrigger]:
        return [cron for cron in self._crons.values() if not cron.stored]

    def remove_declared(self, cron_id: str) -> bool:
        """Remove a declared cron; False if there is none by that id (a stored one is the
        store's to delete)."""
        cron = self._crons.get(cron_id)
        return cron is not None and not cron.stored and self.remove(cron_id)

    def sync_stored(self, wanted: Iterable[CronTrigger]) -> None:
        """Make the stored crons here those of ``wanted``: add the new ones, remove those
        deleted (a stored cron never changes: it is made and deleted, never updated)."""
        wanted_by_id = {cron.id: cron for cron in wanted}
        gone = [i for i, cron in self._crons.items() if cron.stored and i not in wanted_by_id]
        for cron_id in gone:
            self.remove(cron_id)
        for cron_id, cron in wanted_by_id.items():
            if cron_id not in self._crons:
                self.add(cron)

    def add(self, cron: CronTrigger) -> None:
        """Register (or replace) a cron; its first tick is the next one after now."""
        self.remove(cron.id)
        self._crons[cron.id] = cron
        now = self._added[cron.id] = self._clock.now()
        if self._running:
            self._on_loop(lambda: self._arm_if_current(cron, now))

    def remove(self, cron_id: str) -> bool:
        """Remove the cron; whether there was one. A tick already on its way finds it gone
        and fires nothing."""
        self._added.pop(cron_id, None)
        existed = self._crons.pop(cron_id, None) is not None
        timer = self._timers.pop(cron_id, None)
        if timer is not None:
            self._on_loop(timer.cancel)
        return existed

    def start(self) -> None:
        """A worker started: ticks from now on are fired."""
        self._running = True
        now = self._clock.now()
        for cron in self._crons.values():
            self._on_loop(functools.partial(self._arm_if_current, cron, now))

    def stop(self) -> None:
        self._running = False
        timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            self._on_loop(timer.cancel)

    def _arm_if_current(self, cron: CronTrigger, after: float) -> None:
        """Arm the cron, unless it was removed, replaced or armed meanwhile, or the table
        stopped."""
        if self._running and self._crons.get(cron.id) is cron and cron.id not in self._timers:
            self._arm(cron, after)

    def _arm(self, cron: CronTrigger, after: float) -> None:
        tick = next_tick(cron.expression, after)
        self._timers[cron.id] = self._clock.call_at(
            tick, lambda: self._post(lambda: self._on_tick(cron, tick))
        )

    def _on_tick(self, cron: CronTrigger, tick: float) -> None:
        if self._crons.get(cron.id) is not cron or not self._running:
            return  # removed or replaced meanwhile
        self._arm(cron, tick)
        self._fire(cron.run_at_tick(tick))
