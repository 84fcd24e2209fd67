"""The CEL subset of concurrency keys: what Hatchet users write is evaluated as CEL would,
everything else is refused by name."""

import pytest

from flowsim.cel import parse_key
from flowsim.errors import InvalidInputError, WorkflowDefinitionError


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.group", "A"),
        ("  input.nested.user ", "u1"),
        ("additional_metadata.tenant", "t9"),
        ("'constant'", "constant"),
        ('"double"', "double"),
        ("input.group + '-' + additional_metadata.tenant", "A-t9"),
        ("''", ""),
    ],
)
def test_keys_users_write_evaluate_as_cel_does(source: str, expected: str) -> None:
    key = parse_key(source)
    data = {"group": "A", "nested": {"user": "u1"}}
    assert key.evaluate(data, {"tenant": "t9"}) == expected


@pytest.mark.parametrize(
    "source",
    [
        "input.n > 5",
        "input.tier == 'premium' ? 'a' : 'b'",
        "size(input.items)",
        "group",
        "input",
        "input.group +",
        "",
        "'unterminated",
        "input.group input.other",
        "'esc\\'aped'",
    ],
)
def test_anything_else_is_refused_naming_the_subset(source: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"input\.<field>, additional_metadata"):
        parse_key(source)


def test_a_missing_field_or_a_non_string_is_an_input_error() -> None:
    key = parse_key("input.group")
    with pytest.raises(InvalidInputError, match=r"input\.group is not set"):
        key.evaluate({}, {})
    with pytest.raises(InvalidInputError, match="must be a string"):
        key.evaluate({"group": 3}, {})
    with pytest.raises(InvalidInputError, match=r"additional_metadata\.t is not set"):
        parse_key("additional_metadata.t").evaluate({}, {"other": "x"})
