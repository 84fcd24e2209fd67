"""Rate limits in hatchet_sdk's shape: ``RateLimit``, ``RateLimitDuration`` and the
``hatchet.rate_limits`` client (``put`` / ``aio_put``).

``RateLimit`` validates as hatchet_sdk 1.43.1's does (both keys set, or a dynamic key
without ``limit``, is a ``ValueError``; an unset ``limit`` reads as -1), so user code that
builds one behaves the same. ``to_spec`` turns it into the engine's ``RateLimitSpec`` when a
task is defined, parsing any CEL then: a key or count flowsim cannot evaluate is refused at
definition time, not when a run is claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, model_validator

from flowsim.cel import parse_count, parse_key
from flowsim.errors import ConfigurationError, UnsupportedFeatureError, WorkflowDefinitionError
from flowsim.rate_limits import WINDOW_SECONDS, RateLimitDuration, RateLimitSpec

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine


class RateLimit(BaseModel):
    """A task's use of a rate limit key: ``static_key`` (created with
    ``hatchet.rate_limits.put``) or ``dynamic_key`` (CEL over ``input`` /
    ``additional_metadata``, created with ``limit`` and ``duration``), and the ``units`` a
    run takes (an int or CEL)."""

    static_key: str | None = None
    dynamic_key: str | None = None
    units: str | int = 1
    limit: int | str | None = None
    duration: RateLimitDuration = RateLimitDuration.MINUTE

    @model_validator(mode="after")
    def _validate(self) -> RateLimit:
        if self.dynamic_key and self.static_key:
            raise ValueError("Cannot have both static key and dynamic key set")
        if self.dynamic_key and not self.limit:
            raise ValueError("CEL based keys requires limit to be set")
        if self.limit is None:
            self.limit = -1
        return self


def to_spec(limit: Any, where: str) -> RateLimitSpec:
    """The engine's view of one ``rate_limits=`` item, its CEL parsed now."""
    if not isinstance(limit, RateLimit):
        raise WorkflowDefinitionError(
            f"{where}: rate_limits items must be RateLimit(...), got {type(limit).__name__} "
            f"{limit!r}; import RateLimit from hatchet_sdk (or hatchet_sdk.rate_limit)"
        )
    key = limit.dynamic_key or limit.static_key
    if not key:
        raise WorkflowDefinitionError(
            f"{where}: RateLimit needs static_key= (a key put with hatchet.rate_limits.put) "
            "or dynamic_key= (CEL, with limit=)"
        )
    dynamic = bool(limit.dynamic_key)
    if dynamic:
        parse_key(key, "rate limit key")
    if isinstance(limit.units, int) and limit.units < 0:
        raise WorkflowDefinitionError(f"{where}: RateLimit units must be >= 0, got {limit.units}")
    units = limit.units if isinstance(limit.units, int) else _count(limit.units, "units", where)
    given = limit.limit if limit.limit != -1 else None
    if isinstance(given, str):
        given = _count(given, "limit", where)
    return RateLimitSpec(key, dynamic, units, given, WINDOW_SECONDS[limit.duration])


def _count(source: str, what: str, where: str) -> int | str:
    """A units/limit string: a literal becomes its int, anything else stays CEL."""
    try:
        parsed = parse_count(source, f"rate limit {what}")
    except WorkflowDefinitionError as exc:
        raise WorkflowDefinitionError(f"{where}: {exc}") from None
    return parsed.value if isinstance(parsed.value, int) else source


def to_specs(limits: Sequence[Any] | None, where: str) -> tuple[RateLimitSpec, ...]:
    return tuple(to_spec(limit, where) for limit in limits or ())


class RateLimitsClient:
    """``hatchet.rate_limits``: create or change static keys. ``pause`` and ``list`` (a
    Hatchet server's dashboard API) are refused by name."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    def put(
        self, key: str, limit: int, duration: RateLimitDuration = RateLimitDuration.SECOND
    ) -> None:
        """Create ``key`` with ``limit`` units per ``duration`` (full now), or change its
        limit and window keeping the units left (capped at the new limit), as Hatchet's
        ``PutRateLimit`` does. The default duration is SECOND, as in hatchet_sdk."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigurationError(
                f"hatchet.rate_limits.put({key!r}, ...): limit must be an int >= 0, got {limit!r}"
            )
        if not isinstance(key, str) or not key:
            raise ConfigurationError(
                f"hatchet.rate_limits.put: key must be a non-empty str, got {key!r}"
            )
        window = WINDOW_SECONDS[RateLimitDuration(duration)]
        self._engine().put_rate_limit(key, limit, window)

    async def aio_put(
        self, key: str, limit: int, duration: RateLimitDuration = RateLimitDuration.SECOND
    ) -> None:
        """``put``: a store write is inline and short, so no thread is needed (and none
        may be taken in the simulator's virtual time)."""
        self.put(key, limit, duration)

    def pause(self, key: str, until: datetime) -> datetime:
        raise _refused("pause")

    async def aio_pause(self, key: str, until: datetime) -> datetime:
        raise _refused("aio_pause")

    def list(self, *args: Any, **kwargs: Any) -> Any:
        raise _refused("list")

    async def aio_list(self, *args: Any, **kwargs: Any) -> Any:
        raise _refused("aio_list")


def _refused(method: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(
        f"hatchet.rate_limits.{method}: flowsim models put/aio_put and the limits' effect "
        "on runs; pausing keys and listing them (the dashboard's API) are not modelled yet. "
        "See docs/hatchet-compatibility.md"
    )


__all__ = ["RateLimit", "RateLimitDuration", "RateLimitsClient", "to_specs"]
