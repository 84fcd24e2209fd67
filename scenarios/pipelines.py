"""A DAG and a flaky task with retries, for the DAG and retry-storm scenarios."""

from pydantic import BaseModel

from flowsim import Context, EmptyModel, Hatchet

hatchet = Hatchet()

etl = hatchet.workflow(name="etl")


@etl.task(schedule_timeout=3600)
def extract(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"rows": 1000}


@etl.task(parents=[extract], schedule_timeout=3600)
def clean(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"rows": ctx.task_output(extract)["rows"] - 10}


@etl.task(parents=[extract], schedule_timeout=3600)
def profile(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"columns": 12}


@etl.task(parents=[clean, profile], schedule_timeout=3600)
def load(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"loaded": ctx.task_output(clean)["rows"]}


class Call(BaseModel):
    endpoint: str = "/charge"


@hatchet.task(name="call-api", input_validator=Call, retries=5, backoff_factor=2.0,
              backoff_max_seconds=60, schedule_timeout=3600)  # fmt: skip
def call_api(input: Call, ctx: Context) -> dict[str, str]:
    return {"endpoint": input.endpoint, "attempt": str(ctx.attempt_number)}
