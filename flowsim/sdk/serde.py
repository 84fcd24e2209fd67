"""hatchet_sdk's ``remove_null_unicode_character``: Hatchet refuses a task output holding
the null character (Postgres cannot store it in JSON), and points its users here to strip
it; flowsim refuses such an output the same way, so it serves the same remedy."""

from __future__ import annotations

from typing import Any


def remove_null_unicode_character(data: Any, replacement: str = "") -> Any:
    """``data`` with every ``\\x00`` in its strings, dict keys included, replaced, through
    dicts, lists and tuples; anything else is returned as it is."""
    if isinstance(data, str):
        return data.replace("\x00", replacement)
    if isinstance(data, dict):
        return {
            remove_null_unicode_character(key, replacement): remove_null_unicode_character(
                value, replacement
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [remove_null_unicode_character(item, replacement) for item in data]
    if isinstance(data, tuple):
        return tuple(remove_null_unicode_character(item, replacement) for item in data)
    return data
