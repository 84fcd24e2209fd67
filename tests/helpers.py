"""Small helpers shared by the test modules."""

import asyncio


async def settle(rounds: int = 50) -> None:
    """Let the engine loop (the test's own loop under ``async with worker``) run what the
    last action scheduled: dispatches, completions, timer callbacks. No wall-clock wait."""
    for _ in range(rounds):
        await asyncio.sleep(0)
