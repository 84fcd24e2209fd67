"""One ``flowsim check`` run of the sample repository, shared by the tests that read its
report (the run takes seconds; its outputs are read many ways)."""

from __future__ import annotations

import pytest

from flowsim.check import load_config
from tests.check.entry_point import COMMAND, Checked, copy_example, run_flowsim


@pytest.fixture(scope="session")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    repo = copy_example(tmp_path_factory.mktemp("check"))
    proc = run_flowsim(*COMMAND, cwd=repo)
    return Checked(repo, proc, load_config(repo / "pyproject.toml"))
