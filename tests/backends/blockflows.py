"""A worker for the blocked-loop tests: an async task that blocks its worker's event loop
(``time.sleep`` inside ``async def``) for longer than the tests' 1 s lease. It marks a
file when it starts, so a test can tell a first attempt from a re-run."""

import time
from pathlib import Path

from pydantic import BaseModel

from flowsim import Context, Hatchet

hatchet = Hatchet()


class Block(BaseModel):
    marker: str
    seconds: float


def _block(input: Block) -> dict[str, int]:
    """Block the loop on the first attempt only; a re-run (the marker exists) returns."""
    marker = Path(input.marker)
    attempts = len(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text("x" * attempts)
    if attempts == 1:
        time.sleep(input.seconds)  # the mistake under test: blocking inside async def
    return {"attempt": attempts}


@hatchet.task(name="block-loop", input_validator=Block, execution_timeout=60)
async def blocker(input: Block, ctx: Context) -> dict[str, int]:
    return _block(input)


@hatchet.task(name="block-past-timeout", input_validator=Block, execution_timeout=2)
async def past_timeout(input: Block, ctx: Context) -> dict[str, int]:
    return _block(input)


worker = hatchet.worker("block-worker", slots=2, workflows=[blocker, past_timeout])
