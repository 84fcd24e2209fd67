"""Dependency injection: task parameters ``name: Annotated[T, Depends(fn)]``, as in
hatchet_sdk.

Before each attempt, on the loop the worker's tasks run on, ``fn(input, ctx, **its own
dependencies)`` is called (awaited if it is a coroutine function, else in a thread) and its
value passed to the task as ``name``. A value that is a context manager, sync or async
(``@contextmanager``, ``@asynccontextmanager``), is entered and what it enters is passed;
it is exited once the task has returned or raised, last entered first, with no exception
details (``__exit__(None, None, None)``, as hatchet_sdk does). A dependency function may
have dependencies of its own, declared the same way after its ``input, ctx``.

A failure while resolving fails the attempt like the task's own exception (retried as
configured). Differs: a cycle of dependency functions is refused when the task is defined
(``InvalidDependencyError`` naming the chain); Hatchet finds it when the task runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flowsim.errors import InvalidDependencyError
from flowsim.sdk.types import hatchet_parameters

T = TypeVar("T")
DependencyFunc = Callable[..., Any]
#: how a sync callable runs: in a thread on a real loop, inline on the simulator's
CallSync = Callable[..., Awaitable[Any]]


class Depends(Generic[T]):
    """Marks a parameter as injected: ``config: Annotated[Config, Depends(load_config)]``."""

    def __class_getitem__(cls, params: Any) -> Any:  # hatchet_sdk's Depends[T, In] too
        return super().__class_getitem__(hatchet_parameters(params, 0))  # type: ignore[misc]

    def __init__(self, fn: DependencyFunc) -> None:
        name = getattr(fn, "__name__", repr(fn))
        if not callable(fn) or len(inspect.signature(fn).parameters) < 2:
            raise InvalidDependencyError(
                f"Depends({name}): a dependency function takes at least two parameters, the "
                "task's input and ctx (more may be dependencies of its own)"
            )
        self._fn = fn

    @property
    def fn(self) -> DependencyFunc:
        return self._fn

    def __repr__(self) -> str:
        return f"Depends({getattr(self._fn, '__name__', self._fn)!r})"


@dataclass(frozen=True, slots=True)
class Dependency:
    """One injected parameter and, resolved first, the dependencies of its function."""

    parameter: str
    fn: DependencyFunc
    inner: tuple[Dependency, ...]


def dependencies_of(fn: Callable[..., Any], where: str) -> tuple[Dependency, ...]:
    """The injected parameters of a task function (a cycle: ``InvalidDependencyError``)."""
    return _declared(fn, skip=0, chain=(), where=where)


def _declared(
    fn: Callable[..., Any], skip: int, chain: tuple[str, ...], where: str
) -> tuple[Dependency, ...]:
    found = []
    hints = _annotations(fn)
    for parameter in list(inspect.signature(fn).parameters)[skip:]:
        depends = _depends_in(hints.get(parameter))
        if depends is None:
            continue
        name = getattr(depends.fn, "__name__", repr(depends.fn))
        if name in chain:
            raise InvalidDependencyError(
                f"{where}: circular dependency: {' -> '.join((*chain, name))}; a dependency "
                "function cannot depend on itself, directly or through others"
            )
        inner = _declared(depends.fn, skip=2, chain=(*chain, name), where=where)
        found.append(Dependency(parameter, depends.fn, inner))
    return tuple(found)


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameter annotations, resolved when they are strings (``from __future__ import
    annotations``), where hatchet_sdk reads them as written."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable names: the annotations as written
        return {name: p.annotation for name, p in inspect.signature(fn).parameters.items()}


#: ``type X = Annotated[...]`` aliases (Python 3.12+)
_TYPE_ALIAS: type | None = getattr(typing, "TypeAliasType", None)


def _depends_in(annotation: Any) -> Depends[Any] | None:
    if _TYPE_ALIAS is not None and isinstance(annotation, _TYPE_ALIAS):
        annotation = getattr(annotation, "__value__", annotation)
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for item in typing.get_args(annotation)[1:]:
        if isinstance(item, Depends):
            return item
    return None


async def enter_dependencies(
    dependencies: tuple[Dependency, ...],
    input: Any,
    ctx: Any,
    exits: contextlib.AsyncExitStack,
    call_sync: CallSync,
) -> dict[str, Any]:
    """Each dependency's value by parameter name, its context manager (if it is one)
    entered, with its exit pushed onto ``exits``."""
    values: dict[str, Any] = {}
    for dependency in dependencies:
        inner = await enter_dependencies(dependency.inner, input, ctx, exits, call_sync)
        if inspect.iscoroutinefunction(dependency.fn):
            value = await dependency.fn(input, ctx, **inner)
        else:
            value = await call_sync(dependency.fn, input, ctx, **inner)
        if hasattr(value, "__aenter__") and hasattr(value, "__aexit__"):
            entered = await value.__aenter__()
            exits.push_async_callback(value.__aexit__, None, None, None)
            value = entered
        elif hasattr(value, "__enter__") and hasattr(value, "__exit__"):
            entered = await call_sync(value.__enter__)
            exits.push_async_callback(call_sync, value.__exit__, None, None, None)
            value = entered
        values[dependency.parameter] = value
    return values


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)
