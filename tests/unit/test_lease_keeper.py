"""The lease keeper thread: renews only while the loop's beat is overdue, counts and warns
only for renewals that happened, and survives a failing renewal."""

from __future__ import annotations

import logging
import threading

import pytest

from flowsim.engine.lease_keeper import LeaseKeeper
from tests.helpers import wait_until

PERIOD = 0.005


def _keeper(overdue: threading.Event, renew: list[bool], calls: list[int]) -> LeaseKeeper:
    def renewing() -> bool:
        calls.append(1)
        if not renew:
            raise ConnectionError("the database is gone")
        return renew[0]

    return LeaseKeeper(PERIOD, overdue.is_set, renewing)


def test_nothing_is_renewed_while_the_beat_is_on_time() -> None:
    overdue, calls = threading.Event(), []
    keeper = _keeper(overdue, [True], calls)
    keeper.start()
    try:
        threading.Event().wait(20 * PERIOD)
        assert calls == [] and keeper.renewals == 0
        overdue.set()
        wait_until(lambda: keeper.renewals >= 3, 5, "three renewals")
    finally:
        keeper.stop()


def test_a_warning_is_logged_once_and_only_for_a_renewal(caplog: pytest.LogCaptureFixture) -> None:
    overdue, calls = threading.Event(), []
    renew = [False]  # overdue, but nothing to renew (no worker registered yet)
    keeper = _keeper(overdue, renew, calls)
    overdue.set()
    with caplog.at_level(logging.WARNING, logger="flowsim.worker"):
        keeper.start()
        try:
            wait_until(lambda: len(calls) >= 3, 5, "three tries")
            assert keeper.renewals == 0 and caplog.records == []
            renew[0] = True
            wait_until(lambda: keeper.renewals >= 3, 5, "three renewals")
        finally:
            keeper.stop()
    assert [r.getMessage()[:60] for r in caplog.records] == [
        "flowsim worker: the event loop has been blocked for half a l"
    ]


def test_a_failing_renewal_does_not_end_the_thread() -> None:
    overdue, calls = threading.Event(), []
    renew: list[bool] = []  # raises
    keeper = _keeper(overdue, renew, calls)
    overdue.set()
    keeper.start()
    try:
        wait_until(lambda: len(calls) >= 3, 5, "three failed tries")
        renew.append(True)
        wait_until(lambda: keeper.renewals >= 1, 5, "a renewal after the failures")
    finally:
        keeper.stop()
    count = len(calls)
    threading.Event().wait(10 * PERIOD)
    assert len(calls) == count  # stopped
