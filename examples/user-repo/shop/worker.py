"""The shop's worker process, in the two deployments the team has discussed.

``production`` is what runs today: eight slots. ``small`` is a cost-cutting proposal: one
slot. ``flowsim check`` (configured in pyproject.toml) shows why ``small`` cannot work:
``checkout`` holds the only slot while it waits for its ``reserve-item`` children, and they
need a slot on the same worker.

The deployments are functions, not module-level workers, so that importing the package
declares no worker and ``flowsim check`` judges each deployment on its own.
"""

from hatchet_sdk import Worker

from shop.workflows import charge_card, checkout, hatchet, reserve_item

WORKFLOWS = [checkout, reserve_item, charge_card]


def production() -> Worker:
    return hatchet.worker("shop-worker", slots=8, workflows=WORKFLOWS)


def small() -> Worker:
    return hatchet.worker("shop-worker", slots=1, workflows=WORKFLOWS)


def main() -> None:
    production().start()


if __name__ == "__main__":
    main()
