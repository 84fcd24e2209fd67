"""``MODULE:ATTRIBUTE`` names of Python objects, as given on a command line (``flowsim
worker``) or in a config file (``workers_from`` in ``[tool.flowsim]``).

Both resolve them here so that the usual slips get the same explanation wherever they were
typed: a file path instead of a module, a relative module, a module that is not on the
path, a module that imports something not installed, a module that raises while it is
imported, an attribute that is not there, a factory that raises. Each is a
``TargetError`` whose message says what to write instead; the caller prefixes where the
target came from.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from types import ModuleType
from typing import Any

from flowsim.errors import ConfigurationError

#: how many of a module's names a "no attribute" error lists
LISTED_NAMES = 12


class TargetError(ConfigurationError):
    """A ``MODULE:ATTRIBUTE`` target that does not name a usable object."""


def split(target: str) -> tuple[str, str]:
    """(module, attribute), or why the text is not a target."""
    module_name, colon, attribute = target.partition(":")
    example = f"e.g. myapp.worker:{attribute or 'worker'}"
    if not colon or not module_name or not attribute:
        raise TargetError(f"expected 'package.module:attribute', {example}")
    path_like = "/" in module_name or "\\" in module_name
    if not path_like and module_name.startswith("."):
        raise TargetError(
            f"{module_name!r} is a relative module name; give it in full, as Python imports "
            f"it from the current directory ({example})"
        )
    if path_like or module_name.endswith(".py"):
        dotted = module_name.removesuffix(".py").replace("\\", "/").strip("./").replace("/", ".")
        raise TargetError(
            f"{module_name!r} is a file path; give the module's import name instead, as "
            f"Python imports it from the current directory: {dotted}:{attribute}"
        )
    return module_name, attribute


def import_target_module(module_name: str) -> ModuleType:
    """The module, imported with the current directory on the path (where a user runs the
    command from their repository's root)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            raise TargetError(
                f"cannot import {module_name!r}: no module {missing!r} in the current "
                f"directory ({os.getcwd()}) or the installed packages"
            ) from exc
        raise TargetError(
            f"cannot import {module_name!r}: it imports {missing!r}, which is not installed"
        ) from exc
    except Exception as exc:
        raise TargetError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}{_where(exc)}"
        ) from exc


def resolve(target: str) -> Any:
    """The object ``target`` names."""
    module_name, attribute = split(target)
    module = import_target_module(module_name)
    if not hasattr(module, attribute):
        names = _defined_in(module)
        shown = ", ".join(names[:LISTED_NAMES]) + (", ..." if len(names) > LISTED_NAMES else "")
        raise TargetError(
            f"module {module_name!r} has no attribute {attribute!r}; "
            f"it defines: {shown or 'nothing'}"
        )
    return getattr(module, attribute)


def built(target: str, value: Any, wanted: type) -> Any:
    """``value``, or what calling it returns when it is a factory: a function (or method,
    or ``functools.partial``), not itself a ``wanted``. Other callables are returned as
    they are, not called: a task object is callable too, and calling it would run the
    user's task body."""
    factory = inspect.isroutine(value) or isinstance(value, functools.partial)
    if not factory or isinstance(value, wanted):
        return value
    try:
        return value()
    except Exception as exc:
        raise TargetError(
            f"calling {target} raised {type(exc).__name__}: {exc}{_where(exc)}"
        ) from exc


def _defined_in(module: ModuleType) -> list[str]:
    """The public names the module defines itself: its objects, functions and classes,
    not what it imported (modules, other modules' functions and classes, ``annotations``)."""
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, ModuleType):
            continue
        if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
            if getattr(value, "__module__", None) != module.__name__:
                continue  # a function or class imported from elsewhere
        elif type(value).__module__ == "__future__":
            continue
        names.append(name)
    return sorted(names)


@functools.cache
def _own_folders() -> tuple[str, ...]:
    """The folders of flowsim and the backends shipped with it (found, not imported)."""
    folders = []
    for name in ("flowsim", "flowsim_sqlite", "flowsim_postgres"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            folders.append(os.path.dirname(spec.origin) + os.sep)
    return tuple(folders)


def _where(exc: BaseException) -> str:
    """Where the error was raised, as `` (at file:line)``: the innermost frame of the
    user's code, the line to change (a flowsim error raised for a bad definition is raised
    inside flowsim, on behalf of the line that made it); the innermost frame if none is."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    theirs = [frame for frame in frames if not frame.filename.startswith((*_own_folders(), "<"))]
    frame = (theirs or frames)[-1]
    return f" (at {frame.filename}:{frame.lineno})"
