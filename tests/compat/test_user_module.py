"""A module written for hatchet_sdk (tests/compat/hatchet_app.py) runs unchanged on flowsim
once the alias is installed: a DAG with parents=, a parent fanning out to children, retries,
NonRetryableException, and flowsim's slot-deadlock report on the same code."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from types import ModuleType

import pytest

import flowsim
from flowsim import FailedTaskRunExceptionGroup, SlotDeadlockError, compat
from flowsim.compat.finder import HatchetAliasFinder

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_gets_flowsims_classes(app: ModuleType) -> None:
    assert isinstance(app.hatchet, flowsim.Hatchet)
    assert app.Context is flowsim.Context and app.EmptyModel is flowsim.EmptyModel
    assert isinstance(app.checkout, flowsim.Workflow)
    assert isinstance(app.fulfil, flowsim.Standalone)


def test_dag_with_parents_runs_in_dependency_order(app: ModuleType) -> None:
    with app.hatchet.worker("w", slots=2, workflows=app.WORKFLOWS):
        result = app.checkout.run(app.Order(order_id="o-1", skus=["a", "b", "c"]))
    assert result == {
        "validate": {"count": 3},
        "price": {"total": 30},
        "receipt": {"order": "o-1", "count": 3, "total": 30},
    }


def test_non_retryable_exception_fails_the_dag_at_once(app: ModuleType) -> None:
    with (
        app.hatchet.worker("w", slots=2, workflows=app.WORKFLOWS),
        pytest.raises(FailedTaskRunExceptionGroup) as caught,
    ):
        app.checkout.run(app.Order(order_id="o-2", skus=[]))
    [error] = caught.value.exceptions
    assert error.exc_type == "NonRetryableException"
    assert error.exc == "order o-2 has no items"


def test_parent_fans_out_to_children_that_retry(app: ModuleType) -> None:
    with app.hatchet.worker("w", slots=4, workflows=app.WORKFLOWS):
        result = app.fulfil.run(app.Order(order_id="o-3", skus=["book", "jam-jar", "pen"]))
    assert result == {
        "packed": [
            {"sku": "book", "attempt": 1, "order": {"order": "o-3"}},
            {"sku": "jam-jar", "attempt": 3, "order": {"order": "o-3"}},
            {"sku": "pen", "attempt": 1, "order": {"order": "o-3"}},
        ]
    }


def test_the_same_code_on_one_slot_is_reported_as_a_slot_deadlock(app: ModuleType) -> None:
    with (
        app.hatchet.worker("w", slots=1, workflows=app.WORKFLOWS),
        pytest.raises(SlotDeadlockError) as caught,
    ):
        app.fulfil.run(app.Order(order_id="o-4", skus=["book"]))
    assert caught.value.report.holders[0].workflow == "Fulfil"


def test_a_script_runs_unchanged_after_install(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import flowsim.compat
            flowsim.compat.install()

            from tests.compat.hatchet_app import WORKFLOWS, hatchet, ping

            with hatchet.worker("w", slots=1, workflows=WORKFLOWS):
                print(ping.run())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.stdout.strip() == "{'pong': 'Ping'}", done.stderr


def test_without_the_alias_hatchet_sdk_is_not_flowsim() -> None:
    """The control: nothing but the switch makes hatchet_sdk resolve to flowsim."""
    compat.uninstall()
    spec = importlib.util.find_spec("hatchet_sdk")
    assert spec is None or not isinstance(spec.loader, HatchetAliasFinder)


def test_hatchet_sdks_generic_subscripts_evaluate_at_runtime(hatchet_sdk: ModuleType) -> None:
    """hatchet_sdk's classes also take the workflow's input type; a module whose
    annotations are evaluated at runtime subscripts them so. flowsim's take the rest."""
    from hatchet_sdk import Depends, EmptyModel, Task, TaskRunRef
    from hatchet_sdk.runnables.workflow import BaseWorkflow, Standalone, Workflow

    assert BaseWorkflow[EmptyModel] is BaseWorkflow and Workflow[EmptyModel] is Workflow
    for generic in (Standalone, Task, TaskRunRef):
        alias = generic[EmptyModel, dict]
        assert (typing.get_origin(alias), typing.get_args(alias)) == (generic, (dict,))
        assert typing.get_args(generic[dict]) == (dict,)  # flowsim's own spelling
    assert typing.get_args(Depends[str, EmptyModel]) == (str,)
    assert typing.get_args(Depends[str]) == (str,)
