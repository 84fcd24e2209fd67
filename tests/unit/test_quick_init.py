"""quick_init: the same frozen dataclass, built by a cheaper ``__init__``."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from flowsim.quick_init import quick_init
from flowsim.store.protocol import Claim, Completion, Outcome, RunRequest, RunView, TaskView


@dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)


def test_it_builds_what_the_dataclass_init_builds() -> None:
    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": [2]}), ((), {"a": 3, "b": "y"})]:
        quick, plain = Quick(*args, **kwargs), Plain(*args, **kwargs)  # type: ignore[arg-type]
        assert dataclasses.astuple(quick) == dataclasses.astuple(plain)
        assert repr(quick).replace("Quick", "Plain") == repr(plain)
    assert Quick(1) == Quick(1) and Quick(1) != Quick(2)
    assert Quick(1).c is not Quick(1).c  # a fresh default per instance
    assert str(inspect.signature(Quick)) == str(inspect.signature(Plain))


def test_the_class_stays_frozen_and_checks_its_arguments() -> None:
    quick = Quick(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'd'"):
        Quick(1, d=2)  # type: ignore[call-arg]
    assert hash(Outcome(True, ("r",), 1)) == hash(Outcome(True, ("r",), 1))


def test_it_refuses_classes_it_would_not_build_the_same_way() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    for cls, reason in [
        (Mutable, "not a frozen slotted"),
        (Unslotted, "not a frozen slotted"),
        (PostInit, "__post_init__"),
        (KeywordOnly, "not its fields"),
        (Derived, "not its fields"),
    ]:
        with pytest.raises(TypeError, match=reason):
            quick_init(cls)


def test_the_store_records_use_it() -> None:
    for cls in (RunRequest, TaskView, RunView, Claim, Completion, Outcome):
        assert "_set_" in " ".join(cls.__init__.__code__.co_names)
