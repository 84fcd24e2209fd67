"""The null character in task outputs: Hatchet refuses an output holding it (Postgres
cannot store it in JSON) and points its users to ``remove_null_unicode_character`` to
strip it; flowsim refuses such an output the same way, and serves the same remedy."""

from __future__ import annotations

from typing import Any

from flowsim.store.records import JSON


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


def holds_null_character(value: JSON) -> bool:
    """Whether a JSON value has the null character in any string, key or value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or holds_null_character(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_null_character(item) for item in value)
    return False
