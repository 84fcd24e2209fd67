# The seed's child workflow. Only the import line differs from the seed
# (was: from hatchet_sdk import Context, Hatchet).
from pydantic import BaseModel

from flowsim import Context, Hatchet

hatchet = Hatchet()


class SimpleInput(BaseModel):
    message: str


child_task = hatchet.workflow(name="first-task", input_validator=SimpleInput)


@child_task.task(name="step1")
def step1(input: SimpleInput, ctx: Context) -> dict[str, str]:
    print("first-task called")
    return {"transformed_message": input.message.upper()}
