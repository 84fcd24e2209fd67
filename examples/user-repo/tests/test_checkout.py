"""Unit tests of the shop's workflows with flowsim's pytest fixtures: the workflows run on
an in-process engine, imported unchanged (pyproject.toml turns on the hatchet_sdk alias)."""

import asyncio

import pytest
from hatchet_sdk import EmptyModel, FailedTaskRunExceptionGroup, Hatchet
from shop import payments
from shop.worker import WORKFLOWS
from shop.workflows import Order, charge_card, checkout

from flowsim import ManualClock, SlotDeadlockError


class FlakyGateway:
    """Declines the first ``failures`` charges, then accepts."""

    def __init__(self, failures: int, clock: ManualClock) -> None:
        self.failures = failures
        self.clock = clock
        #: the virtual instants of the calls
        self.called_at: list[float] = []

    async def __call__(self) -> str:
        self.called_at.append(self.clock.now())
        call = len(self.called_at)
        if call <= self.failures:
            raise ConnectionError(f"gateway timeout (call {call})")
        return f"receipt-after-{call - 1}-failures"


def test_checkout_reserves_every_item_then_charges(flowsim_worker) -> None:
    flowsim_worker(slots=8, workflows=WORKFLOWS)

    result = checkout.run(Order(items=3))

    assert [r["reserve"]["reserved"] for r in result["reserved"]] == ["sku-0", "sku-1", "sku-2"]
    assert result["payment"]["attempt"] == 1


def test_an_empty_cart_spawns_nothing(flowsim_worker, hatchet) -> None:
    flowsim_worker(slots=1, workflows=WORKFLOWS)

    assert checkout.run(Order(items=0)) == {"reserved": [], "payment": None}
    assert len(hatchet.engine.store.runs) == 1


def test_one_slot_deadlocks_as_soon_as_there_is_an_item(flowsim_worker) -> None:
    flowsim_worker(slots=1, workflows=WORKFLOWS)

    with pytest.raises(SlotDeadlockError) as caught:
        checkout.run(Order(items=1))

    assert "checkout/checkout" in str(caught.value)
    assert "slots=2" in str(caught.value)


async def settle() -> None:
    """Let the engine, which runs on this test's loop, act on what just happened."""
    for _ in range(20):
        await asyncio.sleep(0)


async def run_for(clock: ManualClock, seconds: int) -> None:
    """Virtual time, one second at a time, the engine acting in between (charge-card is
    async, so it runs on this loop and settling is enough)."""
    for _ in range(seconds):
        await settle()
        clock.advance(1)
    await settle()


@pytest.mark.asyncio
async def test_a_declined_charge_is_retried_with_backoff(
    hatchet: Hatchet, flowsim_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = FlakyGateway(failures=2, clock=flowsim_clock)
    monkeypatch.setattr(payments, "charge", gateway)

    async with hatchet.worker("shop-worker", slots=2, workflows=[charge_card]):
        ref = charge_card.run(EmptyModel(), wait_for_result=False)
        await run_for(flowsim_clock, 10)
        result = await ref.aio_result()

    assert result == {"receipt": "receipt-after-2-failures", "attempt": 3}
    assert gateway.called_at == [0, 2, 6]  # backoff_factor=2: waits of 2**1 and 2**2 seconds


@pytest.mark.asyncio
async def test_a_gateway_that_never_answers_exhausts_the_retries(
    hatchet: Hatchet, flowsim_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = FlakyGateway(failures=10, clock=flowsim_clock)
    monkeypatch.setattr(payments, "charge", gateway)

    async with hatchet.worker("shop-worker", slots=2, workflows=[charge_card]):
        ref = charge_card.run(EmptyModel(), wait_for_result=False)
        await run_for(flowsim_clock, 30)
        with pytest.raises(FailedTaskRunExceptionGroup, match="gateway timeout \\(call 4\\)"):
            await ref.aio_result()

    # retries=3: four attempts, after waits of 2, 4 and 8 s (all under backoff_max_seconds)
    assert gateway.called_at == [0, 2, 6, 14]
