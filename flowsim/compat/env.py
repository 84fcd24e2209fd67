"""``$FLOWSIM_HATCHET_COMPAT``: turning the alias on from the environment.

One parser for every entry point (pytest plugin, CLI), so ``1``/``true``/``yes``/``on``
mean the same everywhere and a value like ``ture`` is an error instead of a silent "off".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from flowsim.errors import ConfigurationError

ENV_VAR: Final = "FLOWSIM_HATCHET_COMPAT"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def parse_switch(value: str, where: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(
        f"{where}={value!r} is not a switch: use one of {', '.join(sorted(_TRUE))} to turn "
        f"the hatchet_sdk alias on, or {', '.join(sorted(_FALSE))} to leave it off"
    )


def requested_by_environment(environ: Mapping[str, str] | None = None) -> bool | None:
    """True/False if ``$FLOWSIM_HATCHET_COMPAT`` is set (and not empty), else None."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return parse_switch(value, f"${ENV_VAR}") if value.strip() else None
