"""The pytest plugin: zero configuration in a user's repository.

Every test gets fresh, isolated backend state: the engines behind all backend URLs are reset
around each test, so workflows a user's module defines once at import, on its own
module-level ``Hatchet()``, run in every test without being redefined and without seeing
another test's runs.

Backend choice, first match wins: ``--flowsim-backend``, ``$FLOWSIM_BACKEND``, the
``flowsim_backend`` ini key, ``memory://``. It is shown in the report header.

``--flowsim-hatchet-compat`` (or ``$FLOWSIM_HATCHET_COMPAT=1``, or ``flowsim_hatchet_compat =
true`` in the ini file) makes ``import hatchet_sdk`` give flowsim's API for the session, so a
test suite written against hatchet_sdk runs unchanged. It is turned on before conftest files
are imported, since they are where such a suite usually imports its workflows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import pytest

from flowsim import backend, compat
from flowsim.clock import ManualClock
from flowsim.dsn import MaskedUrl, mask_url
from flowsim.sdk.client import Hatchet
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.testing.isolation import drop_spare_schemas, isolated

OPTION = "--flowsim-backend"
INI_KEY = "flowsim_backend"
COMPAT_OPTION = "--flowsim-hatchet-compat"
COMPAT_INI_KEY = "flowsim_hatchet_compat"

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
    group.addoption(
        COMPAT_OPTION,
        dest="flowsim_hatchet_compat",
        action="store_true",
        default=False,
        help=f"serve `import hatchet_sdk` from flowsim for this session (also "
        f"${compat.ENV_VAR}=1 or the {COMPAT_INI_KEY} ini key)",
    )
    parser.addini(
        COMPAT_INI_KEY,
        type="bool",
        default=False,
        help="serve `import hatchet_sdk` from flowsim for this session",
    )


def _chosen_url(config: pytest.Config) -> str:
    url = (
        config.getoption("flowsim_backend")
        or os.environ.get(backend.ENV_VAR)
        or config.getini(INI_KEY)
        or backend.DEFAULT_URL
    )
    return backend.validate_url(str(url))


def _hatchet_compat_source(config: pytest.Config, option_given: bool) -> str | None:
    """What turns the alias on (for the header), or None if it stays off. The option wins,
    then the environment (which can also turn off what the ini file turns on), then ini."""
    if option_given:
        return COMPAT_OPTION
    try:
        from_env = compat.requested_by_environment()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from error
    if from_env is not None:
        return f"${compat.ENV_VAR}" if from_env else None
    return f"ini {COMPAT_INI_KEY}" if config.getini(COMPAT_INI_KEY) else None


def _apply_hatchet_compat(config: pytest.Config, option_given: bool) -> None:
    source = _hatchet_compat_source(config, option_given)
    installed_here = source is not None and not compat.is_installed()
    if installed_here:
        compat.install()
    config.stash[_COMPAT_KEY] = (source, installed_here)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before conftest files are imported: they often import the user's hatchet_sdk code."""
    option_given = bool(getattr(early_config.known_args_namespace, "flowsim_hatchet_compat", False))
    _apply_hatchet_compat(early_config, option_given)


def pytest_configure(config: pytest.Config) -> None:
    if _COMPAT_KEY not in config.stash:  # registered too late for pytest_load_initial_conftests
        _apply_hatchet_compat(config, bool(config.getoption("flowsim_hatchet_compat")))
    url = _chosen_url(config)
    config.stash[_URL_KEY] = url
    config.stash[_PREVIOUS_KEY] = backend.configured_default
    # Module-level Hatchet() clients resolve their URL on use, so they follow this choice.
    backend.configured_default = url


def pytest_unconfigure(config: pytest.Config) -> None:
    drop_spare_schemas()
    if _PREVIOUS_KEY in config.stash:
        backend.configured_default = config.stash[_PREVIOUS_KEY]
    _source, installed_here = config.stash.get(_COMPAT_KEY, (None, False))
    if installed_here:  # an enclosing session (pytester) that turned it on keeps it on
        compat.uninstall()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"flowsim: backend {mask_url(config.stash[_URL_KEY])}"]
    source, _installed_here = config.stash.get(_COMPAT_KEY, (None, False))
    if source is not None:
        lines.append(f"flowsim: hatchet_sdk imports served by flowsim (from {source})")
    return lines


_URL_KEY = pytest.StashKey[str]()
_PREVIOUS_KEY = pytest.StashKey[str | None]()
#: (what turned the hatchet_sdk alias on or None, whether this session installed it)
_COMPAT_KEY = pytest.StashKey[tuple[str | None, bool]]()


@pytest.fixture
def flowsim_base_url(request: pytest.FixtureRequest) -> str:
    """The backend chosen for the session; override it (e.g. parametrized) in a conftest
    to run tests on several backends. Its ``repr`` (what a traceback shows) is masked."""
    return MaskedUrl(request.config.stash[_URL_KEY])


@pytest.fixture(autouse=True)
def _flowsim_fresh_state(
    flowsim_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh backend for each test: every engine is reset before and after, and a
    durable backend gets its own file or schema (isolation without redefinition)."""
    backend.reset()
    url, cleanup = isolated(flowsim_base_url, tmp_path_factory.mktemp("flowsim"))
    previous, backend.configured_default = backend.configured_default, url
    try:
        yield url
    finally:
        backend.reset()
        backend.configured_default = previous
        cleanup()


@pytest.fixture
def flowsim_backend_url(_flowsim_fresh_state: str) -> str:
    """This test's backend URL (its own SQLite file or Postgres schema on those)."""
    return _flowsim_fresh_state


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
