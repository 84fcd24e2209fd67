"""Worker labels and affinity: inference needs a GPU worker, resizing prefers CPU ones.

``inference`` requires the label ``gpu == "a100"``; ``resize`` prefers ``gpu == "none"``
(weight 10) but may run anywhere. Used by scenarios/affinity.toml and the simulator's
placement tests: only GPU workers ever run inference, and resizes go to the CPU workers
while those have free slots.
"""

from flowsim import Context, DesiredWorkerLabel, EmptyModel, Hatchet

hatchet = Hatchet()

inference = hatchet.workflow(name="inference")


@inference.task(
    desired_worker_labels={"gpu": DesiredWorkerLabel(value="a100", required=True)},
    schedule_timeout=3600,
)
def infer(input: EmptyModel, ctx: Context) -> dict[str, str]:
    return {"worker": ctx.worker_id}


resize = hatchet.workflow(name="resize")


@resize.task(
    desired_worker_labels={"gpu": DesiredWorkerLabel(value="none", weight=10)},
    schedule_timeout=3600,
)
def shrink(input: EmptyModel, ctx: Context) -> dict[str, str]:
    return {"worker": ctx.worker_id}
