"""The part of CEL that Hatchet users write in concurrency and rate limit keys, parsed and
evaluated.

Hatchet evaluates a ``ConcurrencyExpression``'s ``expression`` as CEL over the run's
``input`` and ``additional_metadata`` (its Concurrency guide: ``"input.group"``,
``"additional_metadata.tenant"``, ``"'constant'"`` for ``concurrency=N``). Keys people write
are field paths, string literals and ``+`` joining them; flowsim models exactly that and
refuses anything else by name at definition time, rather than guess what a comparison or a
macro would evaluate to. A key must evaluate to a string: CEL has no implicit conversion
(``'a' + 1`` is an error there too). A rate limit's ``units``/``limit`` may also be CEL
(Hatchet's dynamic example writes ``units="input.units"``): ``parse_count`` takes a literal
or one field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowsim.errors import InvalidInputError, WorkflowDefinitionError

_ROOTS = ("input", "additional_metadata")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^'\\]*'|\"[^\"\\]*\")|(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<plus>\+))"
)
_SUBSET = (
    "flowsim models the CEL Hatchet users write in concurrency and rate limit keys: "
    "input.<field>, additional_metadata.<key>, 'string literals', joined with +"
)


@dataclass(frozen=True, slots=True)
class Literal:
    value: str


@dataclass(frozen=True, slots=True)
class Path:
    root: str
    fields: tuple[str, ...]


Term = Literal | Path


@dataclass(frozen=True, slots=True)
class KeyExpression:
    """A parsed concurrency key: terms whose string values are concatenated."""

    source: str
    terms: tuple[Term, ...]
    #: what the expression is, for messages ("concurrency expression", "rate limit key")
    what: str = "concurrency expression"

    def evaluate(self, input: Mapping[str, Any], additional_metadata: Mapping[str, Any]) -> str:
        """The group key of a run; ``InvalidInputError`` names a missing field or a value
        that is not a string (the run is not created)."""
        parts = []
        for term in self.terms:
            if isinstance(term, Literal):
                parts.append(term.value)
                continue
            value: Any = input if term.root == "input" else additional_metadata
            for depth, name in enumerate(term.fields):
                if not isinstance(value, Mapping) or name not in value:
                    shown = ".".join((term.root, *term.fields[: depth + 1]))
                    raise _missing(self.what, self.source, shown)
                value = value[name]
            if not isinstance(value, str):
                shown = ".".join((term.root, *term.fields))
                raise InvalidInputError(
                    f"{self.what} {self.source!r}: {shown} is "
                    f"{type(value).__name__} {value!r}, and the {_noun(self.what)} must be a "
                    "string (CEL does not convert it); make the field a string"
                )
            parts.append(value)
        return "".join(parts)


def parse_key(source: str, what: str = "concurrency expression") -> KeyExpression:
    """Parse a concurrency key (or, with ``what``, another string key such as a rate
    limit's ``dynamic_key``), or raise ``WorkflowDefinitionError`` saying what is
    modelled."""
    terms: list[Term] = []
    position, expect_term = 0, True
    text = source.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or (match.group("plus") is not None) == expect_term:
            raise _refused(what, source, f"unexpected {text[position:].strip()[:20]!r}")
        position = match.end()
        if match.group("plus") is not None:
            expect_term = True
            continue
        expect_term = False
        if match.group("string") is not None:
            terms.append(Literal(match.group("string")[1:-1]))
            continue
        root, *fields = match.group("path").split(".")
        if root not in _ROOTS or not fields:
            raise _refused(what, source, f"{match.group('path')!r} is not input.<field> or "
                           "additional_metadata.<key>")  # fmt: skip
        terms.append(Path(root, tuple(fields)))
    if expect_term:
        raise _refused(what, source, "it is empty or ends with +")
    return KeyExpression(source, tuple(terms), what)


@dataclass(frozen=True, slots=True)
class CountExpression:
    """A whole number given as CEL: a rate limit's ``units`` or ``limit`` written as
    ``"input.units"`` (Hatchet's dynamic rate limit example) or a literal ``"3"``."""

    source: str
    value: int | Path
    what: str

    def evaluate(self, input: Mapping[str, Any], additional_metadata: Mapping[str, Any]) -> int:
        """The number for one run; ``InvalidInputError`` names a missing field or a value
        that is not an integer (CEL does not convert a string or a float)."""
        if isinstance(self.value, int):
            return self.value
        value: Any = input if self.value.root == "input" else additional_metadata
        shown = ".".join((self.value.root, *self.value.fields))
        for name in self.value.fields:
            if not isinstance(value, Mapping) or name not in value:
                raise _missing(self.what, self.source, shown)
            value = value[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(
                f"{self.what} {self.source!r}: {shown} is {type(value).__name__} {value!r}, "
                "and it must be an integer (CEL does not convert it); make the field an int"
            )
        return value


def parse_count(source: str, what: str) -> CountExpression:
    """Parse an integer expression: a literal or one ``input.``/``additional_metadata.``
    field; anything else (arithmetic, comparisons, macros) is refused by name."""
    text = source.strip()
    if re.fullmatch(r"-?[0-9]+", text):
        return CountExpression(source, int(text), what)
    match = _TOKEN.fullmatch(text)
    if match is not None and match.group("path") is not None:
        root, *fields = match.group("path").split(".")
        if root in _ROOTS and fields:
            return CountExpression(source, Path(root, tuple(fields)), what)
    raise WorkflowDefinitionError(
        f"{what} {source!r}: flowsim models an integer literal or one input.<field> / "
        "additional_metadata.<key> here, not arithmetic or other CEL; compute the number "
        "into the run's input and name that field"
    )


def _noun(what: str) -> str:
    """What the expression computes: "concurrency expression" and "idempotency key
    expression" compute a key; a rate limit key names itself."""
    if what == "concurrency expression":
        return "concurrency key"
    return what.removesuffix(" expression")


def _missing(what: str, source: str, shown: str) -> InvalidInputError:
    return InvalidInputError(
        f"{what} {source!r}: {shown} is not set on this run; give the run that field or "
        "change the expression"
    )


def _refused(what: str, source: str, why: str) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(f"{what} {source!r}: {why}. {_SUBSET}")
