"""Planning ``[tool.flowsim]``: every check it configures, resolved and ready to run.

Planning imports the project's code, builds the deployments and loads the scenarios, so a
name that does not resolve is a configuration error (exit 2) reported before anything
runs, with the key that holds it, rather than a failed check halfway through a CI job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from flowsim.analysis.discovery import discover
from flowsim.check.app import App, app_module, deployment_workers, load_app, module_target
from flowsim.check.checks import (
    Verdict,
    deadlock_free_check,
    graph_check,
    retries_converge_check,
    scenario_check,
)
from flowsim.check.config import (
    CheckConfigError,
    DeadlockFreeConfig,
    FlowsimConfig,
    PropertyConfig,
    ScenarioConfig,
    key_path,
)
from flowsim.errors import ConfigurationError
from flowsim.sdk.worker import Worker
from flowsim.sim.modules import load_workflows
from flowsim.sim.runner import check_references
from flowsim.sim.scenario import load_scenario

Kind = Literal["graph", "scenario", "property"]
#: the order checks run and are reported in: the cheapest and most structural first
KINDS: tuple[Kind, ...] = ("graph", "scenario", "property")


@dataclass(frozen=True)
class PlannedCheck:
    name: str
    kind: Kind
    key: str
    run: Callable[[], Verdict]


def plan(config: FlowsimConfig) -> list[PlannedCheck]:
    app = load_app(config.modules, config.root) if config.modules else None
    deployments = {
        deployment.name: deployment_workers(app, deployment, index)
        for index, deployment in enumerate(config.deployments)
        if app is not None
    }
    checks = _graph_checks(config, app, deployments)
    checks += [
        _scenario_check(config, index, entry) for index, entry in enumerate(config.scenarios)
    ]
    checks += [
        _property_check(config, index, entry, deployments)
        for index, entry in enumerate(config.properties)
    ]
    return checks


def _graph_checks(
    config: FlowsimConfig, app: App | None, deployments: dict[str, tuple[Worker, ...]]
) -> list[PlannedCheck]:
    if app is None:
        return []
    if not deployments:
        module = app_module(app, app.declared_workers, app.label)
        run = partial(graph_check, module, config.graph)
        return [PlannedCheck(app.label, "graph", key_path("modules"), run)]
    checks = []
    for index, (name, workers) in enumerate(deployments.items()):
        label = f"{app.label} @ {name}"
        run = partial(graph_check, app_module(app, workers, label), config.graph)
        checks.append(PlannedCheck(label, "graph", key_path("deployments", index), run))
    return checks


def _scenario_check(config: FlowsimConfig, index: int, entry: ScenarioConfig) -> PlannedCheck:
    key = key_path("scenarios", index)
    path = entry.path if entry.path.is_absolute() else config.root / entry.path
    try:
        scenario = load_scenario(path)
        check_references(scenario, load_workflows(scenario))
    except ConfigurationError as exc:
        raise CheckConfigError(f"{key}.path: {exc}") from exc
    shown = (
        path.relative_to(config.root).as_posix() if path.is_relative_to(config.root) else str(path)
    )
    name = entry.name or (f"{shown}: {scenario.name}" if scenario.name else shown)
    return PlannedCheck(name, "scenario", key, partial(scenario_check, scenario, entry))


def _property_check(
    config: FlowsimConfig,
    index: int,
    entry: PropertyConfig,
    deployments: dict[str, tuple[Worker, ...]],
) -> PlannedCheck:
    key = key_path("properties", index)
    module = _property_module(config, entry, key)
    worker = _property_worker(entry, deployments, key) if entry.deployment else None
    _resolve_workflow(module, entry.workflow, key)
    where = f" @ {entry.deployment}" if entry.deployment else ""
    name = entry.name or f"{entry.kind} {entry.workflow}{where}"
    run: Callable[[], Verdict]
    if isinstance(entry, DeadlockFreeConfig):
        run = partial(deadlock_free_check, module, entry, worker)
    else:
        run = partial(retries_converge_check, module, entry, worker)
    return PlannedCheck(name, "property", key, run)


def _property_module(config: FlowsimConfig, entry: PropertyConfig, key: str) -> str:
    if entry.module is not None:
        return module_target(entry.module, config.root)
    if len(config.modules) == 1:
        return module_target(config.modules[0], config.root)
    raise CheckConfigError(
        f"{key}.module: required key is missing (it defaults to the only entry of "
        f"{key_path('modules')}, which lists {len(config.modules)})"
    )


def _property_worker(
    entry: PropertyConfig, deployments: dict[str, tuple[Worker, ...]], key: str
) -> Worker:
    """The one worker whose slot counts the property uses. The helpers model one worker
    running every workflow, so a deployment of several workers cannot be given."""
    assert entry.deployment is not None
    if entry.deployment not in deployments:
        known = ", ".join(map(repr, deployments)) or f"none ({key_path('deployments')} is empty)"
        raise CheckConfigError(
            f"{key}.deployment: no deployment {entry.deployment!r}; configured: {known}"
        )
    workers = deployments[entry.deployment]
    if len(workers) != 1:
        raise CheckConfigError(
            f"{key}.deployment: {entry.deployment!r} has {len(workers)} workers; property "
            "checks model one worker running every workflow, so give its slot counts instead "
            "(a graph check or a scenario judges a deployment of several workers)"
        )
    return workers[0]


def _resolve_workflow(module: str, workflow: str, key: str) -> None:
    try:
        discovered = discover(module)
    except ConfigurationError as exc:
        raise CheckConfigError(f"{key}.module: {exc}") from exc
    if workflow not in discovered.workflows:
        raise CheckConfigError(
            f"{key}.workflow: no workflow {workflow!r} in {module}; it defines "
            f"{', '.join(sorted(discovered.workflows)) or 'none'}"
        )
