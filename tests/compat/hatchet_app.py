"""An order pipeline written against hatchet_sdk 1.43.1, as a Hatchet user writes it.

Nothing here knows about flowsim: the tests import this module with flowsim.compat
installed, and it must run unchanged. Do not add flowsim imports.
"""

from datetime import timedelta
from typing import Any

from hatchet_sdk import Context, Hatchet, NonRetryableException, TriggerWorkflowOptions
from hatchet_sdk.runnables.types import EmptyModel
from pydantic import BaseModel

hatchet = Hatchet(debug=True)


class Order(BaseModel):
    order_id: str
    skus: list[str]


class Item(BaseModel):
    order_id: str
    sku: str


class Price(BaseModel):
    total: int


# ---------------------------------------------------------------- a DAG with parents=

checkout = hatchet.workflow(name="Checkout", input_validator=Order)


@checkout.task()
def validate(input: Order, ctx: Context) -> dict[str, int]:
    if not input.skus:
        raise NonRetryableException(f"order {input.order_id} has no items")
    return {"count": len(input.skus)}


@checkout.task(execution_timeout=timedelta(seconds=30))
async def price(input: Order, ctx: Context) -> Price:
    return Price(total=10 * len(input.skus))


@checkout.task(parents=[validate, price])
def receipt(input: Order, ctx: Context) -> dict[str, Any]:
    return {
        "order": input.order_id,
        "count": ctx.task_output(validate)["count"],
        "total": ctx.task_output(price).total,
    }


# ---------------------------------------------------------------- a child with retries

pack_item = hatchet.workflow(name="PackItem", input_validator=Item)


@pack_item.task(retries=2)
def pack(input: Item, ctx: Context) -> dict[str, Any]:
    if input.sku.startswith("jam") and ctx.retry_count < 2:
        raise RuntimeError(f"scanner jammed on {input.sku}")
    return {"sku": input.sku, "attempt": ctx.attempt_number, "order": ctx.additional_metadata}


# ---------------------------------------------------------------- a parent fanning out


@hatchet.task(name="Fulfil", input_validator=Order, execution_timeout=timedelta(minutes=5))
async def fulfil(input: Order, ctx: Context) -> dict[str, Any]:
    packed = await pack_item.aio_run_many(
        [
            pack_item.create_bulk_run_item(
                input=Item(order_id=input.order_id, sku=sku),
                options=TriggerWorkflowOptions(
                    additional_metadata={"order": input.order_id}, key=f"pack-{sku}"
                ),
            )
            for sku in input.skus
        ]
    )
    return {"packed": [result["pack"] for result in packed]}


@hatchet.task(name="Ping")
def ping(input: EmptyModel, ctx: Context) -> dict[str, str]:
    return {"pong": ctx.workflow_name}


WORKFLOWS = [checkout, pack_item, fulfil, ping]


def main() -> None:
    worker = hatchet.worker("orders-worker", slots=10, workflows=WORKFLOWS)
    worker.start()


if __name__ == "__main__":
    main()
