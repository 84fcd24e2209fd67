"""A workflow with an idempotency key, for the simulator's arrivals that find it held."""

import asyncio
from datetime import timedelta

from flowsim import Context, EmptyModel, Hatchet, StatusBasedIdempotencyConfig

hatchet = Hatchet()


@hatchet.task(
    name="report",
    idempotency=StatusBasedIdempotencyConfig(
        key_expression="'nightly-report'", fallback_ttl=timedelta(hours=1)
    ),
)
async def report(input: EmptyModel, ctx: Context) -> dict[str, bool]:
    await asyncio.sleep(50)
    return {"written": True}
