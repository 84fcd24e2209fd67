"""Rate limit admission for a SQL store's claim: the Python half both backends share.

A SQL claim reads the queue heads in claim order and picks those whose slot costs fit
(``_choose``). ``screen`` then runs ``flowsim.rate_limits.admit`` over the picked task runs
that have rate limits, in that order, against the keys as stored, carrying each admission's
consumption to the next (two runs on a key with one unit left: the first is admitted, the
second is not). If it refuses any, the claim parks those (``rate_wait_until``) and reads the
queue again, so the runs behind them get their turn, as in the in-memory store; when a pass
refuses none, the claim writes the keys' new states and takes what it picked. The backend
runs all of it in the claim's transaction, under a lock that serialises rate-limited claims
(SQLite's write lock; a Postgres advisory lock), so two workers never take the same units.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowsim.errors import InvalidInputError
from flowsim.rate_limits import UNTIL_CHANGED, Bucket, Demand, admit, demands
from flowsim.store.records import TaskSpec

#: SQL stores keep UNTIL_CHANGED (infinity) in ``rate_wait_until``; anything above this
#: threshold is "until a key changes", never an instant to wake at
FOREVER_THRESHOLD = 1e300


@dataclass(frozen=True, slots=True)
class Picked:
    """A queue head the claim picked: its id, its run's id and its task's spec."""

    task_run_id: str
    run_id: str
    spec: TaskSpec


@dataclass(slots=True)
class Screen:
    """What one pass decided: task runs to park (id, until when), and otherwise the keys'
    states to store; ``changed`` when a dynamic upsert created a key."""

    parked: list[tuple[str, float]] = field(default_factory=list)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    changed: bool = False


RunInputs = Callable[[Sequence[str]], Mapping[str, tuple[Any, Any]]]
LoadBuckets = Callable[[Sequence[str]], dict[str, Bucket]]


def screen(
    picked: Sequence[Picked], run_inputs: RunInputs, load: LoadBuckets, now: float
) -> Screen:
    """Admit or refuse each rate-limited picked task run, in order."""
    limited = [p for p in picked if p.spec.rate_limits]
    result = Screen()
    if not limited:
        return result
    inputs = run_inputs(list(dict.fromkeys(p.run_id for p in limited)))
    wanted: list[tuple[Picked, list[Demand] | None]] = []
    for item in limited:
        data, metadata = inputs[item.run_id]
        try:
            wanted.append((item, demands(item.spec.rate_limits, data, metadata)))
        except InvalidInputError:  # a definition changed under a stored run: wait for a put
            wanted.append((item, None))
    keys = sorted({d.key for _, ds in wanted if ds for d in ds})
    state = load(keys) if keys else {}
    for item, asked in wanted:
        if asked is None:
            result.parked.append((item.task_run_id, UNTIL_CHANGED))
            continue
        admission = admit(asked, state, now)
        state.update(admission.buckets)
        result.buckets.update(admission.buckets)
        result.changed = result.changed or admission.changed
        if not admission.admitted:
            result.parked.append((item.task_run_id, admission.retry_at))
    return result
