"""Who waits on a run, and how they are told it finished.

A waiter is a future on the caller's loop (async), a concurrent future (a blocked thread),
or a share of a group (``aio_run_many``: one future for many runs). The engine calls
``notify`` on the caller's loop or thread; the waiter decides what that means.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from flowsim.engine.runtime import AttemptState
from flowsim.rules import RunStatus
from flowsim.store.records import WorkflowRun


class Group:
    """One wait for many runs (``aio_run_many``): a counter and one future, instead of a
    future, a callback and a loop hand-off per run."""

    __slots__ = ("done", "fail_fast", "first_failure", "remaining")

    def __init__(self, done: asyncio.Future[None], fail_fast: bool) -> None:
        self.done = done
        self.fail_fast = fail_fast
        self.remaining = 0
        self.first_failure: WorkflowRun | None = None

    def notify(self, run: WorkflowRun | None, error: BaseException | None) -> None:
        self.remaining -= 1
        if self.done.done():
            return
        if error is not None:
            self.done.set_exception(error)
        elif self.fail_fast and run is not None and run.status is RunStatus.FAILED:
            self.first_failure = run
            self.done.set_result(None)
        elif self.remaining == 0:
            self.done.set_result(None)


class Waiter:
    __slots__ = ("attempt", "future", "group", "loop")

    def __init__(
        self,
        future: asyncio.Future[WorkflowRun] | concurrent.futures.Future[WorkflowRun] | None,
        loop: asyncio.AbstractEventLoop | None,
        attempt: AttemptState | None,
        group: Group | None = None,
    ) -> None:
        self.future = future
        self.loop = loop
        self.attempt = attempt
        self.group = group

    def notify(self, run: WorkflowRun | None, error: BaseException | None) -> None:
        if self.group is not None:
            self.group.notify(run, error)
            return
        future = self.future
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(run)  # type: ignore[arg-type]
