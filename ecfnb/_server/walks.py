"""Reads over many nodes at once, under the server's lock: expressions for the triggers
view, rows for the table, matches for search. Plain tuples out (no ecflow object
leaves, see ``nodes``), and only the cheap calls per node: at 100k nodes a walk of
names, states and times costs ~0.3 s, where describing every node would take ~6 s.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .nodes import child_nodes, display_state, node_flags, node_kind, text_of


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


def row(node: Any) -> Row:
    """A Row of one node (~3 µs)."""
    kind = node_kind(node)
    return Row(node.get_abs_node_path(), node.name(), kind, display_state(node),
               node.get_state_change_time(),
               node.get_int_try_no() if kind in ("task", "alias") else 0, node_flags(node))


def rows(nodes: Iterable[Any]) -> list[Row]:
    """A Row of each node (~3 µs a node)."""
    return [row(node) for node in nodes]


@dataclass(frozen=True)
class TableSpec:
    """Which nodes a table shows and in what order, as the walk needs it: ``sort`` one
    of path, state, since, try, flags, label, meter (label and meter read every node's
    marks: ~20 µs a node), ``states``/``kinds`` (none: all), ``text`` in the path
    (lower case), ``after`` (ISO time: changed since then), rows ``start``:``stop``."""

    sort: str = "path"
    descending: bool = False
    states: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    text: str = ""
    after: str = ""
    start: int = 0
    stop: int = 100


#: Sort column -> the cheapest key (path breaks ties where values repeat).
_SORT_KEYS: dict[str, Any] = {
    "path": lambda n: n.get_abs_node_path(),
    "since": lambda n: n.get_state_change_time(),
    "state": lambda n: (display_state(n), n.get_abs_node_path()),
    "try": lambda n: (n.get_int_try_no() if node_kind(n) in ("task", "alias") else 0,
                      n.get_abs_node_path()),
    "flags": lambda n: (sorted(node_flags(n)), n.get_abs_node_path()),
}


def table(nodes: Iterable[Any], spec: TableSpec) -> tuple[list[Row], int,
                                                             dict[str, tuple[Any, ...]]]:
    """The Rows ``spec.start``:``spec.stop`` of the nodes that pass its filters, in its
    order, how many pass, and the marks of the rows returned. Only what the filters and
    the sort need is read from every node (a sort by time over 100k nodes: its time
    and nothing else, ~0.1 s); a whole Row is built for the rows returned only."""
    from .nodes import marks

    text = spec.text.lower()
    if spec.sort in ("label", "meter"):
        index = 0 if spec.sort == "label" else 1
        key: Any = lambda n: first_mark(marks(n))[index]  # noqa: E731
    else:
        key = _SORT_KEYS[spec.sort]
    chosen = nodes if isinstance(nodes, list) else list(nodes)
    if spec.states:
        chosen = [n for n in chosen if display_state(n) in spec.states]
    if spec.kinds:
        chosen = [n for n in chosen if node_kind(n) in spec.kinds]
    if text:
        chosen = [n for n in chosen if text in n.get_abs_node_path().lower()]
    if spec.after:
        chosen = [n for n in chosen if n.get_state_change_time() >= spec.after]
    # sorted() computes each key once and is stable (ties stay in tree order, also
    # reversed); no tuple per node: at 100k nodes the loop is most of the cost.
    ordered = sorted(chosen, key=key, reverse=spec.descending)
    shown = ordered[spec.start:spec.stop]
    page = [row(node) for node in shown]
    return page, len(ordered), {r.path: marks(n) for r, n in zip(page, shown, strict=True)}


def first_mark(found: tuple[Any, ...]) -> tuple[str, str]:
    """(first label as 'name: value', first meter as 'name value'), '' when none."""
    label = next((f"{a.name}: {a.value}" for a in found if a.kind == "label"), "")
    meter = next((f"{a.name} {a.value}" for a in found if a.kind == "meter"), "")
    return label, meter


def subtree(defs: Any, node: Any | None) -> Iterable[Any]:
    """Every node under ``node`` (itself excluded), or of the server."""
    if defs is None:
        return ()
    if node is None:
        return defs.get_all_nodes()
    own = node.get_abs_node_path()  # (a new wrapper each call: compare paths, not ids)
    return [n for n in node.get_all_nodes() if n.get_abs_node_path() != own]


@dataclass(frozen=True)
class SearchQuery:
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


def search(defs: Any, query: SearchQuery, limit: int) -> tuple[list[str], int]:
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


# -- the live definition as a preview needs it ---------------------------------------------
class PlanNode(NamedTuple):
    """One node as an action preview reasons about it: its own state and suspension,
    defstatus, trigger and complete expressions (text), what limits it takes
    (``inlimits``: limit name, the path written, tokens, this-node-only) and holds
    (``limits``: name, value, maximum, the paths holding tokens), its time attributes
    as ecFlow prints them ('time 23:59', 'day monday' ...), events (name, set, initial),
    meters (name, value, minimum, maximum), repeat (name, value, start, end, step, kind: values
    as ecFlow counts them, a date as yyyymmdd, an enumeration's as its index) and child
    paths. ``why`` is ecFlow's own reason text for a node with time attributes (whether
    a time is due is the server's to say: the binding does not expose it otherwise);
    ``late`` its late attribute as ecFlow prints it ('' if none), ``since`` when its
    state last changed (ecFlow's ISO text, the suite's clock)."""

    path: str
    kind: str
    state: str
    suspended: bool
    defstatus: str
    trigger: str | None
    complete: str | None
    inlimits: tuple[tuple[str, str, int, bool], ...]
    limits: tuple[tuple[str, int, int, tuple[str, ...]], ...]
    times: tuple[str, ...]
    events: tuple[tuple[str, bool, bool], ...]
    meters: tuple[tuple[str, int, int, int], ...]
    repeat: tuple[str, str, str, str, str, str] | None
    children: tuple[str, ...]
    why: str = ""
    late: str = ""
    since: str = ""


class Plan(NamedTuple):
    """The nodes of the suites a preview looks at (``nodes``, in the server's order),
    the server's state, and whether the walk read them all before its ``deadline``."""

    nodes: dict[str, PlanNode]
    server_state: str
    complete: bool


_TIME_KINDS = ("times", "todays", "dates", "days", "crons")


def _expression_text(expr: Any) -> str | None:
    if expr is None:
        return None
    return text_of(expr.get_expression) or None


def plan_node(node: Any, why: Callable[[str], str], kind: str = "",
              children: list[Any] | None = None, path: str = "") -> PlanNode:
    """A PlanNode of one binding node (~25 µs; ``kind``, ``children`` and ``path`` when
    the caller has them already: a path from the parent's costs nothing, the binding's
    ``get_abs_node_path`` walks up the tree)."""
    kind = kind or node_kind(node)
    children = child_nodes(node, kind) if children is None else children
    path = path or node.get_abs_node_path()
    times = tuple(str(a) for kind_name in _TIME_KINDS for a in getattr(node, kind_name)) \
        if node.has_time_dependencies() else ()
    repeat = node.get_repeat()
    return PlanNode(
        path, kind, node.get_state().name, node.is_suspended(), str(node.get_defstatus()),
        _expression_text(node.get_trigger()), _expression_text(node.get_complete()),
        tuple((i.name(), i.path_to_node(), i.tokens(), i.limit_this_node_only())
              for i in node.inlimits),
        tuple((lim.name(), lim.value(), lim.limit(), tuple(lim.node_paths()))
              for lim in node.limits),
        times,
        tuple((e.name_or_number(), bool(e.value()), bool(e.initial_value()))
              for e in node.events),
        tuple((m.name(), m.value(), m.min(), m.max()) for m in node.meters),
        None if repeat.empty() else (
            repeat.name(), str(repeat.value()), str(repeat.start()), str(repeat.end()),
            str(repeat.step()), str(repeat).split(" ", 2)[1]),
        tuple(f"{path}/{c.name()}" for c in children),
        why(path) if times else "", text_of(str, node.get_late()) if node.get_late() else "",
        node.get_state_change_time())


def plan(defs: Any, suites: Iterable[str], deadline: float,
         why: Callable[[str], str]) -> Plan:
    """The PlanNodes of ``suites`` (names), depth first in the server's order, until
    ``time.monotonic()`` passes ``deadline`` (then ``complete`` is False)."""
    import time

    found: dict[str, PlanNode] = {}
    state = defs.get_server_state().name.lower() if defs is not None else "unknown"
    if defs is None:
        return Plan(found, state, True)
    for name in suites:
        suite = defs.find_suite(name)
        if suite is None:
            continue
        stack = [(suite, "/" + name)]
        while stack:
            if time.monotonic() > deadline:
                return Plan(found, state, False)
            node, path = stack.pop()
            kind = node_kind(node)
            children = child_nodes(node, kind)
            one = plan_node(node, why, kind, children, path)
            found[path] = one
            stack.extend(zip(reversed(children), reversed(one.children), strict=True))
    return Plan(found, state, True)
