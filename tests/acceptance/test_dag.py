"""Mirrors sdks/python/examples/dag (worker.py, test_dag.py) of hatchet-dev/hatchet.

The example: a four-task DAG. ``step1`` and ``step2`` return a random number each (a
pydantic model), ``step3`` (parents step1, step2) returns their sum, read with
``ctx.task_output(step).random_number``, and ``step4`` (parents step1, step3) returns
``{"step4": "step4"}``. (One version of the example passes ``schedule_timeout=`` to
``hatchet.workflow``, which hatchet-sdk 1.43.1 and flowsim take on tasks only; we put it on
a task.) Its e2e test asserts ``result["step3"]["sum"] == one + two`` and
``result["step4"]["step4"] == "step4"``; we also assert the dependency order."""

import random
from datetime import timedelta
from types import ModuleType

from pydantic import BaseModel

from flowsim import Hatchet


class Drawn(BaseModel):
    random_number: int


class Total(BaseModel):
    sum: int


def test_the_dag_sums_its_parents_and_runs_in_dependency_order(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel

    order: list[str] = []
    dag = hatchet.workflow(name="DAGExample")

    @dag.task(execution_timeout=timedelta(seconds=5), schedule_timeout=timedelta(minutes=10))
    def step1(input: EmptyModel, ctx: Context) -> Drawn:
        order.append("step1")
        return Drawn(random_number=random.randint(1, 100))

    @dag.task(execution_timeout=timedelta(seconds=5))
    def step2(input: EmptyModel, ctx: Context) -> Drawn:
        order.append("step2")
        return Drawn(random_number=random.randint(1, 100))

    @dag.task(parents=[step1, step2])
    def step3(input: EmptyModel, ctx: Context) -> Total:
        order.append("step3")
        one, two = ctx.task_output(step1), ctx.task_output(step2)
        return Total(sum=one.random_number + two.random_number)

    @dag.task(parents=[step1, step3])
    def step4(input: EmptyModel, ctx: Context) -> dict[str, str]:
        order.append("step4")
        assert isinstance(ctx.task_output(step3), Total)
        return {"step4": "step4"}

    with hatchet.worker("dag-worker", workflows=[dag]):
        result = dag.run()

    one = result["step1"]["random_number"]
    two = result["step2"]["random_number"]
    assert result["step3"]["sum"] == one + two
    assert result["step4"]["step4"] == "step4"
    assert sorted(order[:2]) == ["step1", "step2"] and order[2:] == ["step3", "step4"]
