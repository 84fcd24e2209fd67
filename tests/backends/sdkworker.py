"""A worker module written against Hatchet's SDK, as a user's repository holds it: it
imports ``hatchet_sdk``, which is not installed here. ``flowsim worker`` serves it as is."""

import os

from hatchet_sdk import Context, EmptyModel, Hatchet

hatchet = Hatchet()


@hatchet.task(name="sdk-greeting")
def greeting(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"pid": os.getpid()}


worker = hatchet.worker("sdk-worker", slots=1, workflows=[greeting])
