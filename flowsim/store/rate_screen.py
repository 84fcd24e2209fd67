"""Rate limit admission inside a SQL store's claim: the Python half both backends share.

The in-memory store walks its queue heads in claim order: a head whose slot cost does not
fit ends the claim; a rate-limited head is admitted (its units taken) or parked, and the
walk goes on to the next head. ``choose`` makes the same walk over rows a SQL store reads:
it reads the heads, walks them with a ``Screener`` (which keeps the keys' states as the
walk changes them, loading each key once), parks refused rows at once (so the store's
queue query no longer returns them) and reads again when it parked some and slots are
left. The store then writes the keys' final states and takes the chosen rows, all in the
claim's transaction, under a lock that serialises rate-limited claims (SQLite's write lock;
a Postgres advisory lock, taken before the first key is read), so two workers never take
the same units. The decisions are ``flowsim.rate_limits.admit``'s, as in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from flowsim.errors import InvalidInputError
from flowsim.rate_limits import UNTIL_CHANGED, Bucket, admit, demands
from flowsim.store.records import TaskSpec

#: SQL stores keep UNTIL_CHANGED (infinity) in ``rate_wait_until``; anything above this
#: threshold is "until a key changes", never an instant to wake at
FOREVER_THRESHOLD = 1e300

Row = TypeVar("Row")
RunInputs = Callable[[Sequence[str]], Mapping[str, tuple[Any, Any]]]
LoadBuckets = Callable[[Sequence[str]], dict[str, Bucket]]


class Picked(NamedTuple):
    """A queue head as the walk sees it: its id, its run's id, its task's spec and slot
    cost (a tuple: one is made per head read, on every claim)."""

    task_run_id: str
    run_id: str
    spec: TaskSpec
    cost: int


class Screener:
    """The keys' states during one claim, and the admission of each rate-limited head."""

    def __init__(self, run_inputs: RunInputs, load: LoadBuckets, now: float) -> None:
        self._run_inputs = run_inputs
        self._load = load
        self.now = now
        self.state: dict[str, Bucket] = {}
        self._loaded: set[str] = set()
        self._inputs: dict[str, tuple[Any, Any]] = {}
        #: keys whose state the claim must write back
        self.touched: set[str] = set()
        #: a dynamic upsert created a key: release the runs waiting for a change
        self.changed = False

    def prefetch(self, items: Sequence[Picked]) -> None:
        """Read the inputs of the rate-limited heads in one query."""
        missing = [p.run_id for p in items if p.spec.rate_limits and p.run_id not in self._inputs]
        if missing:
            self._inputs.update(self._run_inputs(list(dict.fromkeys(missing))))

    def admit(self, item: Picked) -> float | None:
        """None: admitted, units taken. Otherwise park it until then (UNTIL_CHANGED: until
        a key is put or created)."""
        self.prefetch([item])
        data, metadata = self._inputs[item.run_id]
        try:
            wanted = demands(item.spec.rate_limits, data, metadata)
        except InvalidInputError:  # a definition changed under a stored run: wait for a put
            return UNTIL_CHANGED
        unknown = sorted({d.key for d in wanted} - self._loaded)
        if unknown:
            self.state.update(self._load(unknown))
            self._loaded.update(unknown)
        admission = admit(wanted, self.state, self.now)
        self.state.update(admission.buckets)
        self.touched.update(admission.buckets)
        self.changed = self.changed or admission.changed
        return None if admission.admitted else admission.retry_at

    def dirty(self) -> dict[str, Bucket]:
        return {key: self.state[key] for key in sorted(self.touched)}


@dataclass(frozen=True, slots=True)
class Placing(Generic[Row]):
    """The placement step of the same walk (``flowsim.store.placement_filter``): a head
    this worker may not take is passed over (it stays queued, not parked) before its slot
    cost is looked at; a head taken pins its sticky run to the worker."""

    admit: Callable[[Row], bool]
    take: Callable[[Row], bool]
    exhausted: Callable[[], bool]
    #: how many more heads to read, once, when some were passed over
    look_further: int
    #: a fresh placement filter for a new read: a filter's decisions change what it
    #: decides next (a deferral counts the peer's free slot as promised)
    restart: Callable[[], None]


def choose(
    read: Callable[[int], list[Row]],
    picked_of: Callable[[Row], Picked],
    free: int,
    screener: Screener,
    park: Callable[[list[tuple[str, float]]], None],
    placing: Placing[Row] | None = None,
) -> list[Row]:
    """The rows to take, in claim order: ``read(limit)`` returns the queue heads (rows
    parked by ``park`` no longer among them)."""
    chosen: list[Row] = []
    taken: set[str] = set()
    #: rows the placement filter passed over: a further read returns them again, and
    #: they are not admitted twice (the first refusal reserved a peer's slot for them)
    passed: set[str] = set()
    left = free
    further = 0
    first = True
    while left > 0:
        if placing is not None and not first:
            placing.restart()
        first = False
        heads = [(row, picked_of(row)) for row in read(left + len(chosen) + further)]
        heads = [
            (row, item)
            for row, item in heads
            if item.task_run_id not in taken and item.task_run_id not in passed
        ]
        if any(item.spec.rate_limits for _, item in heads):
            screener.prefetch([item for _, item in heads])
        parked: list[tuple[str, float]] = []
        stopped = passed_over = False
        for row, item in heads:
            if placing is not None and not placing.admit(row):
                passed_over = True
                passed.add(item.task_run_id)
                if placing.exhausted():
                    stopped = True
                    break
                continue
            if item.cost > left:
                stopped = True
                break
            if item.spec.rate_limits:
                until = screener.admit(item)
                if until is not None:
                    parked.append((item.task_run_id, until))
                    continue
            if placing is not None and not placing.take(row):
                passed.add(item.task_run_id)
                continue
            chosen.append(row)
            taken.add(item.task_run_id)
            left -= item.cost
        if parked:
            park(parked)
        if stopped:
            break
        if not parked:
            if not passed_over or further or placing is None:
                break
            further = placing.look_further  # heads were passed over: look further, once
    return chosen
