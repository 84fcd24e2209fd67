"""The part of CEL that Hatchet users write in concurrency keys, parsed and evaluated.

Hatchet evaluates a ``ConcurrencyExpression``'s ``expression`` as CEL over the run's
``input`` and ``additional_metadata`` (its Concurrency guide: ``"input.group"``,
``"additional_metadata.tenant"``, ``"'constant'"`` for ``concurrency=N``). Keys people write
are field paths, string literals and ``+`` joining them; flowsim models exactly that and
refuses anything else by name at definition time, rather than guess what a comparison or a
macro would evaluate to. A key must evaluate to a string: CEL has no implicit conversion
(``'a' + 1`` is an error there too).
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
    "flowsim models the CEL Hatchet users write in concurrency keys: input.<field>, "
    "additional_metadata.<key>, 'string literals', joined with +"
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
                    raise InvalidInputError(
                        f"concurrency expression {self.source!r}: {shown} is not set on this "
                        "run; give the run that field or change the expression"
                    )
                value = value[name]
            if not isinstance(value, str):
                shown = ".".join((term.root, *term.fields))
                raise InvalidInputError(
                    f"concurrency expression {self.source!r}: {shown} is "
                    f"{type(value).__name__} {value!r}, and a concurrency key must be a string "
                    "(CEL does not convert it); make the field a string"
                )
            parts.append(value)
        return "".join(parts)


def parse_key(source: str) -> KeyExpression:
    """Parse a concurrency key, or raise ``WorkflowDefinitionError`` saying what is
    modelled."""
    terms: list[Term] = []
    position, expect_term = 0, True
    text = source.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or (match.group("plus") is not None) == expect_term:
            raise _refused(source, f"unexpected {text[position:].strip()[:20]!r}")
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
            raise _refused(source, f"{match.group('path')!r} is not input.<field> or "
                           "additional_metadata.<key>")  # fmt: skip
        terms.append(Path(root, tuple(fields)))
    if expect_term:
        raise _refused(source, "it is empty or ends with +")
    return KeyExpression(source, tuple(terms))


def _refused(source: str, why: str) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(f"concurrency expression {source!r}: {why}. {_SUBSET}")
