"""The seed example, run on flowsim: `python -m tests.seed` from a checkout.

First the seed's layout as Hatchet users write it, on a worker with one slot that registers
both the parent and its child: flowsim reports the slot deadlock (instead of hanging) and
explains it. Then the same code on a worker with two slots, which succeeds.
"""

import sys

from flowsim import Hatchet, SlotDeadlockError, backend
from tests.seed.child import child_task
from tests.seed.parent import parent


def main() -> int:
    hatchet = Hatchet()
    print("== 1. worker 'test-worker' with slots=1 runs the parent and its children\n")
    with hatchet.worker("test-worker", slots=1, workflows=[child_task, parent]):
        try:
            parent.run()
        except SlotDeadlockError as deadlock:
            print(deadlock)
        else:
            print("unexpected: no deadlock")
            return 1

    backend.reset()  # a fresh in-memory backend for the second run
    print("\n== 2. the same code with slots=2\n")
    with hatchet.worker("test-worker", slots=2, workflows=[child_task, parent]):
        result = parent.run()
    for item in result["results"]:
        print(item["step1"]["transformed_message"])
    print("\nfull result:", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
