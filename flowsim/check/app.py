"""The project's code as the checks see it: its workflows, and the deployments they run on.

A deployment is judged on its own: its workers, and nothing else, run the workflows. So
the graph check of a deployment analyses a module assembled here, holding every workflow
of ``modules`` and that deployment's ``Worker`` objects (and not the workers the code
may declare at module level), with the same ``analyse()`` that ``flowsim graph`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from flowsim import targets
from flowsim.analysis.discovery import discover
from flowsim.check.config import CheckConfigError, DeploymentConfig, key_path
from flowsim.errors import ConfigurationError
from flowsim.sdk.client import Hatchet
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow


@dataclass(frozen=True)
class App:
    """Every workflow found in ``modules``, and the workers the code declares there."""

    label: str
    workflows: dict[str, BaseWorkflow]
    declared_workers: tuple[Worker, ...]


def module_target(entry: str, root: Path) -> str:
    """A ``modules`` entry as ``discover`` takes it: dotted names as they are (importable
    because the project's directory is on ``sys.path``), paths relative to the project."""
    if entry.endswith(".py") or "/" in entry or "\\" in entry:
        return str(root / entry)
    return entry


def load_app(modules: Sequence[str], root: Path) -> App:
    workflows: dict[str, BaseWorkflow] = {}
    workers: list[Worker] = []
    for index, name in enumerate(modules):
        try:
            discovered = discover(module_target(name, root))
        except ConfigurationError as exc:
            raise CheckConfigError(f"{key_path('modules', index)}: {exc}") from exc
        for workflow_name, workflow in discovered.workflows.items():
            workflows.setdefault(workflow_name, workflow)
        for module in discovered.modules:
            for value in vars(module).values():
                if isinstance(value, Worker) and all(value is not w for w in workers):
                    workers.append(value)
    return App(", ".join(modules), workflows, tuple(workers))


def deployment_workers(app: App, deployment: DeploymentConfig, index: int) -> tuple[Worker, ...]:
    """The deployment's workers: built from the table, or by the project's own code."""
    key = key_path("deployments", index)
    if deployment.workers_from is not None:
        return _workers_from(deployment.workers_from, f"{key}.workers_from")
    assert deployment.workers is not None  # the model requires one of the two
    client = Hatchet()  # never started: the workers only describe the deployment
    built = []
    for number, worker in enumerate(deployment.workers):
        names = worker.workflows if worker.workflows is not None else tuple(app.workflows)
        unknown = [n for n in names if n not in app.workflows]
        if unknown:
            raise CheckConfigError(
                f"{key}.workers[{number}].workflows: no workflow {', '.join(map(repr, unknown))} "
                f"in {app.label}; it defines {', '.join(sorted(app.workflows)) or 'none'}"
            )
        registered = [app.workflows[n] for n in names]
        built.append(
            Worker(client, worker.name, worker.slots, worker.durable_slots, workflows=registered)
        )
    return tuple(built)


def _workers_from(target: str, key: str) -> tuple[Worker, ...]:
    try:
        value = targets.built(target, targets.resolve(target), Worker)
    except targets.TargetError as exc:
        raise CheckConfigError(f"{key}: {exc}") from exc
    workers = tuple(value) if isinstance(value, list | tuple) else (value,)
    if not workers or not all(isinstance(w, Worker) for w in workers):
        raise CheckConfigError(
            f"{key}: {target} is {type(value).__name__}; expected a Worker made with "
            "hatchet.worker(...), a list of them, or a function returning either"
        )
    return workers


def app_module(app: App, workers: Sequence[Worker], label: str) -> ModuleType:
    """A module holding the app's workflows and exactly these workers, for ``analyse``."""
    module = ModuleType(label, f"{app.label}, as deployed by {label}")
    for number, workflow in enumerate(app.workflows.values()):
        setattr(module, f"workflow_{number}", workflow)
    for number, worker in enumerate(workers):
        setattr(module, f"worker_{number}", worker)
    return module
