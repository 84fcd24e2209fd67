"""Finding the users' workflows for a scenario: import their module, collect definitions.

The module is imported as the user wrote it (module-level ``Hatchet()`` clients and all);
the simulator redirects those clients to its virtual backend while it runs, so nothing in
the module has to know it is being simulated.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from flowsim import compat
from flowsim.errors import ScenarioError
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.sim.scenario import Scenario


def import_module(scenario: Scenario) -> ModuleType:
    where = f"{scenario.source or 'scenario'}: module = {scenario.module!r}"
    base = scenario.base_dir
    added = [str(p) for p in (base, Path.cwd()) if str(p) not in sys.path]
    sys.path[:0] = added
    try:
        # a module written against hatchet_sdk is simulated unchanged: its imports get
        # flowsim's API (an installed hatchet-sdk would need a server)
        with compat.installed():
            if scenario.module.endswith(".py"):
                return _import_path((base / scenario.module).resolve(), where)
            return importlib.import_module(scenario.module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == scenario.module.split(".")[0]:
            raise ScenarioError(
                f"{where}: no such module (looked on sys.path and in {base}); give a dotted "
                "module name importable from there, or a .py path relative to the scenario"
            ) from exc
        raise ScenarioError(f"{where}: importing it failed: {exc}") from exc
    except ScenarioError:
        raise
    except Exception as exc:
        raise ScenarioError(f"{where}: importing it raised {type(exc).__name__}: {exc}") from exc
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def _import_path(path: Path, where: str) -> ModuleType:
    if not path.is_file():
        raise ScenarioError(f"{where}: {path} does not exist")
    name = f"flowsim_scenario_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{where}: {path} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def workflows_of(module: ModuleType) -> dict[str, BaseWorkflow]:
    """Every workflow and standalone task defined at the module's top level, by name."""
    found: dict[str, BaseWorkflow] = {}
    for value in vars(module).values():
        if isinstance(value, BaseWorkflow):
            found.setdefault(value.name, value)
    return found


def load_workflows(scenario: Scenario) -> dict[str, BaseWorkflow]:
    module = import_module(scenario)
    found = workflows_of(module)
    if not found:
        raise ScenarioError(
            f"{scenario.source or 'scenario'}: module {scenario.module!r} defines no workflows "
            "at its top level (hatchet.workflow(...) or @hatchet.task(...))"
        )
    return found
