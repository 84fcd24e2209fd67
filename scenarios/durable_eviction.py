"""Durable parents whose children are durable too: eviction is what keeps them moving.

Each ``durable-parent`` sleeps ``pause`` seconds (so that all parents hold their slots),
spawns ``n`` ``durable-child`` runs and waits for them; each child sleeps durably for
``nap`` seconds. Children need durable slots, like their parents. With as many parents
as durable slots, every slot is soon held by a parent that waits on children that can
never start: a slot deadlock, when the parents may not be evicted
(``durable-parent-pinned``, ``eviction_policy=None``). With Hatchet's default policy
(``durable-parent``), a parent that has waited 10 s while every durable slot waits is
evicted (capacity eviction), its slot runs children, and it is restored (replayed from its
event log: its children are found, not spawned again) once they have all finished.
"""

from pydantic import BaseModel

from flowsim import DurableContext, Hatchet

hatchet = Hatchet()
LONG = 10**7


class Parent(BaseModel):
    n: int = 2
    nap: float = 5.0
    #: a durable sleep before spawning: every parent is holding a slot by then
    pause: float = 1.0


class Child(BaseModel):
    nap: float = 5.0


@hatchet.durable_task(name="durable-child", input_validator=Child, execution_timeout=LONG,
                      schedule_timeout=LONG)  # fmt: skip
async def durable_child(input: Child, ctx: DurableContext) -> dict[str, float]:
    await ctx.aio_sleep_for(input.nap)
    return {"slept": input.nap}


async def _spawn(input: Parent, ctx: DurableContext) -> dict[str, float]:
    await ctx.aio_sleep_for(input.pause)
    results = await durable_child.aio_run_many(
        [durable_child.create_bulk_run_item(Child(nap=input.nap)) for _ in range(input.n)]
    )
    return {"slept": sum(r["slept"] for r in results)}


@hatchet.durable_task(name="durable-parent", input_validator=Parent, execution_timeout=LONG,
                      schedule_timeout=LONG)  # fmt: skip
async def durable_parent(input: Parent, ctx: DurableContext) -> dict[str, float]:
    return await _spawn(input, ctx)


@hatchet.durable_task(name="durable-parent-pinned", input_validator=Parent,
                      execution_timeout=LONG, schedule_timeout=LONG,
                      eviction_policy=None)  # fmt: skip
async def durable_parent_pinned(input: Parent, ctx: DurableContext) -> dict[str, float]:
    return await _spawn(input, ctx)
