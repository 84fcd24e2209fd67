"""A worker process for the cross-process cancellation test: its one task marks files when it
starts and when it is cancelled, so the test (another process) can see both."""

import asyncio
from pathlib import Path

from pydantic import BaseModel

from flowsim import Context, Hatchet

hatchet = Hatchet()


class Marker(BaseModel):
    path: str


def _mark(path: str, text: str) -> None:
    Path(path).write_text(text)  # tiny and local: not worth a thread hop


@hatchet.task(name="cancel-sleeper", input_validator=Marker, execution_timeout=120)
async def sleeper(input: Marker, ctx: Context) -> dict[str, bool]:
    _mark(input.path + ".started", "")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        _mark(input.path + ".cancelled", f"exit_flag={ctx.exit_flag}")
        raise
    return {"slept": True}


worker = hatchet.worker("cancel-worker", slots=1, workflows=[sleeper])
