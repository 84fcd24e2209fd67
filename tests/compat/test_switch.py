"""install()/uninstall()/installed(): the alias wins over an installed hatchet_sdk, even one
imported already, and uninstall() gives the real one back untouched.

A fake ``hatchet_sdk`` package on sys.path stands in for the real hatchet-sdk, which is not
a dependency of flowsim."""

import importlib
import sys
from pathlib import Path

import pytest

import flowsim
from flowsim import compat
from flowsim.compat import UnknownHatchetModuleError
from flowsim.compat.finder import HatchetAliasFinder


@pytest.fixture
def fake_hatchet_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "hatchet_sdk"
    (package / "runnables").mkdir(parents=True)
    (package / "__init__.py").write_text("REAL = True\nclass Hatchet:\n    pass\n")
    (package / "runnables" / "__init__.py").write_text("")
    (package / "runnables" / "types.py").write_text("class EmptyModel:\n    REAL = True\n")
    (package / "extra.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(tmp_path)
    compat.uninstall()  # start from "off", whatever the session does
    return package


def test_the_alias_wins_over_an_already_imported_hatchet_sdk_and_uninstall_restores_it(
    fake_hatchet_sdk: Path,
) -> None:
    import hatchet_sdk.runnables.types  # noqa: F401 - the fake, imported before install()

    real, real_types = sys.modules["hatchet_sdk"], sys.modules["hatchet_sdk.runnables.types"]
    assert real.REAL and real_types.EmptyModel.REAL

    compat.install()
    aliased = importlib.import_module("hatchet_sdk")
    from hatchet_sdk.runnables.types import EmptyModel

    assert aliased is not real and aliased.Hatchet is flowsim.Hatchet
    assert EmptyModel is flowsim.EmptyModel
    assert not hasattr(aliased, "REAL")

    compat.uninstall()
    assert sys.modules["hatchet_sdk"] is real
    assert sys.modules["hatchet_sdk.runnables.types"] is real_types
    assert importlib.import_module("hatchet_sdk").REAL


def test_the_alias_wins_over_an_installed_but_not_yet_imported_hatchet_sdk(
    fake_hatchet_sdk: Path,
) -> None:
    with compat.installed():
        assert importlib.import_module("hatchet_sdk").Hatchet is flowsim.Hatchet
        with pytest.raises(UnknownHatchetModuleError, match=r"hatchet_sdk\.extra"):
            importlib.import_module("hatchet_sdk.extra")  # exists in the fake, not in 1.43.1
    assert "hatchet_sdk" not in sys.modules
    assert importlib.import_module("hatchet_sdk").REAL
    assert importlib.import_module("hatchet_sdk.extra").REAL


def test_install_is_idempotent_and_puts_the_finder_first() -> None:
    compat.uninstall()
    compat.install()
    compat.install()
    finders = [f for f in sys.meta_path if isinstance(f, HatchetAliasFinder)]
    assert len(finders) == 1 and sys.meta_path[0] is finders[0]
    compat.uninstall()
    compat.uninstall()
    assert not compat.is_installed()
    assert not any(isinstance(f, HatchetAliasFinder) for f in sys.meta_path)


def test_installed_restores_the_state_it_found() -> None:
    compat.uninstall()
    with compat.installed():
        assert compat.is_installed()
        with compat.installed():
            assert compat.is_installed()
        assert compat.is_installed()  # the inner block found it on and left it on
        import hatchet_sdk  # noqa: F401
    assert not compat.is_installed()
    assert "hatchet_sdk" not in sys.modules


def test_installed_uninstalls_even_when_the_block_raises() -> None:
    compat.uninstall()
    with pytest.raises(RuntimeError, match="boom"), compat.installed():
        raise RuntimeError("boom")
    assert not compat.is_installed()


def test_alias_modules_serve_flowsims_own_objects(hatchet_sdk: object) -> None:
    from hatchet_sdk.clients.admin import RunStatus, TriggerWorkflowOptions
    from hatchet_sdk.context.context import Context, DurableContext
    from hatchet_sdk.exceptions import (
        FailedTaskRunExceptionGroup,
        NonRetryableException,
        TaskRunError,
    )
    from hatchet_sdk.runnables.task import Task
    from hatchet_sdk.runnables.workflow import BaseWorkflow, Standalone, TaskRunRef, Workflow
    from hatchet_sdk.types.priority import Priority
    from hatchet_sdk.types.trigger import WorkflowRunTriggerConfig
    from hatchet_sdk.worker.worker import Worker
    from hatchet_sdk.workflow_run import WorkflowRunRef

    assert (Context, DurableContext, Task, Worker) == (
        flowsim.Context,
        flowsim.DurableContext,
        flowsim.Task,
        flowsim.Worker,
    )
    assert (BaseWorkflow, Standalone, Workflow) == (
        flowsim.BaseWorkflow,
        flowsim.Standalone,
        flowsim.Workflow,
    )
    assert (TaskRunRef, WorkflowRunRef, RunStatus, Priority) == (
        flowsim.TaskRunRef,
        flowsim.WorkflowRunRef,
        flowsim.RunStatus,
        flowsim.Priority,
    )
    assert (TriggerWorkflowOptions, WorkflowRunTriggerConfig) == (
        flowsim.TriggerWorkflowOptions,
        flowsim.WorkflowRunTriggerConfig,
    )
    assert (FailedTaskRunExceptionGroup, NonRetryableException, TaskRunError) == (
        flowsim.FailedTaskRunExceptionGroup,
        flowsim.NonRetryableException,
        flowsim.TaskRunError,
    )


def test_star_import_and_dir_list_only_served_names(hatchet_sdk: object) -> None:
    namespace: dict[str, object] = {}
    exec("from hatchet_sdk import *", namespace)
    served = {name for name in namespace if not name.startswith("__")}
    assert served == set(vars(flowsim)) & served
    assert {"Hatchet", "Context", "EmptyModel"} <= served
    assert "DedupeViolationError" not in served
    assert "DedupeViolationError" not in dir(hatchet_sdk)
    assert "runnables" in dir(hatchet_sdk)


def test_subpackages_are_attributes_as_after_a_real_import(hatchet_sdk: object) -> None:
    import hatchet_sdk as module

    assert module.runnables.types.EmptyModel is flowsim.EmptyModel
    assert module.exceptions.NonRetryableException is flowsim.NonRetryableException
