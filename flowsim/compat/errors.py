"""The error a refused ``hatchet_sdk`` import raises.

It is an ``UnsupportedFeatureError`` (flowsim's family, a ``NotImplementedError``) so that it
reads like every other refusal of an unmodelled feature, and an ``ImportError`` so that code
guarding an optional import with ``except ImportError`` behaves as it would against a
hatchet-sdk without that name.
"""

from __future__ import annotations

from flowsim.compat.features import DOCS, describe
from flowsim.errors import FlowsimError, UnsupportedFeatureError


class UnsupportedHatchetImportError(UnsupportedFeatureError, ImportError):
    """``symbol`` (a name such as ``hatchet_sdk.RateLimit``, or a module such as
    ``hatchet_sdk.conditions`` when ``is_module``) belongs to a Hatchet feature flowsim does
    not model; ``feature`` is its key in flowsim.compat.features."""

    def __init__(
        self, symbol: str, feature: str, hint: str | None = None, *, is_module: bool = False
    ) -> None:
        self.symbol = symbol
        self.feature = feature
        self.hint = hint
        self.is_module = is_module
        message = (
            f"{symbol} is not available under flowsim: it belongs to the Hatchet feature "
            f"{describe(feature)}, which flowsim does not model. "
            + (f"{hint} " if hint else "")
            + "Remove its use, or run this code against a Hatchet server; "
            f"see {DOCS} for what flowsim supports."
        )
        super().__init__(message)
        # ImportError's own fields, as the import system sets them: the module that is
        # missing, or the module a name could not be imported from
        self.msg = message
        self.name = symbol if is_module else symbol.rpartition(".")[0]

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.symbol, self.feature, self.hint, self.is_module))


def _rebuild(
    symbol: str, feature: str, hint: str | None, is_module: bool
) -> UnsupportedHatchetImportError:
    """Unpickling: ``is_module`` is keyword-only, which ``__reduce__``'s tuple cannot pass."""
    return UnsupportedHatchetImportError(symbol, feature, hint, is_module=is_module)


class UnknownHatchetModuleError(FlowsimError, ModuleNotFoundError):
    """A ``hatchet_sdk`` submodule that hatchet-sdk 1.43.1 does not have either (a typo, or a
    module of another version). Raised by the alias itself so that no other installed
    hatchet_sdk can answer for it behind the alias's back."""


class UnknownHatchetNameError(FlowsimError, AttributeError):
    """A name the alias neither serves nor refuses: a typo, a name of another SDK version, or
    an internal helper of a hatchet_sdk submodule. An ``AttributeError``, as for any module,
    so ``hasattr`` and ``getattr(..., default)`` keep working on the alias."""
