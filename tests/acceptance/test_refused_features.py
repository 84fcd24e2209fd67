"""Mirrors sdks/python/examples/concurrency_limit (worker.py) of hatchet-dev/hatchet, which
flowsim does not model.

The concurrency example declares a workflow with ``concurrency=ConcurrencyExpression(
expression="input.group", max_runs=5, limit_strategy=CANCEL_IN_PROGRESS)``. Its e2e test
times runs against that limit. Under flowsim the supported behaviour is a refusal by name,
never a silent run without the limit: the names are refused at import, and the option at
definition, with UnsupportedFeatureError. (The rate_limit example, refused here before, now
runs: tests/acceptance/test_rate_limit.py.)"""

from types import ModuleType

import pytest
from pydantic import BaseModel

from flowsim import Hatchet, UnsupportedFeatureError


class Grouped(BaseModel):
    run: int
    group_key: str


def test_the_concurrency_limit_example_is_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    with pytest.raises(UnsupportedFeatureError, match="concurrency"):
        from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy  # noqa: F401
    limit = {"expression": "input.group", "max_runs": 5, "limit_strategy": "CANCEL_IN_PROGRESS"}
    with pytest.raises(UnsupportedFeatureError, match="concurrency"):
        hatchet.workflow(name="ConcurrencyDemo", concurrency=limit, input_validator=Grouped)
    with pytest.raises(UnsupportedFeatureError, match="concurrency"):
        hatchet.workflow(name="ConcurrencyTasks", input_validator=Grouped).task(concurrency=limit)
