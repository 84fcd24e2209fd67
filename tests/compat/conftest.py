"""Fixtures that turn the hatchet_sdk alias on for one test and put everything back after.

Every test here may install or uninstall the alias, or import a fake hatchet_sdk; the
autouse fixture restores the switch and every ``hatchet_sdk`` module in ``sys.modules`` as
they were, so a session that runs with the alias on (``--flowsim-hatchet-compat``) keeps it.
"""

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from flowsim import compat

APP = "tests.compat.hatchet_app"


def _hatchet_modules() -> dict[str, ModuleType]:
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "hatchet_sdk" or name.startswith("hatchet_sdk.")
    }


@pytest.fixture(autouse=True)
def _restore_import_state() -> Iterator[None]:
    was_installed = compat.is_installed()
    before = _hatchet_modules()
    yield
    if not was_installed:
        compat.uninstall()  # first: it gives back what the test's install() set aside
    for name in _hatchet_modules():
        if before.get(name) is not sys.modules[name]:
            del sys.modules[name]
    sys.modules.update(before)
    sys.modules.pop(APP, None)
    if was_installed:
        compat.install()  # last: nothing left for it to set aside


@pytest.fixture
def hatchet_sdk() -> Iterator[ModuleType]:
    """The module a user gets from ``import hatchet_sdk`` with the alias installed."""
    with compat.installed():
        yield importlib.import_module("hatchet_sdk")


@pytest.fixture
def app() -> Iterator[ModuleType]:
    """tests/compat/hatchet_app.py, imported fresh with the alias installed."""
    with compat.installed():
        sys.modules.pop(APP, None)
        yield importlib.import_module(APP)
