"""flowsim fan-out cases, each on a fresh in-memory backend per repeat.

Imported only by the subprocess that runs a flowsim case, so flowsim's import cost and
memory count against flowsim alone.
"""

from __future__ import annotations

import asyncio
import functools
import gc
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from benchmarks._common import Config, Sample, timed
from flowsim import Context, EmptyModel, Hatchet
from flowsim import backend as flowsim_backend


class ChildInput(BaseModel):
    i: int


@dataclass
class Definitions:
    hatchet: Hatchet
    child: Any  # Standalone[dict[str, int]]
    parent: Any  # Standalone[dict[str, int]]


def define(url: str, children: int, budget: float) -> Definitions:
    """A trivial async child, and a parent task that fans out ``children`` of it."""
    hatchet = Hatchet(url)

    @hatchet.task(name="child", input_validator=ChildInput)
    async def child(input: ChildInput, ctx: Context) -> dict[str, int]:
        return {"i": input.i}

    @hatchet.task(name="parent", execution_timeout=max(60, int(budget) + 1))
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, int]:
        items = [child.create_bulk_run_item(input=ChildInput(i=i)) for i in range(children)]
        results = await child.aio_run_many(items)
        return {"children": len(results)}

    return Definitions(hatchet, child, parent)


def _check(results: list[Any], children: int) -> int:
    if len(results) != children or results[-1] != {"i": children - 1}:
        raise AssertionError(f"unexpected results: {len(results)} items, last {results[-1:]}")
    return len(results)


async def _fan_out(mode: str, defs: Definitions, children: int) -> int:
    child = defs.child
    if mode == "run_many":
        items = [child.create_bulk_run_item(input=ChildInput(i=i)) for i in range(children)]
        return _check(await child.aio_run_many(items), children)
    if mode == "gather":
        runs = (child.aio_run(ChildInput(i=i)) for i in range(children))
        return _check(list(await asyncio.gather(*runs)), children)
    if mode == "parent":
        result = await defs.parent.aio_run()
        if result != {"children": children}:
            raise AssertionError(f"unexpected parent result {result!r}")
        return children
    raise ValueError(mode)


async def _once(mode: str, config: Config, index: int) -> Sample:
    defs = define(f"memory://fanout-{index}", config.children, config.budget)
    workflows = [defs.child, defs.parent]
    async with defs.hatchet.worker("bench", slots=config.slots, workflows=workflows):
        work = functools.partial(_fan_out, mode, defs, config.children)
        seconds, completed = await timed(work, config.budget)
    return Sample(seconds, completed or 0)


def _repeats(mode: str, config: Config) -> list[Sample]:
    samples: list[Sample] = []
    for index in range(config.repeat):
        # A fresh backend and a fresh event loop per repeat, then drop both, so peak RSS is
        # the cost of one fan-out of N, as for the peers.
        sample = asyncio.run(_once(mode, config, index))
        flowsim_backend.reset()
        gc.collect()
        samples.append(sample)
        if sample.completed < config.children:
            break
    return samples


def run_many(config: Config) -> list[Sample]:
    """Case A: ``await child.aio_run_many([...N bulk items...])`` from the top level."""
    return _repeats("run_many", config)


def gather(config: Config) -> list[Sample]:
    """Case B: ``await asyncio.gather(*(child.aio_run(...) for N))`` from the top level."""
    return _repeats("gather", config)


def parent(config: Config) -> list[Sample]:
    """Case C: a parent task fans out N children with ``aio_run_many``."""
    return _repeats("parent", config)
