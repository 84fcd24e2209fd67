# The seed's parent task: it fans out to two children with asyncio.gather and waits for
# them while holding its worker slot. Only the import lines differ from the seed.
import asyncio
from typing import Any

from flowsim import Context, EmptyModel, Hatchet
from tests.seed.child import SimpleInput, child_task

hatchet = Hatchet()


@hatchet.task(name="parent")
async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    result1 = child_task.aio_run(SimpleInput(message="Hello, World!"))
    result2 = child_task.aio_run(SimpleInput(message="Hello, Moon!"))

    # gather the results of the two tasks
    results = await asyncio.gather(result1, result2)

    return {"results": results}


def print_results(results: list[dict[str, Any]]) -> None:
    # The seed's printing code. Against real Hatchet (and flowsim) this raises KeyError:
    # a workflow run returns {"step1": {...}}, keyed by task name; see tests/seed/README.md.
    print(results[0]["transformed_message"])
    print(results[1]["transformed_message"])
