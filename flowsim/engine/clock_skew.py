"""Checking a machine's clock against its database's before a worker starts there.

Leases are stamped with each worker's own clock (the engine passes ``now`` to the store,
so tests can inject theirs): a worker writes ``its now + lease`` and the others reclaim
the run once *their* now passes it. Two machines whose clocks differ by a good part of the
lease therefore reclaim each other's live runs, and a task runs twice (its result is
still recorded once, but its side effects happen twice). A live holder renews every third
of the lease, so its lease has at least two thirds of it left at any moment; a skew of a
sixth of the lease per machine (a third between two) keeps a margin. A worker on a
database with a clock of its own (Postgres, shared by many machines) measures its offset
from it once, when its first worker registers: off beyond a sixth of the lease for certain
(the measured offset less half the round trip) the worker is
refused; beyond a second it is started with a warning.
"""

from __future__ import annotations

import time
import warnings

from flowsim.clock import Clock, SystemClock
from flowsim.errors import ConfigurationError
from flowsim.store.protocol import RunStore, ServerClock

#: an offset worth a warning, though far from unsafe with the default lease
WARN_SECONDS = 1.0
#: a round trip longer than this (a database reconnecting) measures nothing: half of it
#: could be taken for skew
MAX_ROUND_TRIP = 0.5


def clock_offset(store: ServerClock) -> tuple[float, float] | None:
    """How far the database's clock is ahead of this machine's (negative: behind),
    taking this machine's time halfway through the round trip, and how far that can be
    off (half the round trip); None when the round trip took too long to tell."""
    before = time.time()
    server = store.server_time()
    after = time.time()
    if after - before > MAX_ROUND_TRIP:
        return None
    return server - (before + after) / 2, (after - before) / 2


def check_clock(store: RunStore, clock: Clock, lease_seconds: float, where: str) -> None:
    """Refuse (``ConfigurationError``) or warn about a machine clock off from the
    database's; nothing to check for an injected clock or a store without a clock."""
    if not isinstance(clock, SystemClock) or not isinstance(store, ServerClock):
        return
    measured = clock_offset(store)
    if measured is None:
        warnings.warn(
            f"the database at {where} answered too slowly to compare this machine's clock "
            "with its own; the worker starts unchecked (workers on machines whose clocks "
            "differ by part of the lease reclaim each other's running tasks)",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    offset, uncertainty = measured
    certain = abs(offset) - uncertainty  # at least this much off
    direction = "behind" if offset > 0 else "ahead of"
    said = (
        f"this machine's clock is {abs(offset):.1f} s {direction} the database server's "
        f"({where}); workers stamp leases with their own clock, so machines whose clocks "
        "differ by part of the lease reclaim each other's running tasks"
    )
    if certain > lease_seconds / 6:
        raise ConfigurationError(
            f"{said}: the worker is not started (the limit is a sixth of the lease, "
            f"{lease_seconds / 6:.1f} s). Synchronise the clocks (NTP), or raise the lease "
            "(flowsim worker --lease-seconds)"
        )
    if certain > WARN_SECONDS:
        warnings.warn(f"{said}; synchronise the clocks (NTP)", RuntimeWarning, stacklevel=2)
