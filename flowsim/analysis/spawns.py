"""Spawn edges read off the code: which task calls ``run``/``aio_run``/... on which workflow.

A simulated run shows the children a run really spawns, but only on the paths the inputs
it was given reach; a branch taken for other inputs, or a workflow no arrival starts,
spawns nothing in it. Reading the task functions' source fills those gaps: every call
``X.aio_run(...)`` (and the other trigger methods) whose ``X`` names a workflow in the
function's globals or closure is a spawn the code can make. Names are resolved the way
Python would at call time, without calling anything (``getattr_static``), and helper
functions the task calls are followed a few levels, because spawning from a helper is
common. Calls through data structures (``registry[name].aio_run``) cannot be resolved
statically; the simulation covers those when a run reaches them.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
import textwrap
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowsim.sdk.task import Task
from flowsim.sdk.workflow import BaseWorkflow

#: the BaseWorkflow methods that start runs of that workflow
SPAWN_METHODS = frozenset(
    {"run", "aio_run", "run_many", "aio_run_many", "run_no_wait", "aio_run_no_wait",
     "run_many_no_wait", "aio_run_many_no_wait"}
)  # fmt: skip
#: how many levels of helper functions to follow from a task
HELPER_DEPTH = 3

_FLOWSIM_DIR = Path(__file__).resolve().parents[1]
_LIBRARY_DIRS = tuple(
    Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p
)


@dataclass(frozen=True)
class SpawnCall:
    """One call in a task's code (or in a helper it calls) that starts runs of ``child``."""

    workflow: str
    task: str
    child: BaseWorkflow = field(compare=False)
    child_name: str
    method: str
    #: ``file:line`` of the call
    location: str
    #: helper functions the call was found through, outermost first
    via: tuple[str, ...] = ()

    @property
    def parent(self) -> str:
        return f"{self.workflow}/{self.task}"


def spawn_edges_from_code(workflows: Iterable[BaseWorkflow]) -> list[SpawnCall]:
    """Every spawn call in the tasks of ``workflows``, in definition order."""
    calls: list[SpawnCall] = []
    for workflow in workflows:
        for task in workflow.tasks:
            calls.extend(_task_calls(workflow, task))
    return calls


def _task_calls(workflow: BaseWorkflow, task: Task[Any]) -> Iterator[SpawnCall]:
    seen: set[tuple[str, int, str, str]] = set()
    for child, method, location, via in _function_calls(task.fn, (), set()):
        key = (child.name, id(child), method, location)
        if key in seen:
            continue
        seen.add(key)
        yield SpawnCall(workflow.name, task.name, child, child.name, method, location, via)


def _function_calls(
    fn: Any, via: tuple[str, ...], visited: set[int]
) -> Iterator[tuple[BaseWorkflow, str, str, tuple[str, ...]]]:
    fn = inspect.unwrap(fn)
    if not isinstance(fn, types.FunctionType) or id(fn) in visited:
        return
    visited.add(id(fn))
    node, filename, first_line = _parse(fn)
    if node is None:
        return
    scope = _Scope(fn)
    for call in _calls_in(node):
        target = call.func
        if isinstance(target, ast.Attribute) and target.attr in SPAWN_METHODS:
            owner = scope.resolve(target.value)
            if isinstance(owner, BaseWorkflow):
                line = first_line + call.lineno - 1
                yield owner, target.attr, f"{filename}:{line}", via
                continue
        if len(via) < HELPER_DEPTH:
            helper = scope.resolve(target)
            if _is_user_function(helper):
                yield from _function_calls(helper, (*via, helper.__qualname__), visited)


def _parse(fn: types.FunctionType) -> tuple[ast.AST | None, str, int]:
    try:
        lines, first_line = inspect.getsourcelines(fn)
        filename = _display(inspect.getsourcefile(fn) or fn.__code__.co_filename)
    except (OSError, TypeError):
        return None, "", 0
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:
        return None, filename, first_line
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return node, filename, max(first_line, 1)
    return None, filename, first_line


def _display(filename: str) -> str:
    """Paths under the working directory relative to it, as a reader's editor wants them."""
    path = Path(filename).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else filename


def _calls_in(node: ast.AST) -> Iterator[ast.Call]:
    """Calls in the function's body (its decorators run at definition, not in the task)."""
    body: list[ast.AST]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        body = list(node.body)
    elif isinstance(node, ast.Lambda):
        body = [node.body]
    else:
        body = [node]
    for statement in body:
        for child in ast.walk(statement):
            if isinstance(child, ast.Call):
                yield child


def _is_user_function(value: Any) -> bool:
    """Helpers worth following: plain functions in the user's files, not flowsim's or an
    installed library's (their code does not spawn the user's workflows)."""
    if isinstance(value, Task) or not isinstance(inspect.unwrap(value), types.FunctionType):
        return False
    try:
        source = inspect.getsourcefile(inspect.unwrap(value))
    except TypeError:
        return False
    if source is None:
        return False
    path = Path(source).resolve()
    return not path.is_relative_to(_FLOWSIM_DIR) and not any(
        path.is_relative_to(directory) for directory in _LIBRARY_DIRS
    )


class _Scope:
    """Name lookup as the function sees it at call time: closure cells, then its module's
    globals, then builtins; attributes without running descriptors or ``__getattr__``."""

    def __init__(self, fn: types.FunctionType) -> None:
        self.names: dict[str, Any] = {}
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
            try:
                self.names[name] = cell.cell_contents
            except ValueError:  # an empty cell: assigned after the function was defined
                continue
        self.globals = fn.__globals__

    def resolve(self, expr: ast.expr) -> Any:
        if isinstance(expr, ast.Name):
            if expr.id in self.names:
                return self.names[expr.id]
            if expr.id in self.globals:
                return self.globals[expr.id]
            return getattr(builtins, expr.id, None)
        if isinstance(expr, ast.Attribute):
            owner = self.resolve(expr.value)
            if owner is None:
                return None
            try:
                return inspect.getattr_static(owner, expr.attr)
            except AttributeError:
                return None
        return None
