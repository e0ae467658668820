"""ecFlow's trigger and complete expressions, parsed and evaluated against states that
are not (yet) the server's: the action preview asks "once this requeue is done, does
``model == complete and ../prep:ready`` hold?".

The server evaluates expressions only on its own live states (``evaluate_trigger``),
so a preview needs its own evaluator. The grammar follows ecFlow's (``ExprParser``):
``or``/``||``, ``and``/``&&``, ``not``/``!``/``~``, comparisons ``== != < > <= >=``
and ``eq ne lt gt le ge``, ``+ - * / %``, parentheses, numbers, the node states
(``complete``, ``aborted``, ``active``, ``submitted``, ``queued``, ``unknown``),
``set``/``clear``/``true``/``false``, and node paths with an optional ``:attribute``
(an event, a meter, a repeat or a variable). A path alone compares as its state
(ordered as ecFlow's NState: unknown < complete < queued < aborted < submitted <
active); an event is 1 when set; a value ecfnb cannot know is None, and any test of
None is None: "ecFlow decides", never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["parse", "Expr", "ExpressionError", "STATE_ORDER", "reference_path"]

#: ecFlow's NState order, used when states are compared with < or >.
STATE_ORDER = {"unknown": 0, "complete": 1, "queued": 2, "aborted": 3, "submitted": 4,
               "active": 5}
_CONSTANTS = {"set": 1, "clear": 0, "true": 1, "false": 0}
_COMPARE = {"==": "==", "eq": "==", "!=": "!=", "ne": "!=", "<": "<", "lt": "<",
            ">": ">", "gt": ">", "<=": "<=", "le": "<=", ">=": ">=", "ge": ">="}
_TOKEN = re.compile(r"""\s*(?:
    (?P<number>\d+(?:\.\d+)?)(?![\w/])
  | (?P<word>(?:\.\.?/|/)?[A-Za-z_0-9][\w.]*(?:/(?:\.\.|[A-Za-z_0-9][\w.]*))*(?::[\w]+)?)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>()!~+\-*/%])
)""", re.VERBOSE)

Lookup = Callable[[str, str], Any]


class ExpressionError(ValueError):
    """An expression ecfnb cannot read (ecFlow would have refused it at load)."""


@dataclass(frozen=True)
class Expr:
    """A parsed expression: ``holds(lookup)`` evaluates it, ``names`` are the node
    references it makes (path as written, attribute)."""

    text: str
    tree: tuple
    names: tuple[tuple[str, str], ...]

    def value(self, lookup: Lookup) -> Any:
        """The expression's value; ``lookup(path, attribute)`` gives a referenced
        node's state (attribute '') or an attribute's value, None when unknown."""
        return _evaluate(self.tree, lookup)

    def holds(self, lookup: Lookup) -> bool | None:
        """True, False, or None when it depends on something ecfnb cannot know."""
        value = self.value(lookup)
        return None if value is None else bool(value)


def parse(text: str) -> Expr:
    """Parse ``text`` (ExpressionError naming the position when it cannot be read)."""
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    tree = parser.or_expr()
    if parser.position != len(tokens):
        raise ExpressionError(f"cannot read the expression {text!r} after "
                              f"{' '.join(t[1] for t in tokens[:parser.position])!r}")
    return Expr(text, tree, tuple(dict.fromkeys(parser.names)))


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read the expression {text!r} at "
                                  f"{text[position:position + 20]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens, self.text, self.position = tokens, text, 0
        self.names: list[tuple[str, str]] = []

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ExpressionError(f"the expression {self.text!r} ends too early")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def or_expr(self) -> tuple:
        left = self.and_expr()
        while self.peek() in ("or", "||", "OR"):
            self.take()
            left = ("or", left, self.and_expr())
        return left

    def and_expr(self) -> tuple:
        left = self.not_expr()
        while self.peek() in ("and", "&&", "AND"):
            self.take()
            left = ("and", left, self.not_expr())
        return left

    def not_expr(self) -> tuple:
        if self.peek() in ("not", "!", "~", "NOT"):
            self.take()
            return ("not", self.not_expr())
        return self.comparison()

    def comparison(self) -> tuple:
        left = self.sum()
        word = self.peek()
        if word is not None and word.lower() in _COMPARE:
            self.take()
            return ("cmp", _COMPARE[word.lower()], left, self.sum())
        return left

    def sum(self) -> tuple:
        left = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            left = ("arith", op, left, self.product())
        return left

    def product(self) -> tuple:
        left = self.atom()
        while self.peek() in ("*", "/", "%"):
            op = self.take()[1]
            left = ("arith", op, left, self.atom())
        return left

    def atom(self) -> tuple:
        kind, text = self.take()
        if text == "(":
            inner = self.or_expr()
            if self.take()[1] != ")":
                raise ExpressionError(f"a '(' is not closed in {self.text!r}")
            return inner
        if kind == "number":
            return ("const", float(text) if "." in text else int(text))
        if kind == "word":
            lower = text.lower()
            if lower in STATE_ORDER:
                return ("state", lower)
            if lower in _CONSTANTS:
                return ("const", _CONSTANTS[lower])
            path, _, attribute = text.partition(":")
            self.names.append((path, attribute))
            return ("ref", path, attribute)
        raise ExpressionError(f"unexpected {text!r} in the expression {self.text!r}")


def _evaluate(tree: tuple, lookup: Lookup) -> Any:
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "state":
        return _State(tree[1])
    if kind == "ref":
        value = lookup(tree[1], tree[2])
        return _State(value) if not tree[2] and isinstance(value, str) else value
    if kind == "not":
        inner = _evaluate(tree[1], lookup)
        return None if inner is None else (not _truth(inner))
    if kind in ("and", "or"):
        left = _evaluate(tree[1], lookup)
        if kind == "and" and left is not None and not _truth(left):
            return False
        if kind == "or" and left is not None and _truth(left):
            return True
        right = _evaluate(tree[2], lookup)
        if right is None:
            return None
        if left is None:  # and: True/None -> None unless right is False; or: mirror
            if kind == "and":
                return None if _truth(right) else False
            return True if _truth(right) else None
        return _truth(right)
    if kind == "cmp":
        left, right = _evaluate(tree[2], lookup), _evaluate(tree[3], lookup)
        if left is None or right is None:
            return None
        a, b = _number(left), _number(right)
        if isinstance(left, _State) and isinstance(right, _State):
            a, b = left.order, right.order
        return {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b,
                ">=": a >= b}[tree[1]]
    if kind == "arith":
        left, right = _evaluate(tree[2], lookup), _evaluate(tree[3], lookup)
        if left is None or right is None:
            return None
        a, b = _number(left), _number(right)
        if tree[1] in ("/", "%") and b == 0:
            return 0  # ecFlow's own rule: division by zero gives 0
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "%": a % b}[tree[1]]
    raise ExpressionError(f"unknown expression node {kind!r}")  # pragma: no cover


class _State:
    """A node state in an expression: equal to the same state, ordered as NState."""

    __slots__ = ("name", "order")

    def __init__(self, name: str) -> None:
        self.name, self.order = name, STATE_ORDER.get(name, 0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _State) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name


def _number(value: Any) -> Any:
    if isinstance(value, _State):
        return value.order
    if isinstance(value, bool):
        return int(value)
    return value


def _truth(value: Any) -> bool:
    if isinstance(value, _State):
        return value.order != 0
    return bool(value)


def reference_path(base: str, written: str) -> str:
    """The absolute path a node reference written in an expression means, for a node
    whose parent is ``base``: '/s/f/a' as is, 'a' and './a' beside the node, '../a'
    one level up (ecFlow resolves them so)."""
    if written.startswith("/"):
        parts: list[str] = []
    else:
        parts = [p for p in base.split("/") if p]
    for part in written.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)
