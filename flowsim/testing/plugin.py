"""The pytest plugin: zero configuration in a user's repository.

Every test gets fresh, isolated backend state: the engines behind all backend URLs are reset
around each test, so workflows a user's module defines once at import, on its own
module-level ``Hatchet()``, run in every test without being redefined and without seeing
another test's runs.

Backend choice, first match wins: ``--flowsim-backend``, ``$FLOWSIM_BACKEND``, the
``flowsim_backend`` ini key, ``memory://``. It is shown in the report header.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import pytest

from flowsim import backend
from flowsim.clock import ManualClock
from flowsim.sdk.client import Hatchet
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow

OPTION = "--flowsim-backend"
INI_KEY = "flowsim_backend"

WorkerFactory = Callable[..., Worker]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowsim", "flowsim workflow testing")
    group.addoption(
        OPTION,
        dest="flowsim_backend",
        default=None,
        help=f"backend URL for flowsim fixtures and Hatchet() clients "
        f"(default: ${backend.ENV_VAR}, then the {INI_KEY} ini key, then memory://)",
    )
    parser.addini(INI_KEY, help="backend URL for flowsim (e.g. memory://)", default=None)


def _chosen_url(config: pytest.Config) -> str:
    url = (
        config.getoption("flowsim_backend")
        or os.environ.get(backend.ENV_VAR)
        or config.getini(INI_KEY)
        or backend.DEFAULT_URL
    )
    return backend.validate_url(str(url))


def pytest_configure(config: pytest.Config) -> None:
    url = _chosen_url(config)
    config.stash[_URL_KEY] = url
    config.stash[_PREVIOUS_KEY] = backend.configured_default
    # Module-level Hatchet() clients resolve their URL on use, so they follow this choice.
    backend.configured_default = url


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS_KEY in config.stash:
        backend.configured_default = config.stash[_PREVIOUS_KEY]


def pytest_report_header(config: pytest.Config) -> str:
    return f"flowsim: backend {config.stash[_URL_KEY]}"


_URL_KEY = pytest.StashKey[str]()
_PREVIOUS_KEY = pytest.StashKey[str | None]()


@pytest.fixture(autouse=True)
def _flowsim_fresh_state() -> Iterator[None]:
    """Reset every backend before and after each test (isolation without redefinition)."""
    backend.reset()
    yield
    backend.reset()


@pytest.fixture
def flowsim_backend_url(request: pytest.FixtureRequest) -> str:
    return request.config.stash[_URL_KEY]


@pytest.fixture
def hatchet(flowsim_backend_url: str) -> Hatchet:
    """A fresh client on the configured backend; it shares state with module-level clients."""
    return Hatchet(flowsim_backend_url)


@pytest.fixture
def flowsim_clock(flowsim_backend_url: str) -> ManualClock:
    """A manual clock driving the configured backend: retries, backoff and timeouts move
    only when the test calls ``flowsim_clock.advance(seconds)``."""
    clock = ManualClock()
    backend.engine_for(flowsim_backend_url, clock)
    return clock


@pytest.fixture
def flowsim_worker(hatchet: Hatchet) -> Iterator[WorkerFactory]:
    """Factory: ``flowsim_worker(slots=2, workflows=[...])`` starts a worker in the
    background for this test and drains it at teardown."""
    started: list[Worker] = []

    def start(
        workflows: Sequence[BaseWorkflow],
        slots: int | None = None,
        durable_slots: int | None = None,
        name: str = "test-worker",
        labels: dict[str, str | int] | None = None,
    ) -> Worker:
        worker = hatchet.worker(
            name, slots=slots, durable_slots=durable_slots, labels=labels, workflows=workflows
        )
        worker.__enter__()
        started.append(worker)
        return worker

    yield start
    for worker in reversed(started):
        worker.stop()
