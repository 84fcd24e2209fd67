"""Workflow idempotency keys: the rule every store applies when it creates a run.

Hatchet (engine and hatchet-sdk 1.35+) evaluates a workflow's key expression on a new run's
input and additional metadata; the run claims the key, and while the key is held another
run of the same key is not created: the trigger fails with ``IdempotencyCollisionError``
naming the holder, a bulk trigger creates the others and names the collisions, an event's
collision is dropped silently. A TTL key is held for ``ttl`` from the claim; a STATUS key
until the holder run ends, or for its ``fallback_ttl`` at most. Keys are one namespace per
store (Hatchet: per tenant), whatever workflow claimed them, so a workflow's expression
usually starts with a literal of its own (``'orders:' + input.id``).

A key is "held" only by that rule, evaluated when a run is created, so nothing has to be
released when a run ends: a STATUS holder that ended holds nothing any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from flowsim.cel import KeyExpression, parse_key
from flowsim.errors import InvalidInputError
from flowsim.rules import RunStatus

if TYPE_CHECKING:  # records and concurrency import this module
    from flowsim.concurrency import Triggered
    from flowsim.store.records import WorkflowSpec

WHAT: Final = "idempotency key expression"
#: the two methods, as hatchet-sdk's ``IdempotencyMethod`` names them
TTL: Final = "TTL"
STATUS: Final = "STATUS"


@dataclass(frozen=True, slots=True)
class IdempotencyRule:
    """A workflow's idempotency configuration, as stored with its spec."""

    expression: str
    #: TTL: how long a claim holds; STATUS: the fallback TTL
    seconds: float
    method: str = TTL

    def to_json(self) -> list[Any]:
        return [self.expression, self.seconds, self.method]

    @classmethod
    def from_json(cls, data: list[Any]) -> IdempotencyRule:
        return cls(str(data[0]), float(data[1]), str(data[2]))


@dataclass(frozen=True, slots=True)
class Claim:
    """What a new run claims: its key, until when, and whether its end releases it."""

    key: str
    expires_at: float
    until_end: bool


@dataclass(frozen=True, slots=True)
class Collision:
    """A requested run that was not created: ``holder`` holds its key. It stands in the
    place of a run in the answers of ``create_runs`` and ``Engine.trigger``."""

    workflow: str
    key: str
    holder: str


@cache
def parsed(expression: str) -> KeyExpression:
    return parse_key(expression, WHAT)


#: a stored claim as a store reads it: the run holding the key, the claim's expiry and
#: whether the run's end frees it, and the run's status (None: the run is gone)
Holder = tuple[str, float, bool, RunStatus | None]


def holding(run_id: str, claim: Claim) -> Holder:
    """The claim a run created in this batch holds (later requests of its key collide)."""
    return (run_id, claim.expires_at, claim.until_end, RunStatus.QUEUED)


def collision(workflow: str, claim: Claim, holder: Holder | None, now: float) -> Collision | None:
    """The collision of a new run's claim with the stored one of its key, if that holds."""
    if holder is None or not holds(*holder[1:], now):
        return None
    return Collision(workflow, claim.key, holder[0])


def holds(expires_at: float, until_end: bool, holder_status: RunStatus | None, now: float) -> bool:
    """Whether a stored claim still holds its key at ``now``. A holder that is gone (None)
    holds nothing (a store that keeps runs never meets it)."""
    if expires_at <= now or holder_status is None:
        return False
    return not (until_end and holder_status.is_terminal)


def claim_of(
    spec: WorkflowSpec, input: Any, metadata: Mapping[str, Any], now: float
) -> Claim | None:
    """The claim a new run of ``spec`` makes, or None if its workflow has no key;
    ``InvalidInputError`` names the workflow and the field a run cannot supply."""
    rule = spec.idempotency
    if rule is None:
        return None
    given = input if isinstance(input, Mapping) else {}
    try:
        key = parsed(rule.expression).evaluate(given, metadata)
    except InvalidInputError as exc:
        raise InvalidInputError(f"workflow {spec.name!r}: {exc}. Nothing was created.") from None
    return Claim(key, now + rule.seconds, rule.method == STATUS)


def claims_of(
    requests: Iterable[Triggered], inherited: Mapping[str, Any] | None, now: float
) -> list[Claim | None]:
    """Every request's claim, with the metadata its run will have (the spawner's, the
    request's own keys winning): one that cannot be evaluated refuses the whole batch,
    before anything is written."""
    requests = list(requests)
    if all(r.spec.idempotency is None for r in requests):  # the common case, on hot paths
        return [None] * len(requests)
    base = inherited or {}
    return [claim_of(r.spec, r.input, {**base, **r.additional_metadata}, now) for r in requests]
