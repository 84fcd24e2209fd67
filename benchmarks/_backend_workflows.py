"""The workflows the durable-backend benchmark serves with ``flowsim worker``: a trivial
child, and a parent that fans out ``n`` of it with ``aio_run_many``.

    flowsim worker benchmarks._backend_workflows:worker --backend URL

The same module is imported by the benchmark process, which triggers the parent (or, for
latency, the child) and waits for the result; the backend comes from
``flowsim.backend.redirected`` there and from ``--backend`` in the worker processes.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from flowsim import Context, Hatchet
from flowsim.sdk.worker import Worker

#: worker slots per process, set by the benchmark (``--slots``)
SLOTS_VARIABLE = "FLOWSIM_BENCH_SLOTS"
#: generous timeouts: a slow repeat is reported as partial by the benchmark's own budget
TIMEOUT_SECONDS = 3600

hatchet = Hatchet()


class ChildInput(BaseModel):
    i: int


class Fan(BaseModel):
    n: int


@hatchet.task(name="bench-child", input_validator=ChildInput,
              execution_timeout=TIMEOUT_SECONDS, schedule_timeout=TIMEOUT_SECONDS)  # fmt: skip
async def child(input: ChildInput, ctx: Context) -> dict[str, int]:
    return {"i": input.i}


@hatchet.task(name="bench-parent", input_validator=Fan,
              execution_timeout=TIMEOUT_SECONDS, schedule_timeout=TIMEOUT_SECONDS)  # fmt: skip
async def parent(input: Fan, ctx: Context) -> dict[str, Any]:
    items = [child.create_bulk_run_item(ChildInput(i=i)) for i in range(input.n)]
    results = await child.aio_run_many(items)
    return {"children": len(results), "last": results[-1] if results else None}


def worker() -> Worker:
    """One worker with ``$FLOWSIM_BENCH_SLOTS`` slots serving both workflows."""
    slots = int(os.environ.get(SLOTS_VARIABLE, "1000"))
    return hatchet.worker("bench-worker", slots=slots, workflows=[parent, child])
