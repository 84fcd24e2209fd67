"""The pure rate limit rules (flowsim.rate_limits) and the RateLimit definition checks."""

import pytest

from flowsim import Hatchet, InvalidInputError, RateLimit, RateLimitDuration
from flowsim.cel import parse_count
from flowsim.errors import WorkflowDefinitionError
from flowsim.rate_limits import (
    UNTIL_CHANGED,
    WINDOW_SECONDS,
    Bucket,
    Demand,
    RateLimitSpec,
    admit,
    demands,
    put,
)
from flowsim.sdk.rate_limit import to_spec


def test_a_bucket_refills_to_its_limit_in_the_window_containing_now() -> None:
    bucket = Bucket(limit=5, window=10.0, value=1, last_refill=0.0)
    assert bucket.refilled(9.999) is bucket
    assert bucket.refilled(10.0) == Bucket(5, 10.0, 5, 10.0)
    assert bucket.refilled(37.0) == Bucket(5, 10.0, 5, 30.0)
    assert bucket.refilled(37.0).next_refill == 40.0


def test_put_creates_full_and_changes_keeping_the_units_left_capped() -> None:
    assert put(None, 4, 1.0, 3.0) == Bucket(4, 1.0, 4, 3.0)
    used = Bucket(4, 1.0, 3, 3.0)
    assert put(used, 10, 60.0, 3.5) == Bucket(10, 60.0, 3, 3.0)
    assert put(used, 2, 1.0, 3.5) == Bucket(2, 1.0, 2, 3.0)


def test_admit_takes_every_keys_units_or_none() -> None:
    buckets = {"a": Bucket(2, 60.0, 2, 0.0), "b": Bucket(1, 60.0, 0, 0.0)}
    refused = admit([Demand("a", 1), Demand("b", 1)], buckets, 1.0)
    assert (refused.admitted, refused.retry_at) == (False, 60.0)
    assert refused.buckets["a"].value == 2  # nothing taken from a
    taken = admit([Demand("a", 1), Demand("a", 1)], buckets, 1.0)
    assert taken.admitted and taken.buckets["a"].value == 0


def test_admit_waits_for_a_change_when_no_refill_can_help() -> None:
    missing = admit([Demand("nobody-put-this", 1)], {}, 0.0)
    assert (missing.admitted, missing.retry_at) == (False, UNTIL_CHANGED)
    too_big = admit([Demand("k", 3)], {"k": Bucket(2, 1.0, 2, 0.0)}, 0.0)
    assert (too_big.admitted, too_big.retry_at) == (False, UNTIL_CHANGED)


def test_a_dynamic_demand_upserts_its_key_and_reports_the_change() -> None:
    first = admit([Demand("u", 1, limit=2, window=60.0)], {}, 5.0)
    assert first.admitted and first.changed
    assert first.buckets["u"] == Bucket(2, 60.0, 1, 5.0)
    again = admit([Demand("u", 1, limit=2, window=60.0)], first.buckets, 6.0)
    assert again.admitted and not again.changed


def test_windows_are_hatchets_intervals_as_postgres_compares_them() -> None:
    assert WINDOW_SECONDS[RateLimitDuration.SECOND] == 1.0
    assert WINDOW_SECONDS[RateLimitDuration.WEEK] == 7 * 86_400.0
    assert WINDOW_SECONDS[RateLimitDuration.MONTH] == 30 * 86_400.0
    assert WINDOW_SECONDS[RateLimitDuration.YEAR] == 360 * 86_400.0


def test_demands_evaluate_keys_units_and_limits_over_the_run() -> None:
    spec = RateLimitSpec("'LIMIT:' + input.group", True, "input.units", "input.limit", 60.0)
    (demand,) = demands([spec], {"group": "g", "units": 2, "limit": 5}, {})
    assert demand == Demand("LIMIT:g", 2, 5, 60.0)
    with pytest.raises(InvalidInputError, match=r"input\.units is not set"):
        demands([spec], {"group": "g", "limit": 5}, {})
    with pytest.raises(InvalidInputError, match="must be an integer"):
        demands([spec], {"group": "g", "units": "2", "limit": 5}, {})


def test_count_expressions_are_a_literal_or_one_field() -> None:
    assert parse_count(" 3 ", "units").evaluate({}, {}) == 3
    assert parse_count("additional_metadata.n", "units").evaluate({}, {"n": 4}) == 4
    with pytest.raises(WorkflowDefinitionError, match="not arithmetic"):
        parse_count("input.limit * input.tier", "limit")


def test_rate_limit_validates_as_hatchet_sdk_does() -> None:
    with pytest.raises(ValueError, match="both static key and dynamic key"):
        RateLimit(static_key="a", dynamic_key="input.b")
    with pytest.raises(ValueError, match="requires limit"):
        RateLimit(dynamic_key="input.b")
    assert RateLimit(static_key="a").limit == -1
    assert RateLimit(static_key="a").duration is RateLimitDuration.MINUTE


def test_to_spec_reads_static_and_dynamic_limits() -> None:
    assert to_spec(RateLimit(static_key="api", units=2), "t") == RateLimitSpec(
        "api", False, 2, None, 60.0
    )
    dynamic = RateLimit(dynamic_key="input.user", units="input.n", limit="10",
                        duration=RateLimitDuration.HOUR)  # fmt: skip
    assert to_spec(dynamic, "t") == RateLimitSpec("input.user", True, "input.n", 10, 3600.0)
    with pytest.raises(WorkflowDefinitionError, match=r"static_key= .* or dynamic_key="):
        to_spec(RateLimit(), "t")
    with pytest.raises(WorkflowDefinitionError, match="rate limit key"):
        to_spec(RateLimit(dynamic_key="size(input.x)", limit=1), "t")


def test_a_trigger_whose_input_lacks_a_key_field_creates_nothing(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="per-user")

    @wf.task(rate_limits=[RateLimit(dynamic_key="input.user_id", limit=1)])
    def step(input: object, ctx: object) -> None:
        return None

    with pytest.raises(InvalidInputError, match=r"rate limit key 'input\.user_id'"):
        wf.run({}, wait_for_result=False)
    assert hatchet.runs.views() == []


def test_put_rejects_a_bad_limit(hatchet: Hatchet) -> None:
    with pytest.raises(ValueError, match="limit must be an int >= 0"):
        hatchet.rate_limits.put("k", -1)


def test_every_task_decorator_takes_rate_limits(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="decorated")
    limit = [RateLimit(static_key="api", units=2)]
    expected = (RateLimitSpec("api", False, 2, None, 60.0),)

    @wf.task(rate_limits=limit)
    def plain(input: object, ctx: object) -> None:
        return None

    @wf.durable_task(rate_limits=limit)
    async def durable(input: object, ctx: object) -> None:
        return None

    @wf.on_failure_task(rate_limits=limit)
    def failed(input: object, ctx: object) -> None:
        return None

    @wf.on_success_task(rate_limits=limit)
    def succeeded(input: object, ctx: object) -> None:
        return None

    @hatchet.task(name="standalone", rate_limits=limit)
    def standalone(input: object, ctx: object) -> None:
        return None

    tasks = [plain, durable, failed, succeeded, standalone.task]
    assert [task.spec.rate_limits for task in tasks] == [expected] * 5
