"""A worker's clock against its database's (``flowsim.engine.clock_skew``): leases are
stamped with each machine's own clock, so a machine whose clock is off by a good part of
the lease would reclaim live runs elsewhere; such a worker is refused before it starts."""

from __future__ import annotations

import time
import warnings

import pytest

from flowsim import ConfigurationError, ManualClock
from flowsim.clock import SystemClock
from flowsim.engine.clock_skew import check_clock, clock_offset
from flowsim.store.reference import ReferenceStore


class DatabaseClock(ReferenceStore):
    """A store whose database clock runs ``offset`` seconds ahead of this machine's."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def server_time(self) -> float:
        return time.time() + self.offset


def test_the_offset_is_measured_from_the_database_clock() -> None:
    for offset in (20.0, -7.0):
        measured = clock_offset(DatabaseClock(offset))
        assert measured is not None
        assert measured[0] == pytest.approx(offset, abs=0.5)
        assert 0 <= measured[1] < 0.25  # half the round trip


@pytest.mark.parametrize("offset", [20.0, -20.0, 5.5])
def test_a_clock_off_by_more_than_a_sixth_of_the_lease_is_refused(offset: float) -> None:
    with pytest.raises(ConfigurationError, match="Synchronise the clocks") as raised:
        check_clock(DatabaseClock(offset), SystemClock(), 30.0, "postgresql://db/app")
    direction = "behind" if offset > 0 else "ahead of"
    assert f"s {direction} the database server's" in str(raised.value)


def test_a_clock_off_by_seconds_warns_and_a_close_one_is_quiet() -> None:
    with pytest.warns(RuntimeWarning, match=r"2\.\d s behind"):
        check_clock(DatabaseClock(2.5), SystemClock(), 30.0, "postgresql://db/app")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_clock(DatabaseClock(0.2), SystemClock(), 30.0, "postgresql://db/app")
        # a longer lease tolerates more
        check_clock(DatabaseClock(0.5), SystemClock(), 300.0, "postgresql://db/app")


def test_an_injected_clock_or_a_store_without_a_clock_is_not_checked() -> None:
    check_clock(DatabaseClock(3600.0), ManualClock(), 30.0, "postgresql://db/app")
    check_clock(ReferenceStore(), SystemClock(), 30.0, "sqlite:///one-machine.db")


class SlowDatabaseClock(DatabaseClock):
    """A database that takes a second to answer (say, reconnecting)."""

    def server_time(self) -> float:
        time.sleep(1.0)
        return time.time() + self.offset


def test_a_slow_answer_is_not_taken_for_skew() -> None:
    """Half of a long round trip would look like skew: the check says it could not tell
    and lets the worker start."""
    assert clock_offset(SlowDatabaseClock(0.0)) is None
    with pytest.warns(RuntimeWarning, match="answered too slowly"):
        check_clock(SlowDatabaseClock(0.0), SystemClock(), 30.0, "postgresql://db/app")
