"""Finding a boundary with few simulations: the first value at which a monotone answer flips.

Deadlock is monotone in the numbers the analysis varies: more slots never create one,
more concurrent parents never remove one. So the first safe slot count (or the first
deadlocking parent count) is found by probing the structural guess and its neighbour,
then galloping and bisecting only when the guess was wrong. Every value reported was
itself simulated, and so was the one just below it.
"""

from __future__ import annotations

from collections.abc import Callable


def first_true(predicate: Callable[[int], bool], guess: int, low: int, cap: int) -> int | None:
    """The smallest ``x`` in ``[low, cap]`` with ``predicate(x)``, for a predicate that is
    false and then true; None if it is false up to ``cap``. ``predicate(low - 1)`` is taken
    as false without asking."""
    guess = min(max(guess, low), cap)
    if predicate(guess):
        if guess == low or not predicate(guess - 1):
            return guess
        lo, hi = low - 1, guess - 1
    else:
        lo, step = guess, 1
        while True:
            candidate = min(lo + step, cap)
            if predicate(candidate):
                hi = candidate
                break
            if candidate == cap:
                return None
            lo, step = candidate, step * 2
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if predicate(middle):
            hi = middle
        else:
            lo = middle
    return hi
