"""``MODULE:ATTRIBUTE`` targets (``flowsim worker``, ``workers_from``): each usual slip is
named with what to write instead."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowsim.targets import TargetError, built, resolve


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The current directory is a fresh project; sys.path and sys.modules are put back."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _module(project: Path, source: str) -> str:
    name = f"m_{uuid.uuid4().hex[:8]}"
    (project / f"{name}.py").write_text(source)
    return name


def _error(target: str) -> str:
    with pytest.raises(TargetError) as caught:
        resolve(target)
    return str(caught.value)


def test_a_module_in_the_current_directory_is_found(project: Path) -> None:
    name = _module(project, "answer = 42\n")
    assert resolve(f"{name}:answer") == 42


def test_a_file_path_is_answered_with_the_module_name_to_write(project: Path) -> None:
    assert "give the module's import name instead" in _error("app/worker.py:worker")
    assert _error("app/worker.py:worker").endswith(": app.worker:worker")
    assert _error("./worker.py:w").endswith(": worker:w")


def test_a_relative_module_is_refused_with_the_form_to_use(project: Path) -> None:
    assert _error(".worker:w") == (
        "'.worker' is a relative module name; give it in full, as Python imports it from "
        "the current directory (e.g. myapp.worker:w)"
    )


def test_a_missing_colon_or_part_shows_the_form(project: Path) -> None:
    for target in ("app.worker", ":worker", "app.worker:"):
        assert _error(target).startswith("expected 'package.module:attribute'")


def test_a_missing_module_is_told_apart_from_a_missing_dependency(project: Path) -> None:
    missing = _error("no_such_package.worker:w")
    assert "no module 'no_such_package' in the current directory" in missing
    name = _module(project, "import not_installed_anywhere\n")
    assert _error(f"{name}:w") == (
        f"cannot import {name!r}: it imports 'not_installed_anywhere', which is not installed"
    )


def test_a_module_that_raises_on_import_says_what_and_where(project: Path) -> None:
    name = _module(project, "x = 1\nraise RuntimeError('no config file')\n")
    message = _error(f"{name}:x")
    assert message.startswith(f"importing {name!r} raised RuntimeError: no config file (at ")
    assert message.endswith(f"{name}.py:2)")


def test_a_flowsim_error_raised_for_a_line_of_the_module_points_at_that_line(
    project: Path,
) -> None:
    """The error is raised inside flowsim (the cycle is found when ``b`` closes it, on
    line 6); the message points at that line of the module, not into flowsim."""
    name = _module(
        project,
        "from flowsim import Hatchet\n"
        "hatchet = Hatchet()\n"
        "wf = hatchet.workflow(name='loop')\n"
        "@wf.task(parents=['b'])\n"
        "def a(input, ctx): ...\n"
        "@wf.task(parents=[a])\n"
        "def b(input, ctx): ...\n"
        "worker = hatchet.worker('w', slots=1, workflows=[wf])\n",
    )
    message = _error(f"{name}:worker")
    assert "raised WorkflowDefinitionError" in message
    assert message.endswith(f"{name}.py:6)"), message


def test_a_missing_attribute_lists_what_the_module_defines_not_what_it_imports(
    project: Path,
) -> None:
    name = _module(
        project,
        "from __future__ import annotations\nimport os\nfrom pathlib import Path\n"
        "worker = object()\ndef production(): ...\nclass Shop: ...\n_private = 1\n",
    )
    assert _error(f"{name}:wroker") == (
        f"module {name!r} has no attribute 'wroker'; it defines: Shop, production, worker"
    )


def test_a_factory_is_called_and_one_that_raises_is_named(project: Path) -> None:
    name = _module(project, "def good(): return 7\ndef bad(): raise KeyError('slots')\n")
    assert built(f"{name}:good", resolve(f"{name}:good"), int) == 7
    with pytest.raises(TargetError, match=rf"^calling {name}:bad raised KeyError: 'slots' \(at "):
        built(f"{name}:bad", resolve(f"{name}:bad"), int)


def test_a_task_is_never_called_as_a_factory(project: Path) -> None:
    """A task object is callable too; calling it would run the user's task body (a
    customer charged at ``flowsim worker`` startup). Only functions are factories."""
    name = _module(
        project,
        "from flowsim import Hatchet\n"
        "hatchet = Hatchet()\n"
        "ran = []\n"
        "@hatchet.task(name='charge')\n"
        "def charge(input=None, ctx=None):\n"
        "    ran.append(1)\n"
        "    return {}\n",
    )
    task = resolve(f"{name}:charge")
    assert built(f"{name}:charge", task, int) is task
    assert sys.modules[name].ran == []
