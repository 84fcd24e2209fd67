"""Workflows for the differential test: a parent fans out to children, each child fans
out to leaves, and any of them fails its first attempts as its input says. Everything is
async, so the real engine and the simulator see the same sequence of events (a sync task
would run on a thread in real time and inline in virtual time)."""

from typing import Any

from pydantic import BaseModel

from flowsim import Context, Hatchet

hatchet = Hatchet()


class LeafIn(BaseModel):
    path: str
    fail: int = 0


class ChildIn(BaseModel):
    path: str
    fail: int = 0
    leaves: list[int] = []


class Shape(BaseModel):
    children: list[ChildIn] = []


def _outcome(result: Any) -> Any:
    return result if isinstance(result, dict) else f"error: {type(result).__name__}"


@hatchet.task(name="diff-leaf", input_validator=LeafIn, retries=2)
async def leaf(input: LeafIn, ctx: Context) -> dict[str, Any]:
    if ctx.attempt_number <= input.fail:
        raise RuntimeError(f"{input.path} fails attempt {ctx.attempt_number}")
    return {"path": input.path, "attempt": ctx.attempt_number}


@hatchet.task(name="diff-child", input_validator=ChildIn, retries=2)
async def child(input: ChildIn, ctx: Context) -> dict[str, Any]:
    if ctx.attempt_number <= input.fail:
        raise RuntimeError(f"{input.path} fails attempt {ctx.attempt_number}")
    items = [
        leaf.create_bulk_run_item(LeafIn(path=f"{input.path}/{i}", fail=fail))
        for i, fail in enumerate(input.leaves)
    ]
    results = await leaf.aio_run_many(items, return_exceptions=True)
    return {"leaves": [_outcome(r) for r in results]}


@hatchet.task(name="diff-parent", input_validator=Shape)
async def parent(input: Shape, ctx: Context) -> dict[str, Any]:
    items = [child.create_bulk_run_item(c) for c in input.children]
    results = await child.aio_run_many(items, return_exceptions=True)
    return {"children": [_outcome(r) for r in results]}
