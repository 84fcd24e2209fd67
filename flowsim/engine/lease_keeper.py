"""Leases renewed from a thread while a worker process's event loop is blocked.

A durable engine renews its workers' leases from its event loop (``DurableEngine._beat``,
which also writes results it could not write before and notices cancellations). An async
task body that blocks the loop (a blocking call inside ``async def``) stops those beats,
and if it blocks for longer than the lease, the other worker processes take its task runs
as a dead worker's and run them again; the first attempt's result is then refused, and
with two processes a task that always blocks that long never finishes. Hatchet's workers
send their heartbeats from a separate process, so there a blocked loop only delays the
task. A worker process (``Worker.start()``, ``flowsim worker``) therefore runs this thread,
which renews the leases whenever the loop's beat is overdue.

It renews them only while some attempt the worker holds is within its execution timeout:
a loop still blocked after every held attempt's timeout lets the leases lapse, so the task
runs are re-run elsewhere (as Hatchet's server would time them out) instead of being held
for as long as the process lives. A killed process takes the thread with it, so a crash
still loses its leases after one lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("flowsim.worker")


class LeaseKeeper:
    """A daemon thread that calls ``renew()`` every ``period`` seconds while ``overdue()``
    says the loop's own heartbeat is late; ``renew()`` says whether it renewed a lease."""

    def __init__(self, period: float, overdue: Callable[[], bool], renew: Callable[[], bool]):
        self._period = period
        self._overdue = overdue
        self._renew = renew
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowsim-lease-keeper", daemon=True)
        #: how many times the thread renewed the leases (the loop's beat was late)
        self.renewals = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self._period):
            if not self._overdue():
                continue
            try:
                if not self._renew():
                    continue
            except Exception as exc:  # the loop's own beat reports a lost database
                log.debug("lease keeper: renewing failed: %s", exc)
                continue
            if self.renewals == 0:
                log.warning(
                    "flowsim worker: the event loop has been blocked for half a lease or "
                    "more (a blocking call inside an async task?); its leases are renewed "
                    "from a thread meanwhile. Blocking code belongs in a sync task, which "
                    "runs in a thread of its own."
                )
            self.renewals += 1
