"""Run unmodified ``hatchet_sdk`` code on flowsim: ``import hatchet_sdk`` gives flowsim's API.

::

    import flowsim.compat
    flowsim.compat.install()          # or: with flowsim.compat.installed(): ...
    from hatchet_sdk import Context, Hatchet   # flowsim's classes

The alias serves our own API rather than routing the real hatchet-sdk to flowsim's engine:
the real client needs a token and gRPC settings to be constructed, and its internals change
between releases, while an alias of flowsim's API is stable, typed, and refuses what flowsim
does not model by name (``UnsupportedHatchetImportError``). It takes precedence over an
installed hatchet-sdk. See docs/hatchet-compatibility.md.
"""

from flowsim.compat.env import ENV_VAR, requested_by_environment
from flowsim.compat.errors import (
    UnknownHatchetModuleError,
    UnknownHatchetNameError,
    UnsupportedHatchetImportError,
)
from flowsim.compat.switch import install, installed, is_installed, uninstall

__all__ = [
    "ENV_VAR",
    "UnknownHatchetModuleError",
    "UnknownHatchetNameError",
    "UnsupportedHatchetImportError",
    "install",
    "installed",
    "is_installed",
    "requested_by_environment",
    "uninstall",
]
