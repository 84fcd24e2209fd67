"""A task that calls a rate-limited API: every run takes one unit of the static key
``payments-api`` (the scenario puts it: 10 per second), as Hatchet's Rate Limits guide
would have you write it. Timeouts are raised so the queue can wait as long as it takes.
"""

from pydantic import BaseModel

from flowsim import Context, Hatchet, RateLimit

hatchet = Hatchet()
LONG = 10**7


class Charge(BaseModel):
    customer: str = "c-1"


@hatchet.task(
    name="charge",
    input_validator=Charge,
    rate_limits=[RateLimit(static_key="payments-api", units=1)],
    execution_timeout=LONG,
    schedule_timeout=LONG,
)
def charge(input: Charge, ctx: Context) -> dict[str, str]:
    return {"charged": input.customer}
