"""first_true: the boundary of a monotone predicate, with few evaluations, whatever the
guess."""

from hypothesis import given, settings
from hypothesis import strategies as st

from flowsim.analysis.search import first_true


@settings(max_examples=300, database=None, deadline=None)
@given(boundary=st.integers(1, 80), guess=st.integers(-5, 100), cap=st.integers(1, 64))
def test_finds_the_boundary_or_none(boundary: int, guess: int, cap: int) -> None:
    asked: list[int] = []

    def at_least(x: int) -> bool:
        asked.append(x)
        return x >= boundary

    found = first_true(at_least, guess, 1, cap)
    assert found == (boundary if boundary <= cap else None)
    assert all(1 <= x <= cap for x in asked)
    if found is not None and found > 1:
        assert found - 1 in asked  # the value below the answer was itself checked
    assert len(asked) <= 2 * cap.bit_length() + 3


def test_a_right_guess_costs_two_evaluations() -> None:
    asked: list[int] = []
    assert first_true(lambda x: asked.append(x) or x >= 5, 5, 1, 100) == 5
    assert asked == [5, 4]
