"""``mock_run`` / ``aio_mock_run``: a task's function called with a Context of a run that
exists only in the test, as hatchet_sdk's unit-testing helpers do; what needs an engine
says so instead of pretending."""

import asyncio
import re
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from flowsim import (
    Context,
    Depends,
    DurableContext,
    EmptyModel,
    Hatchet,
    IllegalTaskOutputError,
    InvalidInputError,
    MockRunError,
    SleepCondition,
)


class Order(BaseModel):
    item: str
    quantity: int


class Priced(BaseModel):
    total: int


def test_the_context_carries_what_the_test_passed_and_ids_of_its_own(hatchet: Hatchet) -> None:
    seen: list[Context] = []

    @hatchet.task(name="inspect", input_validator=Order, retries=3)
    def inspect(input: Order, ctx: Context) -> dict[str, Any]:
        seen.append(ctx)
        return {"item": input.item, "input": ctx.input}

    output = inspect.mock_run(
        Order(item="pen", quantity=2), additional_metadata={"tenant": "a"}, retry_count=2,
        lifespan={"db": "conn"},
    )  # fmt: skip
    inspect.mock_run(Order(item="ink", quantity=1))
    assert output == {"item": "pen", "input": {"item": "pen", "quantity": 2}}
    first, second = seen
    assert first.additional_metadata == {"tenant": "a"}
    assert (first.retry_count, first.attempt_number, first.max_attempts) == (2, 3, 4)
    assert first.lifespan == {"db": "conn"}
    assert (first.workflow_name, first.task_name) == ("inspect", "inspect")
    assert first.priority == 1  # hatchet_sdk's mocked action: Priority.LOW
    assert first.parent_workflow_run_id is None and first.child_index is None
    assert not first.was_triggered_by_event and first.filter_payload == {}
    assert first.worker_labels == {} and not first.exit_flag
    ids = [first.workflow_run_id, first.task_run_id, first.worker_id]
    assert all(uuid.UUID(value) for value in ids)
    assert first.workflow_run_id != second.workflow_run_id
    first.log("kept with the mocked task run")  # logging needs no engine
    assert (second.retry_count, second.additional_metadata) == (0, {})


def test_a_parents_output_is_read_typed_and_a_missing_or_skipped_one_is_refused(
    hatchet: Hatchet,
) -> None:
    wf = hatchet.workflow(name="pricing", input_validator=Order)

    @wf.task()
    def price(input: Order, ctx: Context) -> Priced:
        return Priced(total=input.quantity * 3)

    @wf.task(parents=[price])
    def invoice(input: Order, ctx: Context) -> dict[str, int]:
        priced = ctx.task_output(price)
        assert isinstance(priced, Priced)
        return {"due": priced.total}

    order = Order(item="pen", quantity=2)
    assert invoice.mock_run(order, parent_outputs={"price": {"total": 6}}) == {"due": 6}
    with pytest.raises(ValueError, match="Step output for 'price' not found"):
        invoice.mock_run(order)
    with pytest.raises(ValueError, match="price was skipped"):
        invoice.mock_run(order, parent_outputs={"price": {"skipped": True}})
    # a task that is no parent is never read, whatever the test passes for it
    assert price.mock_run(order, parent_outputs={"invoice": {"due": 1}}) == Priced(total=6)


def test_dependencies_are_the_values_passed_not_resolved(hatchet: Hatchet) -> None:
    def connect(input: EmptyModel, ctx: Context) -> str:
        raise AssertionError("mock_run must not resolve dependencies")

    @hatchet.task(name="uses-db")
    async def uses_db(
        input: EmptyModel, ctx: Context, db: Annotated[str, Depends(connect)]
    ) -> dict[str, str]:
        return {"db": db}

    async def run() -> None:
        assert await uses_db.aio_mock_run(dependencies={"db": "fake"}) == {"db": "fake"}
        with pytest.raises(TypeError, match="db"):
            await uses_db.aio_mock_run()

    asyncio.run(run())


def test_the_input_is_validated_and_the_output_checked_as_a_worker_would(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="orders", input_validator=Order)
    def orders(input: Order, ctx: Context) -> Any:
        return input.item if input.quantity > 1 else {"item": input.item}

    assert orders.mock_run({"item": "pen", "quantity": 1}) == {"item": "pen"}  # a dict
    with pytest.raises(InvalidInputError, match="quantity"):
        orders.mock_run({"item": "pen"})
    with pytest.raises(IllegalTaskOutputError, match="returned str"):
        orders.mock_run(Order(item="pen", quantity=2))


def test_the_mock_call_must_match_the_functions_kind(hatchet: Hatchet) -> None:
    @hatchet.task(name="sync-kind")
    def sync_kind(input: EmptyModel, ctx: Context) -> None: ...

    @hatchet.task(name="async-kind")
    async def async_kind(input: EmptyModel, ctx: Context) -> None: ...

    assert not sync_kind.is_async_function and async_kind.is_async_function
    with pytest.raises(TypeError, match="Use `mock_run` instead"):
        asyncio.run(sync_kind.aio_mock_run())
    with pytest.raises(TypeError, match="Use `aio_mock_run` instead"):
        async_kind.mock_run()


ENGINE_CALLS: dict[str, Callable[[DurableContext], Awaitable[Any]]] = {
    "ctx.put_stream()": lambda ctx: _sync(ctx.put_stream, "chunk"),
    "ctx.aio_put_stream()": lambda ctx: ctx.aio_put_stream("chunk"),
    "ctx.refresh_timeout()": lambda ctx: _sync(ctx.refresh_timeout, "10s"),
    "ctx.release_slot()": lambda ctx: _sync(ctx.release_slot),
    "ctx.cancel()": lambda ctx: _sync(ctx.cancel),
    "ctx.aio_cancel()": lambda ctx: ctx.aio_cancel(),
}
DURABLE_CALLS: dict[str, Callable[[DurableContext], Awaitable[Any]]] = {
    "aio_sleep_for": lambda ctx: ctx.aio_sleep_for(1),
    "aio_wait_for": lambda ctx: ctx.aio_wait_for("w", SleepCondition(1)),
    "aio_now": lambda ctx: ctx.aio_now(),
}


async def _sync(call: Callable[..., Any], *args: Any) -> Any:
    return call(*args)


@pytest.mark.parametrize("called", [*ENGINE_CALLS, *DURABLE_CALLS])
async def test_what_needs_an_engine_raises_at_once_naming_the_call(
    hatchet: Hatchet, called: str
) -> None:
    @hatchet.durable_task(name="needs-engine")
    async def needs_engine(input: EmptyModel, ctx: DurableContext) -> None:
        await {**ENGINE_CALLS, **DURABLE_CALLS}[called](ctx)

    named = called if called in ENGINE_CALLS else "a durable call"
    with pytest.raises(MockRunError, match=re.escape(f"called {named}")):
        await needs_engine.aio_mock_run()


async def test_a_child_triggered_from_a_mocked_run_is_a_run_of_its_own(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="child")
    async def child(input: EmptyModel, ctx: Context) -> dict[str, str | None]:
        return {"parent": ctx.parent_workflow_run_id}

    @hatchet.task(name="spawner")
    async def spawner(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"child": await child.aio_run()}

    async with hatchet.worker("children-only", slots=1, workflows=[child]):
        assert await spawner.aio_mock_run() == {"child": {"parent": None}}


def test_a_sync_durable_task_is_deprecated_where_it_is_defined(hatchet: Hatchet) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @hatchet.durable_task(name="sync-durable")
        def sync_durable(input: EmptyModel, ctx: DurableContext) -> dict[str, int]:
            return {"attempt": ctx.attempt_number, "invocation": ctx.invocation_count}

    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert "non-async durable tasks are deprecated" in str(warning.message)
    assert warning.filename == __file__
    assert sync_durable.mock_run() == {"attempt": 1, "invocation": 1}
