"""The workflows the simulator benchmark simulates: one parent fanning out N children.

Written as a user would write them for Hatchet (only the import differs). The children's
duration comes from the scenario (``durations``), not from the code, so the same module
serves every size. Timeouts are raised far above Hatchet's defaults (60 s to run, 5 min
queued): a million children on 63 free slots queue for hours of virtual time, and the
closed form the benchmark checks assumes nothing is cancelled.
"""

from __future__ import annotations

from pydantic import BaseModel

from flowsim import Context, Hatchet

hatchet = Hatchet()
#: seconds; longer than any benchmark's virtual makespan (1,000,000 children: 15,874 s)
NEVER = 10**9
PARENT = "bench-parent"
CHILD = "bench-child"


class FanOut(BaseModel):
    children: int


class ChildInput(BaseModel):
    i: int


@hatchet.task(name=CHILD, input_validator=ChildInput, execution_timeout=NEVER,
              schedule_timeout=NEVER)  # fmt: skip
async def child(input: ChildInput, ctx: Context) -> dict[str, int]:
    return {"i": input.i}


@hatchet.task(name=PARENT, input_validator=FanOut, execution_timeout=NEVER,
              schedule_timeout=NEVER)  # fmt: skip
async def parent(input: FanOut, ctx: Context) -> dict[str, int]:
    items = [child.create_bulk_run_item(ChildInput(i=i)) for i in range(input.children)]
    results = await child.aio_run_many(items)
    # the benchmark checks this output: every child ran its body and returned its own value
    if len(results) != input.children or (results and results[-1] != {"i": input.children - 1}):
        raise RuntimeError(f"unexpected child results: {len(results)}, last {results[-1:]}")
    return {"children": len(results)}
