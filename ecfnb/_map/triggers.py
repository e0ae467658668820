"""What a node waits on and what waits on it, from the live definition (ecflow_ui's
Triggers panel), and a bounded picture of the neighbourhood.

An expression is ecFlow's text (``model == complete and ../prepare:ready``): the node
paths in it are the words that are not keywords, states or numbers, each with an
optional ``:attribute`` (event, meter, variable, repeat), absolute (``/s/f/t``) or
relative to the expression's node's parent (``t``, ``../f/t``, ``./t``). A reference
``path == state`` (``eq``, ``!=``, ``ne``) is said to hold or not from the node's state
now; for others only the whole expression's value is known (ecFlow evaluates it).

"What waits on it" needs every expression of the server: one walk (~0.3 s at 100k
nodes), kept by the server until the next sync with news, then an index from each
referenced path to its dependants. The picture shows at most ``per_side`` nodes a side
and says how many more there are: a node with 1,000 dependants stays readable.
"""

from __future__ import annotations

import bisect
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._base.expression import reference_path
from .._server.server import Server, normalise_path
from .._server.walks import Expression
from ..errors import NodeNotFound

#: Words of ecFlow's expression grammar that are not node paths.
KEYWORDS = frozenset({"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "true",
                      "false", "complete", "aborted", "active", "submitted", "queued",
                      "unknown", "suspended", "halted", "shutdown", "set", "clear"})
_TOKEN = re.compile(r"(?:\.\.?/|/)?[A-Za-z_][\w.]*(?:/(?:\.\.|[A-Za-z_][\w.]*))*(?::\w+)?")
_STATE_TEST = r"\s*(==|!=|\beq\b|\bne\b)\s*(complete|aborted|active|submitted|queued|unknown)\b"


@dataclass(frozen=True)
class Reference:
    """A node named in an expression: ``path`` resolved (absolute), ``text`` as written,
    ``attribute`` after ':' if any, the expression's ``owner`` and ``kind`` (trigger or
    complete), the referenced node's ``state`` now ('missing' if it is not on the
    server), whether this term holds (None: not a state test), and its ``scope``:
    'suite' (same suite), 'cross-suite', 'extern' (declared extern, or in a suite this
    server does not have: the synced definition carries no ``extern`` lines, though
    ``ecflow_client --get`` prints them; measured on 5.9) or 'missing' (its suite is
    here, the node is not)."""

    path: str
    text: str
    attribute: str
    owner: str
    kind: str
    state: str
    holds: bool | None
    scope: str


@dataclass(frozen=True)
class Triggers:
    """ecflow_ui's Triggers panel for ``path``: its own and its ancestors' expressions
    (``holding``: those that do not hold), what they reference (``waits_on``), and the
    nodes whose expressions reference it or a node below it (``waited_by``, at most
    ``limit`` of ``waited_by_total``)."""

    path: str
    state: str
    expressions: tuple[Expression, ...]
    waits_on: tuple[Reference, ...]
    waited_by: tuple[Reference, ...]
    waited_by_total: int
    externs: tuple[str, ...] = field(default=())

    @property
    def holding(self) -> tuple[Expression, ...]:
        return tuple(e for e in self.expressions if e.holds is False)


def references(expression: Expression, externs: frozenset[str] = frozenset()
               ) -> list[tuple[str, str, str]]:
    """(absolute path, text as written, attribute) of each node an expression names."""
    base = expression.path.rpartition("/")[0] or "/"
    found: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for word in _TOKEN.findall(expression.text):
        node_part, _, attribute = word.partition(":")
        if node_part.lower() in KEYWORDS or node_part.replace(".", "").isdigit():
            continue
        if node_part in externs or word in externs:
            path = node_part
        else:
            path = resolve(base, node_part)
        if (path, attribute) not in seen:
            seen.add((path, attribute))
            found.append((path, word, attribute))
    return found


def resolve(base: str, relative: str) -> str:
    """A path as the expression of a node whose parent is ``base`` means it."""
    return reference_path(base, relative)


def _suite(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


def _term_holds(expression: Expression, written: str, state: str) -> bool | None:
    found = re.search(re.escape(written) + _STATE_TEST, expression.text)
    if found is None or state == "missing":
        return None
    wanted = found.group(2)
    equal = state == wanted
    return equal if found.group(1) in ("==", "eq") else not equal


class DependencyIndex:
    """Referenced path -> the references to it, over every expression of a server."""

    def __init__(self, expressions: Iterable[Expression], externs: frozenset[str]) -> None:
        self.by_target: dict[str, list[tuple[Expression, str, str]]] = {}
        for expression in expressions:
            for path, written, attribute in references(expression, externs):
                self.by_target.setdefault(path, []).append((expression, written, attribute))
        self.paths = sorted(self.by_target)

    def under(self, path: str) -> Iterable[tuple[str, Expression, str, str]]:
        """(target, expression, written, attribute) for ``path`` and every path below."""
        prefix = path.rstrip("/") + "/"
        for target in self.by_target.get(path, ()):
            yield (path, *target)
        start = bisect.bisect_left(self.paths, prefix)
        for target in self.paths[start:]:
            if not target.startswith(prefix):
                break
            for item in self.by_target[target]:
                yield (target, *item)


def triggers(server: Server, path: str, limit: int = 200) -> Triggers:
    """The Triggers view of ``path`` from the server's live definition (the last sync)."""
    path = normalise_path(path)
    info = server.summary(path)  # NodeNotFound for a path that is not a node
    externs = frozenset(server.externs())
    state_of = _states(server)
    own = tuple(server.expressions(path))
    waits_on: list[Reference] = []
    for expression in own:
        for target, written, attribute in references(expression, externs):
            waits_on.append(_reference(expression, target, written, attribute, state_of,
                                       externs))
    index = _index(server, externs)
    dependants = [(expression, target, written, attribute)
                  for target, expression, written, attribute in index.under(path)
                  if expression.path != path and not expression.path.startswith(path + "/")]
    waited_by = tuple(_reference(expression, target, written, attribute, state_of, externs,
                                 owner_state=True)
                      for expression, target, written, attribute in dependants[:limit])
    return Triggers(path, info.state, own, tuple(waits_on), waited_by, len(dependants),
                    tuple(sorted(externs)))


def _reference(expression: Expression, target: str, written: str, attribute: str,
               state_of: _States, externs: frozenset[str], owner_state: bool = False
               ) -> Reference:
    """A reference; with ``owner_state`` (what waits on a node) ``state`` is that of the
    expression's owner, the node that waits."""
    target_state = state_of(target)
    if target in externs or written in externs or (
            target_state == "missing" and state_of("/" + _suite(target)) == "missing"):
        scope = "extern"
    elif target_state == "missing":
        scope = "missing"
    elif _suite(target) != _suite(expression.path):
        scope = "cross-suite"
    else:
        scope = "suite"
    holds = _term_holds(expression, written, target_state)
    shown = state_of(expression.path) if owner_state else target_state
    return Reference(target, written, attribute, expression.path, expression.kind, shown,
                     holds, scope)


class _States:
    """Display states by path, read once each."""

    def __init__(self, server: Server) -> None:
        self.server, self.known = server, {}

    def __call__(self, path: str) -> str:
        if path not in self.known:
            try:
                self.known[path] = self.server.summary(path).state
            except (NodeNotFound, ValueError):
                self.known[path] = "missing"
        return self.known[path]


def _states(server: Server) -> _States:
    return _States(server)


_INDEXES: weakref.WeakKeyDictionary[Server, tuple[int, DependencyIndex]] = \
    weakref.WeakKeyDictionary()


def _index(server: Server, externs: frozenset[str]) -> DependencyIndex:
    """The server's dependency index, made again after a sync with news."""
    cached = _INDEXES.get(server)
    if cached is not None and cached[0] == server.generation:
        return cached[1]
    index = DependencyIndex(server.expressions(), externs)
    _INDEXES[server] = (server.generation, index)
    return index


@dataclass(frozen=True)
class Picture:
    """The neighbourhood of ``centre``, as columns left to right: what its dependencies
    wait on, its dependencies, the node, its dependants, theirs (``depth`` levels a
    side). Each column holds (path, state) boxes, at most ``per_side`` (``more`` counts
    the rest); ``edges`` go from a node to one that waits on it, with whether that
    condition holds (None: ecFlow evaluates it)."""

    centre: str
    columns: tuple[tuple[tuple[str, str], ...], ...]
    more: tuple[int, ...]
    centre_column: int
    edges: tuple[tuple[str, str, bool | None], ...]


def neighbourhood(server: Server, path: str, depth: int = 1, per_side: int = 25) -> Picture:
    """The picture of ``path`` to ``depth`` levels (1 or 2), bounded to ``per_side``
    nodes a column, so that a node with 1,000 dependants stays readable and fast."""
    if depth not in (1, 2):
        raise ValueError("depth is 1 or 2 levels around the node")
    path = normalise_path(path)
    centre = triggers(server, path, limit=per_side)
    edges: dict[tuple[str, str], bool | None] = {}
    up, down = [], []
    level_up, more_up = _level([(r.path, r.state) for r in centre.waits_on], per_side)
    for ref in centre.waits_on:
        edges.setdefault((ref.path, path), ref.holds)
    level_down, more_down = _level([(r.owner, r.state) for r in centre.waited_by], per_side)
    more_down = max(more_down, centre.waited_by_total - len(level_down))
    for ref in centre.waited_by:
        edges.setdefault((path, ref.owner), ref.holds)
    up.append((level_up, more_up))
    down.append((level_down, more_down))
    if depth == 2:
        found_up: list[tuple[str, str]] = []
        for node, _state in level_up:
            try:
                view = triggers(server, node, limit=per_side)
            except NodeNotFound:  # an extern or missing node: nothing known above it
                continue
            for ref in view.waits_on:
                found_up.append((ref.path, ref.state))
                edges.setdefault((ref.path, node), ref.holds)
        found_down: list[tuple[str, str]] = []
        for node, _state in level_down:
            view = triggers(server, node, limit=per_side)
            for ref in view.waited_by:
                found_down.append((ref.owner, ref.state))
                edges.setdefault((node, ref.owner), ref.holds)
        up.append(_level(found_up, per_side))
        down.append(_level(found_down, per_side))
    columns = [*[c for c, _ in reversed(up)], ((path, centre.state),), *[c for c, _ in down]]
    more = [*[m for _, m in reversed(up)], 0, *[m for _, m in down]]
    shown = {node for column in columns for node, _ in column}
    return Picture(path, tuple(columns), tuple(more), len(up),
                   tuple((a, b, h) for (a, b), h in edges.items()
                         if a in shown and b in shown))


def _level(boxes: list[tuple[str, str]], per_side: int
           ) -> tuple[tuple[tuple[str, str], ...], int]:
    """Unique boxes in order, the first ``per_side``, and how many more there are."""
    unique = list(dict.fromkeys(boxes))
    return tuple(unique[:per_side]), max(0, len(unique) - per_side)
