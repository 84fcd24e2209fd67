# The seed's worker: one slot, and it registers only the child workflow.
# Only the import lines differ from the seed.
from flowsim import Hatchet
from tests.seed.child import child_task

hatchet = Hatchet()


def main() -> None:
    worker = hatchet.worker("test-worker", slots=1, workflows=[child_task])
    worker.start()


if __name__ == "__main__":
    main()
