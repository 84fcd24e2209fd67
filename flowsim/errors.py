"""Every error flowsim raises, in one family.

Each class also derives from the builtin a caller would already catch, so code written
against hatchet_sdk (which raises ``ValueError``/``LookupError`` in the same places) keeps
working. Messages say what went wrong, where, and what to do about it.

The tree::

    FlowsimError
    ├── ConfigurationError (ValueError)          bad backend URL, bad worker settings
    │   └── ScenarioError                        a scenario file that cannot be simulated
    ├── WorkflowDefinitionError (ValueError)     cycles, unknown parents, duplicate names
    │   └── InvalidDependencyError               a Depends(fn) that cannot be resolved
    ├── InvalidInputError (ValueError)           workflow input failed validation
    ├── StreamDataError (TypeError)              ctx.put_stream given neither str nor bytes
    ├── UnknownWorkflowError (LookupError)       a run no running worker registers (or may run)
    ├── RunNotFoundError (LookupError)           a run id the backend does not know
    ├── RunNotFinishedError (RuntimeError)       a run's result read before it ended
    ├── DatabaseLostError (ConnectionError)      the backend's database went away mid-run
    ├── SlotDeadlockError (RuntimeError)         no run can progress; carries the explanation
    ├── BlockingCallError (RuntimeError)         sync run() called on the engine's own event loop
    ├── MockRunError (RuntimeError)              a mock_run's task asked for an engine it has not
    ├── LifespanSetupError (RuntimeError)        a worker's lifespan failed to start or to stop
    ├── StaleAttemptError (RuntimeError)         an attempt that lost its task run tried to spawn
    ├── UnsupportedFeatureError (NotImplementedError)
    │   └── NotModelledAttributeError (AttributeError)  a hatchet_sdk name flowsim lacks
    ├── NonDeterminismError (RuntimeError)       a durable replay diverged from its event log
    ├── TaskRunError                             one failed task: type name, message, trace
    ├── FailedTaskRunExceptionGroup (ValueError) a run failed; holds TaskRunErrors
    ├── IdempotencyCollisionError                a trigger's idempotency key is held by a run
    ├── BulkTriggerIdempotencyCollisionError     some items of a bulk trigger collided so
    ├── NonRetryableException                    raised by user code: fail without retrying
    ├── RetryAfterException                      raised by user code: retry after a delay
    └── IllegalTaskOutputError                   a task returned something not JSON-shaped
"""

from __future__ import annotations

import traceback
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowsim.engine.deadlock import DeadlockReport


class FlowsimError(Exception):
    """Root of every error flowsim raises on its own account."""


class ConfigurationError(FlowsimError, ValueError):
    """A backend URL, worker or client setting is not usable."""


class ScenarioError(ConfigurationError):
    """A scenario file is broken: the message names the file, the key (and line where
    known) and what was expected."""


class WorkflowDefinitionError(FlowsimError, ValueError):
    """A workflow's definition is inconsistent (cycle, unknown parent, duplicate task)."""


class InvalidDependencyError(WorkflowDefinitionError):
    """``Depends(fn)`` with a function that does not take ``input, ctx``, or dependency
    functions that depend on each other in a cycle."""


class InvalidInputError(FlowsimError, ValueError):
    """Workflow input did not validate; nothing was queued."""


class StreamDataError(FlowsimError, TypeError):
    """``ctx.put_stream`` got something other than str or bytes."""


class UnknownWorkflowError(FlowsimError, LookupError):
    """A run waits on a workflow that no running worker registers, or that none may run
    (its task requires labels no worker has, or it is HARD-sticky to a worker that is
    gone), so it can never start."""


class RunNotFoundError(FlowsimError, LookupError):
    """The backend has no run with this id."""


class FilterNotFoundError(FlowsimError, LookupError):
    """The backend has no event filter with this id (``hatchet.filters``)."""


class CronNotFoundError(FlowsimError, LookupError):
    """The backend has no cron with this id (``hatchet.cron``)."""


class RunNotFinishedError(FlowsimError, RuntimeError):
    """A run's result was read (``hatchet.runs.get_result``) while it is still queued or
    running; nothing waits for it there."""


class DatabaseLostError(FlowsimError, ConnectionError):
    """The backend's database went away mid-run and did not come back within the
    reconnect window. Raised by the operation that gave up (a completion, a claim, a
    wait), so the caller knows which one and can stop cleanly: retries inside the window
    never apply an operation twice, and ``action`` says when the last attempt was lost at
    its COMMIT (whether that one applied could not be checked).

    An unreachable database when a store *opens* is a ``ConfigurationError`` instead, at
    once: at start nothing is in flight, so a wrong URL should not look like an outage."""

    def __init__(self, display_url: str, seconds: float, reason: str, action: str) -> None:
        self.display_url = display_url
        self.seconds = seconds
        self.reason = reason
        self.action = action
        super().__init__(
            f"lost the database at {display_url} for {seconds:.1f} s ({action}: {reason}); "
            "gave up after the reconnect window (reconnect_seconds= in the URL). Check that "
            "the server is up and reachable; runs already stored are kept, and a worker "
            "started again picks up where this one stopped"
        )


class BlockingCallError(FlowsimError, RuntimeError):
    """A blocking call was made on the event loop that would have to serve it."""


class MockRunError(FlowsimError, RuntimeError):
    """A task called through ``mock_run`` / ``aio_mock_run`` asked its Context for
    something only an engine does (a stream, a durable sleep, cancelling its run): a
    mocked run has none, so it says so at once instead of acting as if it had."""


class LoopAlreadyRunningError(FlowsimError, RuntimeError):
    """``worker.start()`` was called where an event loop already runs: it blocks and needs
    a loop of its own, as in hatchet_sdk (``async with worker:`` serves on the running
    loop instead)."""


class LifespanSetupError(FlowsimError, RuntimeError):
    """A worker's ``lifespan=`` generator raised before its ``yield`` (the worker does not
    start) or after it (the worker stopped; its cleanup did not finish)."""


class StaleAttemptError(FlowsimError, RuntimeError):
    """An attempt spawned children after it stopped holding its task run (its lease
    expired and another attempt took over, or it timed out or was cancelled). The spawn is
    refused so that the attempt that holds the task run now numbers its children from the
    start and gets the same ones back: a zombie must not shift the spawn index."""

    def __init__(self, task_run_id: str, token: int | None) -> None:
        self.task_run_id = task_run_id
        self.token = token
        attempt = "this attempt" if token is None else f"this attempt (fencing token {token})"
        super().__init__(
            f"task run {task_run_id!r}: {attempt} no longer holds the task run (its lease "
            "expired and it was taken over, or it timed out or was cancelled), so its child "
            "spawn was refused; the attempt that holds the task run now spawns the children. "
            "Nothing to fix in the workflow unless this repeats: then the task blocks its "
            "event loop longer than the lease (see lease_seconds)"
        )


class UnsupportedFeatureError(FlowsimError, NotImplementedError):
    """User code touched a Hatchet feature flowsim does not model yet; never ignored silently."""


class NotModelledAttributeError(UnsupportedFeatureError, AttributeError):
    """User code looked up a hatchet_sdk attribute or method flowsim does not define (a
    server API such as ``hatchet.workflows``). Also an ``AttributeError``, so ``hasattr``
    and ``getattr(obj, name, default)`` treat it as any missing attribute."""


class NonDeterminismError(FlowsimError, RuntimeError):
    """A durable task, replaying its event log after a retry, a crash or an eviction, made
    a different durable call at a logged position than the one logged (hatchet_sdk's
    name). The attributes are hatchet_sdk's: ``node_id`` is the position in the log,
    ``invocation_count`` the attempt that diverged; ``logged`` and ``attempted`` say
    what the log holds and what the code did instead."""

    def __init__(
        self,
        task_external_id: str,
        invocation_count: int,
        message: str,
        node_id: int,
        logged: str = "",
        attempted: str = "",
    ) -> None:
        self.task_external_id = task_external_id
        self.invocation_count = invocation_count
        self.message = message
        self.node_id = node_id
        self.logged = logged
        self.attempted = attempted
        super().__init__(message)


class SlotDeadlockError(FlowsimError, RuntimeError):
    """No waiting run can ever progress: every slot that could take a queued run is held by a
    run that (transitively) waits on queued runs. ``report`` holds the structured explanation."""

    def __init__(self, report: DeadlockReport) -> None:
        self.report = report
        super().__init__(report.render())


class NonRetryableException(FlowsimError):  # noqa: N818 - hatchet_sdk's name
    """Raise from a task to fail it at once, whatever its ``retries``."""


class RetryAfterException(FlowsimError):  # noqa: N818 - hatchet_sdk's name
    """Raise from a task to retry it after a delay of its choosing, in place of its backoff
    (hatchet_sdk 1.42+, Hatchet's engine v0.111+). The retry counts against ``retries``:
    with none left, the task fails with this error."""

    def __init__(self, message: str = "", *, after: timedelta) -> None:
        if not isinstance(after, timedelta):
            raise TypeError(
                f"RetryAfterException(after={after!r}): after must be a timedelta; hatchet_sdk "
                "1.43 fails on anything else when it reports the task's failure"
            )
        super().__init__(message)
        self.after = after

    @property
    def after_ms(self) -> int:
        """The delay as hatchet_sdk sends it: whole milliseconds, negative taken as 0."""
        return max(int(self.after.total_seconds() * 1000), 0)


class IllegalTaskOutputError(FlowsimError):
    """A task returned a value Hatchet cannot store (not a dict, model or dataclass)."""


class TaskRunError(FlowsimError):
    """One failed task run, shaped like hatchet_sdk's: the original exception's type *name*,
    its message and traceback text. The original exception is not re-raised, as in Hatchet,
    because results cross process boundaries on the SQL backends."""

    def __init__(
        self, exc: str, exc_type: str, trace: str, task_run_external_id: str | None
    ) -> None:
        self.exc = exc
        self.exc_type = exc_type
        self.trace = trace
        self.task_run_external_id = task_run_external_id
        super().__init__(self.serialize(include_metadata=False))

    def __str__(self) -> str:
        return self.serialize(include_metadata=False)

    def serialize(self, include_metadata: bool = False) -> str:
        header = f"{self.exc_type}: {self.exc}" if self.exc_type and self.exc else self.exc_type
        text = f"{header}\n{self.trace}" if self.trace else header
        if include_metadata and self.task_run_external_id:
            text += f"\n\n(task run {self.task_run_external_id})"
        return text

    @classmethod
    def from_exception(cls, exc: BaseException, task_run_external_id: str | None) -> TaskRunError:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(str(exc), type(exc).__name__, trace, task_run_external_id)


class FailedTaskRunExceptionGroup(FlowsimError, ValueError):  # noqa: N818 - hatchet_sdk's name
    """A workflow run ended FAILED (or, on the async path, CANCELLED); ``exceptions`` holds
    one TaskRunError per failed task, as hatchet_sdk raises it."""

    def __init__(self, message: str, exceptions: list[TaskRunError]) -> None:
        self.message = message
        self.exceptions = exceptions
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message.strip()]
        for index, error in enumerate(self.exceptions, 1):
            parts.append(f"\n--- Exception {index} ---")
            parts.append(str(error))
        return "\n".join(parts)


class IdempotencyCollisionError(FlowsimError):
    """A trigger whose idempotency key another run holds: nothing was created (hatchet_sdk's
    name). ``existing_run_external_id`` is the holder, whose result may be the one wanted."""

    def __init__(self, existing_run_external_id: str, message: str | None = None) -> None:
        self.existing_run_external_id = existing_run_external_id
        default = f"idempotency key collision with run {existing_run_external_id}"
        super().__init__(message or default)


class BulkTriggerIdempotencyCollisionError(FlowsimError):
    """A bulk trigger some of whose items collided: the others were created (hatchet_sdk's
    name and fields), ``collisions`` holds one ``IdempotencyCollisionError`` per collided
    item, in order."""

    def __init__(
        self,
        successful_workflow_run_external_ids: list[str],
        collisions: list[IdempotencyCollisionError],
    ) -> None:
        self.successful_workflow_run_external_ids = successful_workflow_run_external_ids
        self.collisions = collisions
        lines = "\n".join(f"- {collision}" for collision in collisions)
        super().__init__(
            f"{len(collisions)} of {len(collisions) + len(successful_workflow_run_external_ids)} "
            f"runs were not created: their idempotency keys are held\n{lines}"
        )
