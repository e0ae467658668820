"""Reads over many nodes at once, under the server's lock: expressions for the triggers
view, rows for the table, matches for search. Plain tuples out (no ecflow object
leaves, see ``nodes``), and only the cheap calls per node: at 100k nodes a walk of
names, states and times costs ~0.3 s, where describing every node would take ~6 s.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .nodes import display_state, node_flags, node_kind, text_of


class Expression(NamedTuple):
    """A node's trigger or complete expression as written, and whether it holds now
    (None: ecFlow could not say)."""

    path: str
    kind: str  # 'trigger' or 'complete'
    text: str
    holds: bool | None


class Row(NamedTuple):
    """One node of a table: what sorting and filtering need (``since`` as ecFlow prints
    it, '' when never changed); labels and meters are read for the page shown only."""

    path: str
    name: str
    kind: str
    state: str
    since: str
    try_no: int
    flags: frozenset[str]


def node_expressions(node: Any) -> Iterator[Expression]:
    path = node.get_abs_node_path()
    for kind, getter, evaluate in (("trigger", node.get_trigger, node.evaluate_trigger),
                                   ("complete", node.get_complete, node.evaluate_complete)):
        expr = getter()
        if expr is None:
            continue
        text = text_of(expr.get_expression)
        if not text:
            continue
        try:
            holds: bool | None = bool(evaluate())
        except (RuntimeError, UnicodeDecodeError):
            holds = None
        yield Expression(path, kind, text, holds)


def expressions(defs: Any, node: Any | None = None) -> list[Expression]:
    """The expressions of ``node`` and of each of its ancestors (what holds it back),
    nearest first; with no node, those of every node of the server."""
    if defs is None:
        return []
    if node is None:
        return [e for n in defs.get_all_nodes() for e in node_expressions(n)]
    found: list[Expression] = []
    while node is not None:
        found.extend(node_expressions(node))
        node = node.get_parent()
    return found


def rows(nodes: Iterable[Any]) -> list[Row]:
    """A Row of each node (~3 µs a node)."""
    out: list[Row] = []
    for node in nodes:
        kind = node_kind(node)
        out.append(Row(node.get_abs_node_path(), node.name(), kind, display_state(node),
                       node.get_state_change_time(),
                       node.get_int_try_no() if kind in ("task", "alias") else 0,
                       node_flags(node)))
    return out


def subtree(defs: Any, node: Any | None) -> Iterable[Any]:
    """Every node under ``node`` (itself excluded), or of the server."""
    if defs is None:
        return ()
    if node is None:
        return defs.get_all_nodes()
    own = node.get_abs_node_path()  # (a new wrapper each call: compare paths, not ids)
    return [n for n in node.get_all_nodes() if n.get_abs_node_path() != own]


@dataclass(frozen=True)
class Query:
    """What a search looks for: a ``name`` (a glob like ``post*`` or, with ``regex``, a
    regular expression; matched against the whole name), a ``path`` part, ``states``,
    ``flags`` (late, zombie, killed ...) and attribute ``kinds`` the node must have
    (meter, label, event, repeat, time, date, cron, limit, inlimit, late, trigger)."""

    name: str = ""
    regex: bool = False
    path: str = ""
    states: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    def matcher(self) -> Any:
        """A compiled name test, or None for any name; ValueError for a bad pattern."""
        if not self.name:
            return None
        if self.regex:
            try:
                return re.compile(self.name, re.IGNORECASE).fullmatch
            except re.error as exc:
                raise ValueError(f"bad regular expression {self.name!r}: {exc}") from None
        return re.compile(fnmatch.translate(self.name), re.IGNORECASE).match


#: Attribute kind -> how to tell a node has one (cheap calls only).
def _any(items: Any) -> bool:
    """Whether a binding iterator (``node.meters`` ...: no ``len``) has an item."""
    return next(iter(items), None) is not None


_HAS: dict[str, Any] = {
    "meter": lambda n: _any(n.meters), "label": lambda n: _any(n.labels),
    "event": lambda n: _any(n.events), "repeat": lambda n: not n.get_repeat().empty(),
    "time": lambda n: _any(n.times) or _any(n.todays),
    "date": lambda n: _any(n.dates) or _any(n.days), "cron": lambda n: _any(n.crons),
    "limit": lambda n: _any(n.limits), "inlimit": lambda n: _any(n.inlimits),
    "late": lambda n: n.get_late() is not None,
    "trigger": lambda n: n.get_trigger() is not None or n.get_complete() is not None,
}
ATTRIBUTE_KINDS = tuple(_HAS)


def search(defs: Any, query: Query, limit: int) -> tuple[list[str], int]:
    """Paths of the nodes (tree order) that match ``query``: the first ``limit``, and
    how many there are. Cheapest tests first: name, path, state, flags, attributes."""
    unknown = set(query.kinds) - set(_HAS)
    if unknown:
        raise ValueError(f"unknown attribute kind(s) {', '.join(sorted(unknown))}: use "
                         f"{', '.join(ATTRIBUTE_KINDS)}")
    name_ok = query.matcher()
    part = query.path.lower()
    hits: list[str] = []
    total = 0
    for node in defs.get_all_nodes() if defs is not None else ():
        if name_ok is not None and not name_ok(node.name()):
            continue
        path = None
        if part:
            path = node.get_abs_node_path()
            if part not in path.lower():
                continue
        if query.states and display_state(node) not in query.states:
            continue
        if query.flags and not query.flags <= node_flags(node):
            continue
        if query.kinds and not all(_HAS[kind](node) for kind in query.kinds):
            continue
        total += 1
        if len(hits) < limit:
            hits.append(path or node.get_abs_node_path())
    return hits, total
