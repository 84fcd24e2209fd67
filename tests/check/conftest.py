"""One ``flowsim check`` run of the sample repository, shared by the tests that read its
report (the run takes seconds; its outputs are read many ways). The checks also import
sample projects' modules in this process: they are forgotten after each test, so a later
test's module of the same name (``app``) is imported afresh."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator

import pytest

from flowsim.check import load_config
from tests.check.entry_point import COMMAND, Checked, copy_example, run_flowsim


@pytest.fixture(scope="session")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    repo = copy_example(tmp_path_factory.mktemp("check"))
    proc = run_flowsim(*COMMAND, cwd=repo)
    return Checked(repo, proc, load_config(repo / "pyproject.toml"))


@pytest.fixture(autouse=True)
def _forget_imported_projects() -> Iterator[None]:
    before = set(sys.modules)
    yield
    temporary = tempfile.gettempdir()
    for name in set(sys.modules) - before:
        location = getattr(sys.modules.get(name), "__file__", None) or ""
        if location.startswith(temporary):
            del sys.modules[name]
