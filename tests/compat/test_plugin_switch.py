"""The pytest plugin turns the alias on for a session: ``--flowsim-hatchet-compat``, the
``flowsim_hatchet_compat`` ini key or ``$FLOWSIM_HATCHET_COMPAT``, before conftest files are
imported, and shows it in the report header. Exercised through pytester, as a user's
repository would run it."""

import pytest

from flowsim import compat

APP = """
from hatchet_sdk import Context, EmptyModel, Hatchet

hatchet = Hatchet()

@hatchet.task(name="hello")
def hello(input: EmptyModel, ctx: Context) -> dict[str, str]:
    return {"hello": ctx.workflow_name}
"""

CONFTEST = """
import pytest
from app import hello   # imported while conftest files load: the alias must be on already

@pytest.fixture
def workflows():
    return [hello]
"""

TESTS = """
import flowsim
import hatchet_sdk
from hatchet_sdk.runnables.types import EmptyModel

from app import hello

def test_hatchet_sdk_is_flowsim():
    assert hatchet_sdk.Hatchet is flowsim.Hatchet and EmptyModel is flowsim.EmptyModel

def test_the_users_task_runs(flowsim_worker, workflows):
    flowsim_worker(slots=1, workflows=workflows)
    assert hello.run() == {"hello": "hello"}
"""

HEADER = "flowsim: hatchet_sdk imports served by flowsim (from {})"


@pytest.fixture
def user_repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv(compat.ENV_VAR, raising=False)
    compat.uninstall()  # the outer session's state is restored by tests/compat/conftest.py
    pytester.makepyfile(app=APP, conftest=CONFTEST, test_app=TESTS)
    pytester.syspathinsert()
    return pytester


def test_command_line_option(user_repo: pytest.Pytester) -> None:
    result = user_repo.runpytest("-p", "no:asyncio", "--flowsim-hatchet-compat")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([HEADER.format("--flowsim-hatchet-compat")])
    assert not compat.is_installed()  # the session took it down again


def test_ini_key(user_repo: pytest.Pytester) -> None:
    user_repo.makeini("[pytest]\nflowsim_hatchet_compat = true\n")
    result = user_repo.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([HEADER.format("ini flowsim_hatchet_compat")])
    assert not compat.is_installed()


def test_environment_variable(user_repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compat.ENV_VAR, "1")
    result = user_repo.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([HEADER.format("$FLOWSIM_HATCHET_COMPAT")])


def test_off_by_default_so_hatchet_sdk_is_whatever_is_installed(
    user_repo: pytest.Pytester,
) -> None:
    result = user_repo.runpytest("-p", "no:asyncio")
    assert result.ret != 0  # no hatchet_sdk here, and flowsim does not pretend to be one
    result.stdout.no_fnmatch_line("*hatchet_sdk imports served by flowsim*")


def test_environment_turns_off_what_the_ini_file_turns_on(
    user_repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_repo.makeini("[pytest]\nflowsim_hatchet_compat = true\n")
    monkeypatch.setenv(compat.ENV_VAR, "0")
    result = user_repo.runpytest("-p", "no:asyncio")
    assert result.ret != 0
    result.stdout.no_fnmatch_line("*hatchet_sdk imports served by flowsim*")


def test_a_bad_environment_value_is_a_usage_error(
    user_repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(compat.ENV_VAR, "ture")
    result = user_repo.runpytest("-p", "no:asyncio")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*$FLOWSIM_HATCHET_COMPAT='ture' is not a switch*"])


def test_a_session_inside_a_session_with_the_alias_on_leaves_it_on(
    user_repo: pytest.Pytester,
) -> None:
    compat.install()
    result = user_repo.runpytest("-p", "no:asyncio", "--flowsim-hatchet-compat")
    result.assert_outcomes(passed=2)
    assert compat.is_installed()
