"""The part of CEL that Hatchet users write in condition expressions (and in a
concurrency limit's ``max_runs``), as predicates and values.

Hatchet evaluates a ``ParentCondition``'s expression over the parent's ``output``
(``"output.random_number > 50"``) and a ``UserEventCondition``'s over the event: its
payload as ``input`` and its ``additional_metadata`` (Hatchet's "Conditional Workflows"
and "Durable Events" guides, ``"input.userId == '1234'"``). What people write there are
field paths compared with literals, joined with ``&&``/``||``, negated with ``!``,
grouped with parentheses; a ``max_runs`` picks a number with ``test ? a : b``
(``input.tier == 'premium' ? 10 : 1``). flowsim models exactly that and refuses anything
else by name when the workflow is defined (``flowsim.cel`` keeps the concurrency-key
subset).

Evaluation follows CEL where the subset reaches: ``==``/``!=`` across types are simply
false/true; ordering compares numbers with numbers and strings with strings. A path that
is not set, or an ordering across types, is a CEL *error*, which Hatchet treats as a
condition that does not hold: ``evaluate`` returns False then, rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowsim.errors import WorkflowDefinitionError

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^'\\]*'|\"[^\"\\]*\")"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()?:])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))"
)
_SUBSET = (
    "flowsim models the CEL Hatchet users write in conditions and max_runs: field paths "
    "(output.x, input.x, additional_metadata.x), literals (numbers, 'strings', true, false, "
    "null), == != < <= > >=, && || !, c ? a : b, and parentheses"
)
_KEYWORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


class _CelError(Exception):
    """An expression that CEL would report as an error at evaluation (a missing field,
    an ordering across types): the condition does not hold."""


@dataclass(frozen=True, slots=True)
class _Const:
    value: Any


@dataclass(frozen=True, slots=True)
class _Path:
    root: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _Conditional:
    test: _Node
    then: _Node
    otherwise: _Node


_Node = _Const | _Path | _Not | _Binary | _Conditional


@dataclass(frozen=True, slots=True)
class Predicate:
    """A parsed condition expression; ``evaluate`` says whether it holds for the values."""

    source: str
    roots: tuple[str, ...]
    tree: _Node

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """True only if the expression evaluates to the boolean ``true``."""
        try:
            return _eval(self.tree, values) is True
        except _CelError:
            return False

    def value(self, values: Mapping[str, Any]) -> Any:
        """What the expression evaluates to; ``ValueError`` saying why for what CEL reports
        as an error (a missing field, an ordering across types)."""
        try:
            return _eval(self.tree, values)
        except _CelError as exc:
            raise ValueError(str(exc)) from None


def parse_predicate(
    source: str, roots: tuple[str, ...], where: str, what: str = "condition expression"
) -> Predicate:
    """Parse ``source`` over the variables ``roots``; ``WorkflowDefinitionError`` (naming
    ``where`` and ``what`` it is) for anything outside the modelled subset."""
    tokens = _tokenize(source, f"{where}: {what}")
    parser = _Parser(source, tokens, roots, f"{where}: {what}")
    tree = parser.parse_expression()
    if parser.position != len(tokens):
        raise _refused(source, parser.where, f"unexpected {tokens[parser.position][1]!r}")
    return Predicate(source, roots, tree)


def _tokenize(source: str, where: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position, text = 0, source.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _refused(source, where, f"unexpected {text[position:].strip()[:20]!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
    if not tokens:
        raise _refused(source, where, "it is empty")
    return tokens


class _Parser:
    def __init__(
        self, source: str, tokens: list[tuple[str, str]], roots: tuple[str, ...], where: str
    ) -> None:
        self.source, self.tokens, self.roots, self.where = source, tokens, roots, where
        self.position = 0

    def _peek(self) -> str | None:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "op":
            return self.tokens[self.position][1]
        return None

    def parse_expression(self) -> _Node:
        """CEL's conditional, ``test ? then : otherwise``, binds loosest."""
        node = self.parse_or()
        if self._peek() != "?":
            return node
        self.position += 1
        then = self.parse_expression()
        if self._peek() != ":":
            raise _refused(self.source, self.where, "a '?' has no ':'")
        self.position += 1
        return _Conditional(node, then, self.parse_expression())

    def parse_or(self) -> _Node:
        node = self.parse_and()
        while self._peek() == "||":
            self.position += 1
            node = _Binary("||", node, self.parse_and())
        return node

    def parse_and(self) -> _Node:
        node = self.parse_unary()
        while self._peek() == "&&":
            self.position += 1
            node = _Binary("&&", node, self.parse_unary())
        return node

    def parse_unary(self) -> _Node:
        if self._peek() == "!":
            self.position += 1
            return _Not(self.parse_unary())
        left = self.parse_primary()
        op = self._peek()
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self.position += 1
            return _Binary(op, left, self.parse_primary())
        return left

    def parse_primary(self) -> _Node:
        if self.position >= len(self.tokens):
            raise _refused(self.source, self.where, "it ends too early")
        kind, text = self.tokens[self.position]
        self.position += 1
        if kind == "string":
            return _Const(text[1:-1])
        if kind == "number":
            return _Const(float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "op" and text == "(":
            node = self.parse_expression()
            if self._peek() != ")":
                raise _refused(self.source, self.where, "a '(' is not closed")
            self.position += 1
            return node
        if kind == "name":
            if text in _KEYWORDS:
                return _Const(_KEYWORDS[text])
            root, *fields = text.split(".")
            if root not in self.roots:
                roots = ", ".join(self.roots)
                raise _refused(self.source, self.where, f"{text!r} is not a field of {roots}")
            return _Path(root, tuple(fields))
        raise _refused(self.source, self.where, f"unexpected {text!r}")


def _eval(node: _Node, values: Mapping[str, Any]) -> Any:
    if isinstance(node, _Const):
        return node.value
    if isinstance(node, _Path):
        value: Any = values.get(node.root)
        for name in node.fields:
            if not isinstance(value, Mapping) or name not in value:
                raise _CelError(f"no such key: {name}")
            value = value[name]
        return value
    if isinstance(node, _Conditional):
        test = _eval(node.test, values)
        if not isinstance(test, bool):
            raise _CelError("?: needs a bool")
        return _eval(node.then if test else node.otherwise, values)
    if isinstance(node, _Not):
        operand = _eval(node.operand, values)
        if not isinstance(operand, bool):
            raise _CelError("! needs a bool")
        return not operand
    if node.op in ("&&", "||"):
        left = _eval(node.left, values)
        if not isinstance(left, bool):
            raise _CelError(f"{node.op} needs bools")
        if (node.op == "&&" and not left) or (node.op == "||" and left):
            return left
        right = _eval(node.right, values)
        if not isinstance(right, bool):
            raise _CelError(f"{node.op} needs bools")
        return right
    return _compare(node.op, _eval(node.left, values), _eval(node.right, values))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("==", "!="):
        same_kind = (_is_number(left) and _is_number(right)) or type(left) is type(right)
        equal = same_kind and left == right
        return equal if op == "==" else not equal
    comparable = (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    if not comparable:
        raise _CelError(f"no such overload: {type(left).__name__} {op} {type(right).__name__}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _refused(source: str, where: str, why: str) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(f"{where} {source!r}: {why}. {_SUBSET}")
