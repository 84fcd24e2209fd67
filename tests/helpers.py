"""Small helpers shared by the test modules."""

import asyncio
import time
from collections.abc import Callable

from flowsim import Context


async def settle(rounds: int = 50) -> None:
    """Let the engine loop (the test's own loop under ``async with worker``) run what the
    last action scheduled: dispatches, completions, timer callbacks. No wall-clock wait."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def trigger_facts(ctx: Context) -> dict[str, object]:
    """What a task's context says of the event that started its run."""
    return {
        "event_id": ctx.triggering_event_id,
        "event_key": ctx.triggering_event_key,
        "by_event": ctx.was_triggered_by_event,
    }


def wait_until(condition: Callable[[], bool], within: float, what: str = "condition") -> None:
    """Block until ``condition()`` holds (another process's work, seen from the test);
    fails after ``within`` seconds rather than hanging."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still false after {within} s")
        time.sleep(0.02)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``condition()`` holds. On a durable backend a waiter notices a change (a
    finished child, a deadlock on the stored snapshot) on its next re-read, a fraction of a
    second later in wall-clock time; the memory engine sees it at once. Fails after
    ``within`` seconds rather than hanging."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {within} s")
        await asyncio.sleep(0.01)
