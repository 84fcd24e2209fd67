"""The CEL predicate subset conditions use: what it evaluates and what it refuses."""

import pytest

from flowsim.cel_predicate import parse_predicate
from flowsim.errors import WorkflowDefinitionError

ROOTS = ("input", "additional_metadata", "output")


def holds(source: str, **values: object) -> bool:
    return parse_predicate(source, ROOTS, "test").evaluate(values)


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("output.random_number > 50", {"output": {"random_number": 51}}, True),
        ("output.random_number > 50", {"output": {"random_number": 50}}, False),
        ("output.random_number <= 50", {"output": {"random_number": 50}}, True),
        ("input.user_id == '1234'", {"input": {"user_id": "1234"}}, True),
        ('input.user_id == "1234"', {"input": {"user_id": 1234}}, False),  # no conversion
        ("input.user_id != '1234'", {"input": {"user_id": 1234}}, True),
        ("true", {}, True),
        ("false || input.a == 1", {"input": {"a": 1}}, True),
        ("input.a == 1 && !(input.b >= 2.5)", {"input": {"a": 1, "b": 2}}, True),
        ("input.a.b.c == null", {"input": {"a": {"b": {"c": None}}}}, True),
        ("input.ok", {"input": {"ok": True}}, True),
        ("input.x == 1.0", {"input": {"x": 1}}, True),  # numbers compare across int/float
    ],
)
def test_evaluates_the_subset_as_cel_does(
    source: str, values: dict[str, object], expected: bool
) -> None:
    assert holds(source, **values) is expected


@pytest.mark.parametrize(
    ("source", "values"),
    [
        ("input.missing > 1", {"input": {}}),  # no such key: a CEL error
        ("input.name > 1", {"input": {"name": "a"}}),  # no such overload
        ("input.n", {"input": {"n": 1}}),  # not a bool
        ("!input.n", {"input": {"n": 1}}),
    ],
)
def test_a_cel_error_means_the_condition_does_not_hold(
    source: str, values: dict[str, object]
) -> None:
    assert holds(source, **values) is False


@pytest.mark.parametrize(
    "source",
    ["", "input.a +", "size(input.a) > 1", "payload.a == 1", "input.a == (1", "input.a in [1]"],
)
def test_anything_outside_the_subset_is_refused_by_name(source: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match="condition expression"):
        parse_predicate(source, ROOTS, "test")


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("input.tier == 'premium' ? 10 : 1", {"input": {"tier": "premium"}}, 10),
        ("input.tier == 'premium' ? 10 : 1", {"input": {"tier": "free"}}, 1),
        # right-associative, as CEL's: a ? b : (c ? d : e)
        ("input.n > 5 ? 3 : input.n > 2 ? 2 : 1", {"input": {"n": 4}}, 2),
        ("(input.vip ? input.seats : 1)", {"input": {"vip": True, "seats": 7}}, 7),
    ],
)
def test_the_conditional_picks_its_branch(source: str, values: dict[str, object],
                                          expected: object) -> None:  # fmt: skip
    assert parse_predicate(source, ROOTS, "test").value(values) == expected


def test_a_conditional_on_something_not_bool_or_without_else_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\?: needs a bool"):
        parse_predicate("input.n ? 1 : 2", ROOTS, "test").value({"input": {"n": 3}})
    with pytest.raises(WorkflowDefinitionError, match="a '\\?' has no ':'"):
        parse_predicate("input.ok ? 1", ROOTS, "test")
