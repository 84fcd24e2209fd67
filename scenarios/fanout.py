"""Fan-out shapes for the scenarios: one level, nested, and a durable parent.

Timeouts are raised well above Hatchet's defaults (60 s to run, 5 min queued) because
these scenarios study slots, not timeouts: a 1,000-child fan-out on a few slots queues
children for longer than five minutes, and Hatchet would cancel them, as flowsim does.
"""

from pydantic import BaseModel

from flowsim import Context, DurableContext, Hatchet

hatchet = Hatchet()
LONG = 10**7


class FanOut(BaseModel):
    n: int = 10


class Leaf(BaseModel):
    index: int = 0


@hatchet.task(name="leaf", input_validator=Leaf, execution_timeout=LONG, schedule_timeout=LONG)
def leaf(input: Leaf, ctx: Context) -> dict[str, int]:
    return {"square": input.index * input.index}


@hatchet.task(name="fan-out", input_validator=FanOut, execution_timeout=LONG,
              schedule_timeout=LONG)  # fmt: skip
async def fan_out(input: FanOut, ctx: Context) -> dict[str, int]:
    results = await leaf.aio_run_many(
        [leaf.create_bulk_run_item(Leaf(index=i)) for i in range(input.n)]
    )
    return {"sum": sum(r["square"] for r in results)}


@hatchet.task(name="fan-out-of-fan-outs", input_validator=FanOut, execution_timeout=LONG,
              schedule_timeout=LONG)  # fmt: skip
async def nested(input: FanOut, ctx: Context) -> dict[str, int]:
    results = await fan_out.aio_run_many(
        [fan_out.create_bulk_run_item(FanOut(n=input.n)) for _ in range(input.n)]
    )
    return {"sum": sum(r["sum"] for r in results)}


@hatchet.durable_task(name="durable-fan-out", input_validator=FanOut, execution_timeout=LONG,
                      schedule_timeout=LONG)  # fmt: skip
async def durable_fan_out(input: FanOut, ctx: DurableContext) -> dict[str, int]:
    results = await leaf.aio_run_many(
        [leaf.create_bulk_run_item(Leaf(index=i)) for i in range(input.n)]
    )
    return {"sum": sum(r["square"] for r in results)}
