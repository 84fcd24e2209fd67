"""Rate limits as Hatchet's engine applies them: pure rules every store shares.

What Hatchet does (engine source, ``pkg/repository/v1/sqlcv1/rate_limits.sql`` and
``pkg/scheduling/v1/rate_limit.go``; Rate Limits guide):

- A key holds ``limit`` units per ``window`` (``RateLimitDuration``: SECOND ... YEAR). Its
  row keeps the units left (``value``) and when it was last refilled. It is a **fixed
  window**: once ``window`` has passed since the last refill, the value goes back to
  ``limit`` (``get_refill_value``) and a new window starts. Nothing is carried over, and
  there is no token trickle. Hatchet's scheduler refills every key whose window passed on
  a one-second tick (``rateLimiter.loopFlush`` -> ``ListRateLimitsForTenantWithMutate``),
  used or not, so windows follow each other from the ``put``; flowsim computes the same
  chain exactly (``Bucket.refilled``), without the tick's up-to-a-second lag.
- A task run's units are taken **when it is assigned** to a worker. If any key it uses has
  fewer units left than it asks for, it is not assigned: it stays QUEUED ("re-queues the
  step run until the rate limit is no longer exceeded") and other runs behind it in the
  queue are still assigned. Its schedule timeout still runs.
- ``put(key, limit, duration)`` creates the key full, or changes its limit and window,
  keeping the units left unless the new limit is lower (``value = min(value, limit)``); the
  window's start is kept.
- A key nobody put is not assumed: a run that uses it waits, queued, until it is put (the
  scheduler's ``rateLimitsExist`` check fails). A run asking for more units than the key's
  limit can never be admitted: it waits until the limit is raised or its schedule timeout
  cancels it.
- A dynamic key (``dynamic_key`` CEL plus ``limit`` and ``duration``) is upserted with that
  limit and window for each run that uses it; the same rendered key from different tasks
  is one shared limit.

flowsim evaluates a run's keys and units when a worker tries to claim it (Hatchet does at
task creation; the result is the same, as a run's input and metadata never change), and
upserts a dynamic key then too.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from flowsim.cel import CountExpression, KeyExpression, parse_count, parse_key

#: a parked run that waits for a key to change (put, or a dynamic upsert), not for time
UNTIL_CHANGED: Final = float("inf")


class RateLimitDuration(enum.StrEnum):
    """hatchet_sdk's ``RateLimitDuration`` (``types/rate_limit.py``), same values."""

    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


#: Window lengths in seconds. Hatchet stores the window as a Postgres interval ('1 month',
#: '1 year') and compares ``now - last_refill`` with it; Postgres compares intervals with
#: 30-day months and 12-month years, so a month is 30 days and a year 360 days there too.
WINDOW_SECONDS: Final[Mapping[RateLimitDuration, float]] = {
    RateLimitDuration.SECOND: 1.0,
    RateLimitDuration.MINUTE: 60.0,
    RateLimitDuration.HOUR: 3_600.0,
    RateLimitDuration.DAY: 86_400.0,
    RateLimitDuration.WEEK: 7 * 86_400.0,
    RateLimitDuration.MONTH: 30 * 86_400.0,
    RateLimitDuration.YEAR: 360 * 86_400.0,
}


@dataclass(frozen=True, slots=True)
class Bucket:
    """One key's state: ``value`` units left in the window that began at ``last_refill``."""

    limit: int
    window: float
    value: int
    last_refill: float

    def refilled(self, now: float) -> Bucket:
        """The state at ``now``: full again once the window has passed, in the window
        that contains ``now`` (windows follow each other from the last refill)."""
        elapsed = now - self.last_refill
        if elapsed >= self.window:
            start = self.last_refill + self.window * math.floor(elapsed / self.window)
            return replace(self, value=self.limit, last_refill=start)
        return self

    @property
    def next_refill(self) -> float:
        return self.last_refill + self.window


def put(existing: Bucket | None, limit: int, window: float, now: float) -> Bucket:
    """``hatchet.rate_limits.put`` (and a dynamic key's upsert): create the key full, or
    change its limit and window keeping the units left, capped at the new limit."""
    if existing is None:
        return Bucket(limit, window, limit, now)
    return Bucket(limit, window, min(existing.value, limit), existing.last_refill)


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """One ``RateLimit`` of a task, as the engine and the stores read it (JSON-friendly).

    ``key`` is the static key or the dynamic key's CEL; ``units`` and ``limit`` are ints or
    CEL (``limit`` None for a static key: its limit comes from ``put``); ``window`` only
    applies when ``limit`` is given."""

    key: str
    dynamic: bool
    units: int | str
    limit: int | str | None
    window: float

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "dynamic": self.dynamic, "units": self.units,
            "limit": self.limit, "window": self.window,
        }  # fmt: skip

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RateLimitSpec:
        return RateLimitSpec(
            data["key"], data["dynamic"], data["units"], data["limit"], data["window"]
        )


@dataclass(frozen=True, slots=True)
class Demand:
    """What one run asks of one key: ``units``, and for a dynamic key the limit and window
    it upserts first."""

    key: str
    units: int
    limit: int | None = None
    window: float = 0.0


def demands(
    specs: Iterable[RateLimitSpec], input: Mapping[str, Any], metadata: Mapping[str, Any]
) -> list[Demand]:
    """The keys and units a run of a task uses: CEL evaluated over its input and metadata
    (``InvalidInputError`` names a missing or mistyped field)."""
    result = []
    for spec in specs:
        key = _key(spec).evaluate(input, metadata) if spec.dynamic else spec.key
        units = _count(spec.units, "rate limit units").evaluate(input, metadata)
        limit = None
        if spec.limit is not None:
            limit = _count(spec.limit, "rate limit limit").evaluate(input, metadata)
        result.append(Demand(key, units, limit, spec.window))
    return result


@functools.lru_cache(maxsize=1024)
def _parsed_key(source: str) -> KeyExpression:
    return parse_key(source, "rate limit key")


@functools.lru_cache(maxsize=1024)
def _parsed_count(source: str, what: str) -> CountExpression:
    return parse_count(source, what)


def _key(spec: RateLimitSpec) -> KeyExpression:
    return _parsed_key(spec.key)


def _count(value: int | str, what: str) -> CountExpression:
    return _parsed_count(str(value), what)


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one run: admitted (its units are taken) or not, with the key states
    to store either way and, if not, when to look again (``UNTIL_CHANGED``: only once a
    key is put or created)."""

    admitted: bool
    buckets: dict[str, Bucket]
    retry_at: float
    #: a dynamic upsert created a key: runs parked ``UNTIL_CHANGED`` (one may wait for
    #: that key) may fit now. A changed limit does not count: two runs whose upserts
    #: disagree would otherwise release each other for ever; a ``put`` releases them.
    changed: bool = False


def admit(wanted: Iterable[Demand], buckets: Mapping[str, Bucket], now: float) -> Admission:
    """Hatchet's admission of one run: upsert its dynamic keys, refill the keys whose
    window passed, then take every key's units, or none if any key is short."""
    state: dict[str, Bucket] = {}
    changed = False
    asked: dict[str, int] = {}
    for demand in wanted:
        current = state.get(demand.key, buckets.get(demand.key))
        if demand.limit is not None:
            changed = changed or current is None
            current = put(current, demand.limit, demand.window, now)
        if current is not None:
            state[demand.key] = current.refilled(now)
        asked[demand.key] = asked.get(demand.key, 0) + demand.units
    missing = [key for key in asked if key not in state]
    if missing:
        return Admission(False, state, UNTIL_CHANGED, changed)
    short = [key for key, units in asked.items() if state[key].value < units]
    if short:
        if any(asked[key] > state[key].limit for key in short):
            return Admission(False, state, UNTIL_CHANGED, changed)
        return Admission(False, state, max(state[key].next_refill for key in short), changed)
    taken = {key: replace(state[key], value=state[key].value - n) for key, n in asked.items()}
    return Admission(True, taken, now, changed)
