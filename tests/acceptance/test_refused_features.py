"""Mirrors sdks/python/examples/rate_limit (worker.py) of hatchet-dev/hatchet, which flowsim
does not model.

The rate-limit example gives tasks ``rate_limits=[RateLimit(static_key=..., units=1)]`` and
a dynamic ``RateLimit(dynamic_key="input.user_id", units=1, limit=10, duration=MINUTE)``,
and calls ``hatchet.rate_limits.put``. Its e2e test times runs against those limits. Under
flowsim the supported behaviour is a refusal by name, never a silent run without the limit:
the names are refused at import, and the options at definition, with
UnsupportedFeatureError. (Concurrency limits are modelled: tests/acceptance/
test_concurrency.py mirrors Hatchet's concurrency examples.)"""

from types import ModuleType

import pytest

from flowsim import Hatchet, UnsupportedFeatureError


def test_the_rate_limit_example_is_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    with pytest.raises(UnsupportedFeatureError, match="rate limits"):
        from hatchet_sdk import RateLimit, RateLimitDuration  # noqa: F401
    with pytest.raises(UnsupportedFeatureError, match="rate limits"):
        from hatchet_sdk.rate_limit import RateLimit  # noqa: F401
    limited = hatchet.workflow(name="RateLimitDemo")
    static = {"static_key": "test-limit", "units": 1}
    dynamic = {"dynamic_key": "input.user_id", "units": 1, "limit": 10, "duration": "MINUTE"}
    for rate_limit in (static, dynamic):
        with pytest.raises(UnsupportedFeatureError, match="rate_limits"):
            limited.task(rate_limits=[rate_limit])
    assert not hasattr(hatchet, "rate_limits")
