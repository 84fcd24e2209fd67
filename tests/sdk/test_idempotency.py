"""``idempotency=`` beyond Hatchet's example (``tests/acceptance/test_idempotency.py``):
definition checks, a key a run cannot supply, a DAG workflow's STATUS key (released when the
whole run ends), children spawned from a task (a collision raises in the parent; a retried
parent re-spawning its child is no collision), sync triggers, scheduled runs, and one key
namespace for every workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowsim import (
    Context,
    EmptyModel,
    Hatchet,
    IdempotencyCollisionError,
    InvalidInputError,
    ManualClock,
    StatusBasedIdempotencyConfig,
    TTLBasedIdempotencyConfig,
    WorkflowDefinitionError,
)

MINUTE = timedelta(minutes=1)


def ttl(expression: str = "input.id", window: timedelta = MINUTE) -> TTLBasedIdempotencyConfig:
    return TTLBasedIdempotencyConfig(key_expression=expression, ttl=window)


@pytest.mark.parametrize(
    ("idempotency", "message"),
    [
        (ttl("input.id * 2"), r"idempotency key expression 'input.id \* 2'"),
        (ttl(window=timedelta(0)), "holds a key for no time"),
        (
            StatusBasedIdempotencyConfig(key_expression="input.id", fallback_ttl=-MINUTE),
            "fallback_ttl",
        ),
        ({"key_expression": "input.id"}, "is not an idempotency configuration"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_when_the_workflow_is_defined(
    hatchet: Hatchet, idempotency: Any, message: str
) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        hatchet.workflow(name="orders", idempotency=idempotency)


def test_a_run_that_cannot_supply_its_key_is_refused_and_nothing_is_created(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="keyed", idempotency=ttl())
    def keyed(input: dict[str, Any], ctx: Context) -> None: ...

    with pytest.raises(InvalidInputError, match=r"workflow 'keyed'.*input\.id is not set"):
        keyed.run({"other": 1}, wait_for_result=False)
    with pytest.raises(InvalidInputError, match="must be a string"):
        keyed.run({"id": 7}, wait_for_result=False)
    assert hatchet.runs.views() == []


async def test_a_dag_workflows_status_key_is_held_until_its_last_task_ends(
    hatchet: Hatchet,
) -> None:
    dag = hatchet.workflow(
        name="dag",
        idempotency=StatusBasedIdempotencyConfig(key_expression="'dag'", fallback_ttl=MINUTE),
    )
    seen: list[str] = []

    @dag.task()
    async def first(input: EmptyModel, ctx: Context) -> dict[str, str]:
        with pytest.raises(IdempotencyCollisionError):  # the run is going on
            await dag.aio_run(wait_for_result=False)
        seen.append("first")
        return {}

    @dag.task(parents=[first])
    async def second(input: EmptyModel, ctx: Context) -> dict[str, str]:
        with pytest.raises(IdempotencyCollisionError):  # still, after its first task ended
            await dag.aio_run(wait_for_result=False)
        seen.append("second")
        return {}

    async with hatchet.worker("w", slots=2, workflows=[dag]):
        await dag.aio_run()
        again = await dag.aio_run(wait_for_result=False)  # the run ended: the key is free
        await again.aio_result()
    assert seen == ["first", "second"] * 2


async def test_a_child_whose_key_is_held_raises_in_its_parent_and_a_respawn_is_no_collision(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="child", idempotency=ttl())
    async def child(input: dict[str, str], ctx: Context) -> dict[str, str]:
        return {"id": input["id"]}

    attempts: list[int] = []

    @hatchet.task(name="parent", retries=1)
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.retry_count)
        first = await child.aio_run({"id": "c"}, wait_for_result=False)
        try:
            await child.aio_run({"id": "c"}, wait_for_result=False)
        except IdempotencyCollisionError as collision:
            held_by = collision.existing_run_external_id
        if ctx.retry_count == 0:
            raise RuntimeError("retry me: the first child is spawned again, not collided")
        return {"first": first.workflow_run_id, "held_by": held_by}

    async with hatchet.worker("w", slots=3, workflows=[parent, child]):
        result = await parent.aio_run()
    assert attempts == [0, 1]
    assert result["held_by"] == result["first"]
    assert len([v for v in hatchet.runs.views() if v.workflow == "child"]) == 1


def test_sync_triggers_and_scheduled_runs_claim_keys_too(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    @hatchet.task(name="once", idempotency=ttl())
    def once(input: dict[str, str], ctx: Context) -> None: ...

    scheduled = once.schedule(datetime.fromtimestamp(3600, tz=UTC), {"id": "s"})
    with pytest.raises(IdempotencyCollisionError) as caught:
        once.run({"id": "s"}, wait_for_result=False)
    assert caught.value.existing_run_external_id == scheduled.workflow_run_id
    assert "a new run of this key can start when the key's ttl has passed" in str(caught.value)
    flowsim_clock.advance(60)
    once.run({"id": "s"}, wait_for_result=False)


def test_keys_are_one_namespace_for_every_workflow(hatchet: Hatchet) -> None:
    @hatchet.task(name="orders", idempotency=ttl("'order:' + input.id"))
    def orders(input: dict[str, str], ctx: Context) -> None: ...

    @hatchet.task(name="refunds", idempotency=ttl("'order:' + input.id"))
    def refunds(input: dict[str, str], ctx: Context) -> None: ...

    @hatchet.task(name="invoices", idempotency=ttl("'invoice:' + input.id"))
    def invoices(input: dict[str, str], ctx: Context) -> None: ...

    placed = orders.run({"id": "1"}, wait_for_result=False)
    with pytest.raises(IdempotencyCollisionError) as caught:
        refunds.run({"id": "1"}, wait_for_result=False)
    assert caught.value.existing_run_external_id == placed.workflow_run_id
    invoices.run({"id": "1"}, wait_for_result=False)  # a prefix of its own keeps it apart


async def test_a_durable_task_replaying_a_collided_spawn_collides_again_without_diverging(
    hatchet: Hatchet,
) -> None:
    from flowsim import DurableContext

    @hatchet.task(name="held", idempotency=ttl())
    async def held(input: dict[str, str], ctx: Context) -> None: ...

    holder = await held.aio_run({"id": "d"}, wait_for_result=False)
    outcomes: list[str] = []

    @hatchet.durable_task(name="spawner", retries=1)
    async def spawner(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        try:
            await held.aio_run({"id": "d"}, wait_for_result=False)
        except IdempotencyCollisionError as collision:
            outcomes.append(collision.existing_run_external_id)
        fresh = await held.aio_run({"id": f"fresh-{ctx.retry_count}"}, wait_for_result=False)
        if ctx.retry_count == 0:
            raise RuntimeError("replay the log")
        return {"fresh": fresh.workflow_run_id}

    async with hatchet.worker("w", slots=2, durable_slots=2, workflows=[held, spawner]):
        await spawner.aio_run()
    assert outcomes == [holder.workflow_run_id] * 2
