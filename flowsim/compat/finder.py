"""The ``sys.meta_path`` finder and loader that answer every ``hatchet_sdk`` import.

It claims the whole ``hatchet_sdk`` namespace: a module in the table is served, a module of
a feature flowsim does not model is refused by feature, and any other path is reported as
missing by the finder itself. Returning None for unknown paths would let a later finder (an
editable install of the real hatchet-sdk, say) serve a real submodule under the alias.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from flowsim.compat import alias, table
from flowsim.compat.errors import UnknownHatchetModuleError, UnsupportedHatchetImportError
from flowsim.compat.features import DOCS


def claims(fullname: str) -> bool:
    """True for ``hatchet_sdk`` and its submodules (not for ``hatchet_sdk_extras``)."""
    return fullname == table.ROOT or fullname.startswith(table.ROOT + ".")


class HatchetAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``hatchet_sdk`` modules from the table; see flowsim.compat."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if not claims(fullname):
            return None
        spec = table.MODULES.get(fullname)
        if spec is not None:
            return importlib.util.spec_from_loader(fullname, self, is_package=spec.package)
        feature = table.refused_module(fullname)
        if feature is not None:
            raise UnsupportedHatchetImportError(fullname, feature, is_module=True)
        raise UnknownHatchetModuleError(
            f"No module named {fullname!r}: hatchet-sdk 1.43.1 has no such module, and "
            f"flowsim's alias serves only hatchet_sdk's own paths (see {DOCS})",
            name=fullname,
        )

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module object; exec_module fills it

    def exec_module(self, module: ModuleType) -> None:
        alias.populate(module)

    def __repr__(self) -> str:
        return "<flowsim.compat.HatchetAliasFinder>"
