"""How a worker on a durable store batches its writes (``flowsim.engine.batching``): the
children that finish in one loop turn are written by one ``complete_many``, one claim
takes at most ``claim_batch`` task runs, and a parent waiting on many children reads back
only the children that ended. On ``memory://`` none of this applies (there is no store
round trip to save), so those cases skip."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import Context, EmptyModel, Hatchet
from flowsim.engine.batching import (
    CLAIM_BATCH_VARIABLE,
    DEFAULT_CLAIM_BATCH,
    claim_batch_from_environment,
)
from flowsim.engine.durable import DurableEngine
from flowsim.errors import ConfigurationError

CHILDREN = 60


class Item(BaseModel):
    i: int


def _durable(hatchet: Hatchet) -> DurableEngine:
    engine = hatchet.engine
    if not isinstance(engine, DurableEngine):
        pytest.skip("the in-memory backend has no store writes to batch")
    return engine


def _fan_out(hatchet: Hatchet, slots: int = 1_000) -> Callable[[], Any]:
    """A parent spawning CHILDREN trivial children with ``aio_run_many``."""

    @hatchet.task(name="batch-child", input_validator=Item)
    async def child(input: Item, ctx: Context) -> dict[str, int]:
        return {"i": input.i}

    @hatchet.task(name="batch-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        results = await child.aio_run_many(
            [child.create_bulk_run_item(Item(i=i)) for i in range(CHILDREN)]
        )
        return {"sum": sum(r["i"] for r in results)}

    async def run() -> Any:
        async with hatchet.worker("batch-worker", slots=slots, workflows=[parent, child]):
            return await parent.aio_run()

    return run


class _Spy:
    """Records the calls of some store methods while passing them through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: object, names: Sequence[str]):
        self.calls: dict[str, list[tuple[Any, ...]]] = {name: [] for name in names}
        for name in names:
            real = getattr(store, name)

            def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                self.calls[_name].append(args)
                return _real(*args, **kwargs)

            monkeypatch.setattr(store, name, spy)


@pytest.fixture
def spied(hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Spy]:
    store = _durable(hatchet).run_store
    yield _Spy(monkeypatch, store, ["complete", "complete_many", "claim", "get_runs"])


async def test_children_that_finish_together_are_written_in_few_transactions(
    hatchet: Hatchet, spied: _Spy
) -> None:
    assert await _fan_out(hatchet)() == {"sum": sum(range(CHILDREN))}
    assert spied.calls["complete"] == []  # every completion goes through complete_many
    batches = [items for items, _ in spied.calls["complete_many"]]
    assert sum(len(items) for items in batches) == CHILDREN + 1  # the children and the parent
    assert len(batches) <= CHILDREN // 10, f"{len(batches)} transactions for {CHILDREN + 1}"


async def test_one_claim_takes_at_most_claim_batch_and_the_worker_still_fills_its_slots(
    hatchet: Hatchet, spied: _Spy
) -> None:
    _durable(hatchet).claim_batch = 7
    assert await _fan_out(hatchet)() == {"sum": sum(range(CHILDREN))}
    asked = [args[3] for args in spied.calls["claim"]]  # (worker, workflows, pool, free, ...)
    assert asked and max(asked) == 7, asked


async def test_a_worker_asks_for_its_next_wake_up_once_the_backlog_is_claimed(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not after every full claim: the claim that follows re-arms the wake timer."""
    engine = _durable(hatchet)
    engine.claim_batch = 7
    spy = _Spy(monkeypatch, engine.run_store, ["claim", "next_wakeup"])
    assert await _fan_out(hatchet)() == {"sum": sum(range(CHILDREN))}
    claims, asked = len(spy.calls["claim"]), len(spy.calls["next_wakeup"])
    assert claims >= CHILDREN // 7
    assert asked <= claims - CHILDREN // 7 // 2, f"{asked} wake-up queries for {claims} claims"


async def test_a_waiting_parent_reads_back_each_child_about_once(
    hatchet: Hatchet, spied: _Spy
) -> None:
    """Not every pending child after every change (quadratic): the children are known
    from ``create_runs``, and only those ``finished_since`` names are read again."""
    assert await _fan_out(hatchet, slots=5)() == {"sum": sum(range(CHILDREN))}
    read = sum(len(args[0]) for args in spied.calls["get_runs"])
    assert read <= 2 * CHILDREN, f"{read} run views read for {CHILDREN} children"


async def test_a_bulk_trigger_is_written_in_batches_of_1000_as_hatchet_sdk_sends_it(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch commits on its own, so workers elsewhere start on the first while the
    parent writes the next (hatchet_sdk chunks ``run_many`` the same way)."""
    spy = _Spy(monkeypatch, _durable(hatchet).run_store, ["create_runs"])

    @hatchet.task(name="bulk-child", input_validator=Item)
    async def child(input: Item, ctx: Context) -> dict[str, int]:
        return {"i": input.i}

    @hatchet.task(name="bulk-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, int]:
        results = await child.aio_run_many([child.create_bulk_run_item(Item(i=i))
                                            for i in range(2_500)])  # fmt: skip
        return {"count": len(results), "sum": sum(r["i"] for r in results)}

    async with hatchet.worker("bulk-worker", slots=1_000, workflows=[parent, child]):
        assert await parent.aio_run() == {"count": 2_500, "sum": sum(range(2_500))}
    assert [len(args[0]) for args in spy.calls["create_runs"]] == [1, 1_000, 1_000, 500]


async def test_a_wait_on_one_run_does_not_snapshot_while_other_runs_keep_ending(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter reading only its own run learns of progress elsewhere from the store
    (``finished_since``), so it does not take the standstill for a possible deadlock and
    snapshot the whole backlog every few tenths of a second (as a caller awaiting the
    parent of a 10,000-child fan-out did, for a fifth of the machine's CPU)."""
    spy = _Spy(monkeypatch, _durable(hatchet).run_store, ["snapshot"])

    @hatchet.task(name="slow-one")
    async def slow(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        await asyncio.sleep(1.2)
        return {"done": True}

    @hatchet.task(name="busy-one", input_validator=Item)
    async def busy(input: Item, ctx: Context) -> dict[str, int]:
        await asyncio.sleep(0.01)
        return {"i": input.i}

    async with hatchet.worker("w", slots=5, workflows=[slow, busy]):
        ref = await slow.aio_run(wait_for_result=False)
        await busy.aio_run_many([busy.create_bulk_run_item(Item(i=i))
                                         for i in range(600)], wait_for_result=False)  # fmt: skip
        assert await ref.aio_result() == {"done": True}
    assert len(spy.calls["snapshot"]) <= 1, spy.calls["snapshot"]


def test_claim_batch_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLAIM_BATCH_VARIABLE, raising=False)
    assert claim_batch_from_environment() == DEFAULT_CLAIM_BATCH
    monkeypatch.setenv(CLAIM_BATCH_VARIABLE, "250")
    assert claim_batch_from_environment() == 250
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(CLAIM_BATCH_VARIABLE, bad)
        with pytest.raises(ConfigurationError, match=f"{CLAIM_BATCH_VARIABLE}={bad!r}"):
            claim_batch_from_environment()
