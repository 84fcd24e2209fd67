"""hatchet_sdk names flowsim does not define, refused by name where they are looked up.

Code written for hatchet_sdk that reaches for a Hatchet server's API
(``hatchet.workflows``, ``hatchet.runs.list``, ``workflow.list_runs``) should learn at once
that flowsim does not model it and what to use instead; a bare ``AttributeError`` reads
like a flowsim bug. The error raised is a ``NotModelledAttributeError``: an
``UnsupportedFeatureError`` and an ``AttributeError`` too, so ``hasattr`` and
``getattr(obj, name, default)`` behave as for any missing attribute. The names are set on
the class at runtime, so a type checker still reports them as missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from flowsim.errors import NotModelledAttributeError

C = TypeVar("C", bound=type)


class Refused:
    """A descriptor: looking its name up, on an instance or the class, raises."""

    def __init__(self, where: str, name: str, feature: str, instead: str) -> None:
        self.where = where
        self.name = name
        self.feature = feature
        self.instead = instead

    def __get__(self, obj: Any, owner: type | None = None) -> NoReturn:
        where = self.where.format(name=getattr(obj, "name", "..."))
        error = NotModelledAttributeError(
            f"{where}.{self.name} belongs to {self.feature}, which flowsim does not model; "
            f"{self.instead}. See docs/hatchet-compatibility.md"
        )
        error.name, error.obj = self.name, obj  # as AttributeError sets them
        raise error


def refuse(where: str, feature: str, instead: str, *names: str) -> Callable[[C], C]:
    """A class decorator refusing ``names``, each as ``<where>.<name>`` (``where`` may
    name the instance: ``"task {name!r}"``), with the feature they belong to and what to
    use instead."""

    def install(cls: C) -> C:
        for name in names:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__}.{name} is defined; it cannot be refused too")
            setattr(cls, name, Refused(where, name, feature, instead))
        return cls

    return install


__all__ = ["Refused", "refuse"]
