"""Finding a user's workflows and workers without running anything of theirs but imports.

A user points flowsim at the code they deploy: a module, a package, or a ``.py`` file.
Workflows are whatever ``BaseWorkflow`` objects sit at the top level of those modules
(imported ones included, since an app often defines children in one file and parents in
another). Workers are the ``Worker`` objects at module top level. When the code declares
no worker (workers are often built inside ``main()``), the analysis assumes the simplest
deployment Hatchet users start from: one worker with Hatchet's default slots registering
every workflow, and says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from flowsim import rules
from flowsim.analysis.spawns import spawn_edges_from_code
from flowsim.errors import ConfigurationError
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow

#: the name of the worker the analysis assumes when the code declares none
ASSUMED_WORKER = "worker"

_synthetic = itertools.count(1)


@dataclass(frozen=True)
class WorkerShape:
    """What the analysis needs of a worker: its name, slot pools and registrations."""

    name: str
    slots: int
    durable_slots: int
    workflows: tuple[str, ...]
    #: False for the worker the analysis assumed because the code declares none
    declared: bool = True

    def registers(self, workflow: str) -> bool:
        return workflow in self.workflows


@dataclass
class Discovered:
    """The workflows and workers of a user's code, by name."""

    target: str
    modules: tuple[ModuleType, ...]
    workflows: dict[str, BaseWorkflow]
    workers: tuple[WorkerShape, ...]
    #: workflows no module holds at top level, found as children spawned in task code
    referenced_only: frozenset[str] = frozenset()
    #: definitions skipped, with why (no tasks, a name used by two different workflows)
    skipped: tuple[str, ...] = ()
    _module_name: str | None = field(default=None, repr=False)

    @property
    def workers_declared(self) -> bool:
        return any(worker.declared for worker in self.workers)

    @property
    def module_name(self) -> str:
        """A module holding every discovered workflow, importable by name, so a scenario
        can simulate workflows spread over a package (the simulator imports one module)."""
        if self._module_name is None:
            name = f"flowsim_analysis_{next(_synthetic)}"
            module = ModuleType(name, f"workflows discovered in {self.target}")
            for index, workflow in enumerate(self.workflows.values()):
                setattr(module, f"workflow_{index}", workflow)
            sys.modules[name] = module
            self._module_name = name
        return self._module_name


def discover(target: str | Path | ModuleType) -> Discovered:
    """Import ``target`` (a dotted module or package name, a ``.py`` file, a package
    directory, or a module object) and collect its workflows and workers."""
    modules = _load(target)
    label = target.__name__ if isinstance(target, ModuleType) else str(target)
    workflows: dict[str, BaseWorkflow] = {}
    skipped: list[str] = []
    workers: list[Worker] = []
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, BaseWorkflow):
                _add_workflow(workflows, value, skipped, module.__name__)
            elif isinstance(value, Worker) and all(value is not w for w in workers):
                workers.append(value)
    for worker in workers:
        for workflow in worker.workflows:
            _add_workflow(workflows, workflow, skipped, f"worker {worker.name!r}")
    referenced = _add_spawned_children(workflows, skipped)
    shapes = tuple(_shape(worker) for worker in workers) or (_assumed(workflows),)
    return Discovered(
        target=label,
        modules=tuple(modules),
        workflows=workflows,
        workers=shapes,
        referenced_only=frozenset(referenced),
        skipped=tuple(dict.fromkeys(skipped)),
    )


def _add_workflow(
    workflows: dict[str, BaseWorkflow], workflow: BaseWorkflow, skipped: list[str], where: str
) -> bool:
    existing = workflows.get(workflow.name)
    if existing is workflow:
        return False
    if existing is not None:
        skipped.append(
            f"{where}: a second workflow named {workflow.name!r}; the engine keys runs by "
            "name, so only the first one found is analysed"
        )
        return False
    if not workflow.tasks:
        skipped.append(f"{where}: workflow {workflow.name!r} has no tasks")
        return False
    workflows[workflow.name] = workflow
    return True


def _add_spawned_children(workflows: dict[str, BaseWorkflow], skipped: list[str]) -> set[str]:
    """Children a task spawns may live in a module nobody imports at top level; they are
    part of the app all the same, so follow the spawns found in the code to a fixed point."""
    referenced: set[str] = set()
    pending = list(workflows.values())
    while pending:
        calls = spawn_edges_from_code(pending)
        pending = []
        for call in calls:
            if _add_workflow(workflows, call.child, skipped, f"spawned by {call.parent}"):
                referenced.add(call.child.name)
                pending.append(call.child)
    return referenced


def _shape(worker: Worker) -> WorkerShape:
    return WorkerShape(
        name=worker.name,
        slots=worker.slots,
        durable_slots=worker.durable_slots,
        workflows=tuple(workflow.name for workflow in worker.workflows),
    )


def _assumed(workflows: dict[str, BaseWorkflow]) -> WorkerShape:
    return WorkerShape(
        name=ASSUMED_WORKER,
        slots=rules.DEFAULT_SLOTS,
        durable_slots=rules.DEFAULT_DURABLE_SLOTS,
        workflows=tuple(workflows),
        declared=False,
    )


# ---------------------------------------------------------------- importing


def _load(target: str | Path | ModuleType) -> list[ModuleType]:
    if isinstance(target, ModuleType):
        return _with_submodules(target)
    text = str(target)
    path = Path(text)
    if text.endswith(".py") or path.is_dir() or path.is_file():
        return _load_path(path.resolve(), text)
    added = _extend_path(Path.cwd())
    try:
        module = importlib.import_module(text)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == text.split(".")[0]:
            raise ConfigurationError(
                f"{text!r}: no such module or package (looked on sys.path and in "
                f"{Path.cwd()}); give a dotted module name, a .py file or a package directory"
            ) from exc
        raise ConfigurationError(f"{text!r}: importing it failed: {exc}") from exc
    finally:
        _restore_path(added)
    return _with_submodules(module)


def _load_path(path: Path, given: str) -> list[ModuleType]:
    if path.is_dir():
        if not (path / "__init__.py").is_file():
            raise ConfigurationError(
                f"{given}: a directory without __init__.py; give a package or a .py file"
            )
        added = _extend_path(path.parent, Path.cwd())
        try:
            return _with_submodules(importlib.import_module(path.name))
        finally:
            _restore_path(added)
    if not path.is_file():
        raise ConfigurationError(f"{given}: no such file")
    name = f"flowsim_user_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return [sys.modules[name]]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"{given}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    added = _extend_path(path.parent, Path.cwd())
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigurationError(
            f"{given}: importing it raised {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        _restore_path(added)
    return [module]


def _with_submodules(module: ModuleType) -> list[ModuleType]:
    """A package's workflows are usually spread over its submodules: import them all."""
    modules = [module]
    search = getattr(module, "__path__", None)
    if search is None:
        return modules
    for info in pkgutil.walk_packages(search, prefix=f"{module.__name__}."):
        try:
            modules.append(importlib.import_module(info.name))
        except Exception as exc:
            raise ConfigurationError(
                f"{info.name}: importing it raised {type(exc).__name__}: {exc}"
            ) from exc
    return modules


def _extend_path(*entries: Path) -> list[str]:
    added = [str(entry) for entry in entries if str(entry) not in sys.path]
    sys.path[:0] = added
    return added


def _restore_path(added: list[str]) -> None:
    for entry in added:
        if entry in sys.path:
            sys.path.remove(entry)
