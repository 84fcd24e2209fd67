"""Fill an alias module (e.g. ``hatchet_sdk.runnables.types``) from its row of the table.

Served names go into the module's ``__dict__`` as the flowsim objects themselves, so
``hatchet_sdk.Hatchet is flowsim.Hatchet``: isinstance checks, mock.patch and pickling see
one class, not a copy. Everything else goes through a PEP 562 ``__getattr__``, which is only
consulted for names the module does not have: that is where refusals are raised.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Final

from flowsim.compat import table
from flowsim.compat.errors import UnknownHatchetNameError, UnsupportedHatchetImportError
from flowsim.compat.features import DOCS

#: Set on every alias module, so the switch can tell its modules from a real hatchet_sdk's.
MARKER: Final = "__flowsim_alias__"


def is_alias(module: object) -> bool:
    return getattr(module, MARKER, False) is True


def populate(module: ModuleType) -> None:
    """Give ``module`` (already named, from the import system) its served names and hooks."""
    name = module.__name__
    spec = table.MODULES[name]
    module.__dict__.update(spec.served)
    module.__dict__.update(
        {
            MARKER: True,
            "__all__": sorted(spec.served),
            "__doc__": f"flowsim's alias of {name}: the names flowsim implements ({DOCS}).",
            "__getattr__": _missing(name, spec),
            "__dir__": _listing(name, spec),
        }
    )


def _missing(module_name: str, spec: table.AliasSpec) -> Callable[[str], object]:
    subpackages = table.children(module_name)

    def __getattr__(attribute: str) -> object:  # noqa: N807 - PEP 562's name
        if attribute in spec.refused:
            hint = table.HINTS.get((module_name, attribute))
            feature = table.REFUSED_NAMES[attribute]
            raise UnsupportedHatchetImportError(f"{module_name}.{attribute}", feature, hint)
        if attribute in subpackages:
            # after a real `import hatchet_sdk` its subpackages are attributes; importing
            # here serves or refuses them exactly as an import statement would
            return importlib.import_module(f"{module_name}.{attribute}")
        if spec.others is not None and not attribute.startswith("__"):
            raise UnsupportedHatchetImportError(f"{module_name}.{attribute}", spec.others)
        raise UnknownHatchetNameError(
            f"module {module_name!r} has no attribute {attribute!r}: flowsim's alias serves "
            f"the hatchet_sdk names flowsim implements and refuses the others by name; "
            f"this one is neither (see {DOCS})"
        )

    return __getattr__


def _listing(module_name: str, spec: table.AliasSpec) -> Callable[[], list[str]]:
    def __dir__() -> list[str]:  # noqa: N807 - PEP 562's name
        return sorted({*spec.served, *table.children(module_name), MARKER, "__all__"})

    return __dir__
