"""Hypothesis strategies for a workflow's input, built from its pydantic input model.

``st.from_type(Model)`` goes through ``st.builds``, which fills only *required* fields: a
fan-out count with a default (``n: int = 10``) would never vary, and an unconstrained
``int`` would be drawn up to 2**64, a simulation of a billion children. pydantic 2 no
longer ships a hypothesis plugin either. So the strategy is built field by field from
``model_fields``: constraints (``ge``, ``max_length``, ``pattern``...) are honoured, every
field is drawn (defaults included), and unconstrained integers, strings and collections
are kept small (``max_int``, ``max_size``), since in a workflow input they are mostly
counts and payloads. Every drawn value is validated by the workflow itself; what does
not validate is rejected, so only inputs the workflow accepts come out, as the JSON
dict a scenario's ``arrivals[].input`` takes.
"""

from __future__ import annotations

import enum
import types
import typing
from collections import abc
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from hypothesis import reject
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from flowsim.errors import InvalidInputError
from flowsim.sdk.task import validate_input
from flowsim.sdk.workflow import BaseWorkflow

#: floats without bounds stay within this, so the JSON stays ordinary
FLOAT_LIMIT = 1e9


def inputs_for(
    workflow: BaseWorkflow,
    *,
    max_int: int = 8,
    max_size: int = 3,
    **fields: st.SearchStrategy[Any],
) -> st.SearchStrategy[Any]:
    """Valid inputs for ``workflow``, JSON-shaped (a dict for a pydantic input model);
    ``fields`` overrides the strategy of named fields."""
    model = workflow.input_model
    if isinstance(model, type) and issubclass(model, BaseModel):
        raw: st.SearchStrategy[Any] = model_dicts(
            model, max_int=max_int, max_size=max_size, overrides=fields
        )
    else:
        raw = st.from_type(model)

    @st.composite
    def validated(draw: st.DrawFn) -> Any:
        # the drawn value, JSON-shaped (enums to values) but keyed as drawn (by alias): the
        # dump of the validated model would key by field name, which aliased fields ignore
        value = to_jsonable_python(draw(raw))
        try:
            validate_input(workflow, value)
        except InvalidInputError:
            reject()
        return value

    return validated()


def model_dicts(
    model: type[BaseModel],
    *,
    max_int: int,
    max_size: int,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts for every field of ``model`` (keyed by alias where the model has one)."""
    given = dict(overrides or {})
    unknown = sorted(set(given) - set(model.model_fields))
    if unknown:
        raise TypeError(
            f"{model.__name__} has no field(s) {', '.join(unknown)}; "
            f"its fields are {', '.join(model.model_fields)}"
        )
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        override = given.get(name)
        strategies[key] = (
            override
            if override is not None
            else for_type(info.annotation, info.metadata, max_int=max_int, max_size=max_size)
        )
    return st.fixed_dictionaries(strategies)


def for_type(
    annotation: Any, metadata: Sequence[Any] = (), *, max_int: int = 8, max_size: int = 3
) -> st.SearchStrategy[Any]:
    """A small, JSON-shaped strategy for one annotated type."""
    if get_origin(annotation) is typing.Annotated:
        base, *extra = get_args(annotation)
        return for_type(base, [*metadata, *extra], max_int=max_int, max_size=max_size)
    bounds = _Bounds(metadata)

    def inner(item: Any) -> st.SearchStrategy[Any]:
        return for_type(item, (), max_int=max_int, max_size=max_size)

    origin = get_origin(annotation)
    if annotation is Any:
        return st.none() | st.booleans() | st.integers(0, max_int) | st.text(max_size=max_size)
    if annotation is None or annotation is type(None):
        return st.none()
    if origin is Literal:
        return st.sampled_from(get_args(annotation))
    if origin is Union or origin is types.UnionType:
        return st.one_of([inner(arg) for arg in get_args(annotation)])
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low, high = bounds.integer_range(max_int)
        return st.integers(low, high)
    if annotation is float:
        low_f, high_f = bounds.float_range()
        return st.floats(
            low_f,
            high_f,
            allow_nan=False,
            allow_infinity=False,
            exclude_min=bounds.gt is not None,
            exclude_max=bounds.lt is not None,
        )
    if annotation is str:
        if bounds.pattern is not None:
            return st.from_regex(bounds.pattern, fullmatch=True).filter(bounds.length_ok)
        return st.text(min_size=bounds.min_length, max_size=bounds.max_length(max_size))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_dicts(annotation, max_int=max_int, max_size=max_size)
    args = get_args(annotation)
    if origin in (list, set, frozenset) or (origin is not None and _is_sequence(origin)):
        item = inner(args[0]) if args else st.integers(0, max_int)
        unique = origin in (set, frozenset)
        return st.lists(
            item,
            min_size=bounds.min_length,
            max_size=bounds.max_length(max_size),
            unique=unique,
        )
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(inner(args[0]), max_size=max_size).map(tuple)
        return st.tuples(*(inner(arg) for arg in args))
    if origin is dict or (origin is not None and _is_mapping(origin)):
        keys = inner(args[0]) if args else st.text(max_size=max_size)
        values = inner(args[1]) if len(args) > 1 else st.integers(0, max_int)
        return st.dictionaries(keys, values, max_size=max_size)
    if metadata:
        annotated: Any = typing.Annotated[annotation, *metadata]
        return st.from_type(annotated)
    return st.from_type(annotation)


def _is_sequence(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, abc.Sequence) and origin is not str


def _is_mapping(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, abc.Mapping)


class _Bounds:
    """The constraints pydantic keeps in ``FieldInfo.metadata`` (annotated_types objects
    and its own general metadata), read by attribute name so both kinds work."""

    def __init__(self, metadata: Sequence[Any]) -> None:
        def first(name: str) -> Any:
            values = (getattr(m, name, None) for m in metadata)
            return next((value for value in values if value is not None), None)

        self.ge, self.gt, self.le, self.lt = first("ge"), first("gt"), first("le"), first("lt")
        self.min_length: int = first("min_length") or 0
        self._max_length: int | None = first("max_length")
        self.pattern: str | None = first("pattern")

    def integer_range(self, span: int) -> tuple[int, int]:
        low = self.ge if self.ge is not None else (self.gt + 1 if self.gt is not None else None)
        high = self.le if self.le is not None else (self.lt - 1 if self.lt is not None else None)
        if low is None:
            low = 0 if high is None or high >= 0 else int(high) - span
        if high is None:
            high = int(low) + span
        return int(low), int(high)

    def float_range(self) -> tuple[float, float]:
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        low_f = float(low) if low is not None else -FLOAT_LIMIT
        high_f = float(high) if high is not None else FLOAT_LIMIT
        return low_f, high_f

    def max_length(self, default: int) -> int:
        return self._max_length if self._max_length is not None else max(default, self.min_length)

    def length_ok(self, text: str) -> bool:
        return self.min_length <= len(text) <= (self._max_length or len(text))
