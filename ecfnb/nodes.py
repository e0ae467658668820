"""Plain-Python views of ecFlow nodes, built while the server's lock is held.

A full sync replaces the client's Defs, and an ``ecflow.Node`` kept past that
kills the process; so nothing of ecflow leaves this module: ``summarise`` and
``describe`` copy what callers need into frozen dataclasses. ``summarise`` reads
only what a listing needs (kind, state, time, try): the bindings cost ~2 µs a
node for that and 55-80 µs for every attribute, so attributes and variables are
read by ``describe`` for the one node that is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: Display states and their three-letter markers (DESIGN.md path scheme).
STATE_ABBREV: dict[str, str] = {
    "unknown": "unk", "queued": "que", "submitted": "sub", "active": "act",
    "complete": "com", "aborted": "abo", "suspended": "sus", "halted": "hal",
    "shutdown": "shu",
}
#: ecflow_ui's default state colours, so operators recognise them.
STATE_COLOURS: dict[str, str] = {
    "unknown": "rgb(220,220,220)", "suspended": "rgb(239,191,0)",
    "complete": "rgb(255,238,1)", "queued": "rgb(173,216,230)",
    "submitted": "rgb(64,224,208)", "active": "rgb(74,255,61)",
    "aborted": "rgb(255,59,53)", "halted": "rgb(238,130,238)",
    "shutdown": "rgb(255,192,203)",
}
KINDS = ("server", "suite", "family", "task", "alias")


@dataclass(frozen=True)
class Attribute:
    """One attribute of a node: ``kind`` (meter, label, trigger ...), its name, current
    value, and ``text``, the line in ecFlow's own definition syntax."""

    kind: str
    name: str
    value: str
    text: str


@dataclass(frozen=True)
class Variable:
    """A variable as seen from a node: ``origin`` is 'own', 'generated' or 'inherited';
    ``source`` the path of the node that defines it ('/' for the server)."""

    name: str
    value: str
    origin: str
    source: str


@dataclass(frozen=True)
class NodeInfo:
    """What ecfnb knows of one node at the last sync. ``detailed`` tells whether
    ``attributes`` and ``variables`` were read (``Server.node(path)``) or left
    empty (listings). ``child_names`` is filled by ``Server.node`` and left empty
    by ``Server.children`` (call ``children`` again to go down); ``has_children``
    is always right."""

    path: str
    name: str
    kind: str
    state: str
    since: datetime | None = None
    try_no: int = 0
    aborted_reason: str = ""
    child_names: tuple[str, ...] = ()
    has_children: bool = False
    attributes: tuple[Attribute, ...] = ()
    variables: tuple[Variable, ...] = ()
    detailed: bool = False
    #: Labels and meters only, for a one-line summary (a tree label); filled by
    #: listings that ask for them (``marks=True``), and always when ``detailed``.
    marks: tuple[Attribute, ...] = ()

    @property
    def suspended(self) -> bool:
        return self.state == "suspended"

    @property
    def abbrev(self) -> str:
        return STATE_ABBREV.get(self.state, "unk")

    @property
    def colour(self) -> str:
        return STATE_COLOURS.get(self.state, STATE_COLOURS["unknown"])

    def variable(self, name: str, default: str | None = None) -> str | None:
        """The value this node sees for ``name`` (own, generated, then nearest ancestor)."""
        for var in self.variables:
            if var.name == name:
                return var.value
        return default

    def _repr_html_(self) -> str:
        from .reprs import node_html

        return node_html(self)


# -- conversion from ecflow objects (call only under the Server's lock) ---------------------

#: ecflow class -> kind, filled on first sight: a dict lookup instead of up to three
#: isinstance checks through the binding (listings ask it of every node).
_KIND_OF_TYPE: dict[type, str] = {}


def node_kind(node: Any) -> str:
    kind = _KIND_OF_TYPE.get(type(node))
    if kind is None:
        import ecflow

        kind = ("task" if isinstance(node, ecflow.Task) else
                "family" if isinstance(node, ecflow.Family) else
                "suite" if isinstance(node, ecflow.Suite) else "alias")
        _KIND_OF_TYPE[type(node)] = kind
    return kind


def display_state(node: Any) -> str:
    """Suspended wins over the node's own state, as in ecflow_ui: ecFlow's own
    display state (one call instead of ``is_suspended`` then ``get_state``)."""
    return node.get_dstate().name


def child_nodes(node: Any, kind: str) -> list[Any]:
    if kind == "alias":
        return []
    return list(node.aliases) if kind == "task" else list(node.nodes)


def parse_time(text: str) -> datetime | None:
    """ecFlow prints state-change times in ISO form, in the suite clock (UTC unless a
    suite sets a hybrid/virtual clock)."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _text(getter: Any) -> str:
    """A string from the binding, which raises on non-UTF-8 bytes (a job may abort with
    any reason or label): then a marker instead of an error for the whole listing."""
    try:
        return getter()
    except UnicodeDecodeError:
        return "(text not readable: not UTF-8)"


def listing_row(node: Any, times: bool = True) -> tuple[str, str, str, str, bool]:
    """(name, kind, display state, state-change time as ecFlow prints it, has aliases):
    what a directory listing needs, ~2.5 µs a node against ~10 for ``summarise`` (no
    path, try, abort reason or dataclass). ``has aliases`` is False but for tasks.
    Without ``times`` the time is '' for a task without aliases (a file, whose time a
    ``find -name`` walk never asks; it is a third of the cost)."""
    kind = node_kind(node)
    aliases = kind == "task" and len(node.get_all_nodes()) > 1  # itself and its aliases
    since = node.get_state_change_time() if times or aliases or kind not in (
        "task", "alias") else ""
    return node.name(), kind, display_state(node), since, aliases


def summarise(node: Any, with_children: bool = True, with_marks: bool = False) -> NodeInfo:
    """The cheap view used by listings: no attributes, no variables; without
    ``with_children`` also no ``child_names`` (listing grandchildren doubles the cost);
    ``with_marks`` adds labels and meters (~20 µs a node)."""
    kind = node_kind(node)
    is_task = kind in ("task", "alias")
    child_names: tuple[str, ...] = ()
    if with_children:
        child_names = tuple(child.name() for child in child_nodes(node, kind))
        has_children = bool(child_names)
    elif kind == "alias":
        has_children = False
    elif is_task:  # itself and its aliases: 1 µs, where iterating ``aliases`` costs 5
        has_children = len(node.get_all_nodes()) > 1
    else:  # ~3 µs a node: cheaper than naming every child
        has_children = next(iter(node.nodes), None) is not None
    return NodeInfo(
        path=node.get_abs_node_path(),
        name=node.name(),
        kind=kind,
        state=display_state(node),
        since=parse_time(node.get_state_change_time()),
        try_no=node.get_int_try_no() if is_task else 0,
        aborted_reason=_text(node.get_aborted_reason) if is_task else "",
        child_names=child_names,
        has_children=has_children,
        marks=marks(node) if with_marks else (),
    )


def describe(node: Any, server_variables: list[Variable]) -> NodeInfo:
    """The full view of one node: its own attributes and every variable it sees."""
    summary = summarise(node, with_marks=True)
    return NodeInfo(**{**summary.__dict__, "attributes": tuple(own_attributes(node)),
                       "variables": tuple(visible_variables(node, server_variables)),
                       "detailed": True})


def _expression(kind: str, expr: Any) -> Attribute | None:
    if expr is None:
        return None
    text = expr.get_expression()
    return Attribute(kind, kind, text, f"{kind} {text}") if text else None


def own_attributes(node: Any) -> list[Attribute]:
    """A node's own attributes in definition order, each with its def-syntax line."""
    import ecflow

    attrs: list[Attribute] = []
    defstatus = str(node.get_defstatus())
    if defstatus != "queued":
        attrs.append(Attribute("defstatus", "defstatus", defstatus, f"defstatus {defstatus}"))
    for kind, getter in (("trigger", node.get_trigger), ("complete", node.get_complete)):
        attr = _expression(kind, getter())
        if attr:
            attrs.append(attr)
    repeat = node.get_repeat()
    if not repeat.empty():
        attrs.append(Attribute("repeat", repeat.name(), str(repeat.value()),
                               f"{repeat}  # value {repeat.value()}"))
    for kind, getter in (("late", node.get_late), ("autocancel", node.get_autocancel)):
        value = getter()
        if value is not None and str(value).strip():
            attrs.append(Attribute(kind, kind, str(value), str(value)))
    if isinstance(node, ecflow.Suite) and node.get_clock() is not None:
        clock = str(node.get_clock())
        attrs.append(Attribute("clock", "clock", clock, clock))
    for var in node.variables:
        attrs.append(Attribute("variable", var.name(), var.value(), str(var)))
    attrs.extend(_meter(meter) for meter in node.meters)
    for event in node.events:
        state = "set" if event.value() else "clear"
        attrs.append(Attribute("event", event.name() or str(event.number()), state,
                               f"{event}  # {state}"))
    attrs.extend(_label(label) for label in node.labels)
    attrs.extend(_listed(node))
    return attrs


def marks(node: Any) -> tuple[Attribute, ...]:
    """Labels with a value, then meters: what a tree shows after a node's name."""
    labels = [_label(label) for label in node.labels]
    return tuple([a for a in labels if a.value] + [_meter(meter) for meter in node.meters])


def _label(label: Any) -> Attribute:
    value = _text(label.new_value) or _text(label.value)
    return Attribute("label", label.name(), value, f"label {label.name()} {_quote(value)}")


def _meter(meter: Any) -> Attribute:
    return Attribute("meter", meter.name(), str(meter.value()),
                     f"{meter}  # value {meter.value()}")


def _listed(node: Any) -> list[Attribute]:
    attrs: list[Attribute] = []
    for limit in node.limits:
        attrs.append(Attribute("limit", limit.name(), str(limit.value()),
                               f"{limit}  # in use {limit.value()}"))
    for kind in ("inlimits", "times", "todays", "dates", "days", "crons"):
        for item in getattr(node, kind):
            text = str(item).strip()
            name = item.name() if kind == "inlimits" else kind[:-1]
            attrs.append(Attribute(kind[:-1], name, text, text))
    return attrs


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def visible_variables(node: Any, server_variables: list[Variable]) -> list[Variable]:
    """Own, then generated, then inherited nearest-first; a name closer to the node wins."""
    import ecflow

    seen: set[str] = set()
    out: list[Variable] = []

    def add(name: str, value: str, origin: str, source: str) -> None:
        if name not in seen:
            seen.add(name)
            out.append(Variable(name, value, origin, source))

    def node_variables(of: Any) -> Iterator[tuple[Any, bool]]:
        """(variable, generated?) defined on ``of`` itself."""
        generated = ecflow.VariableList()
        of.get_generated_variables(generated)
        yield from ((var, False) for var in of.variables)
        yield from ((var, True) for var in generated)

    path = node.get_abs_node_path()
    for var, is_generated in node_variables(node):
        add(var.name(), var.value(), "generated" if is_generated else "own", path)
    parent = node.get_parent()
    while parent is not None:
        parent_path = parent.get_abs_node_path()
        for var, _ in node_variables(parent):
            add(var.name(), var.value(), "inherited", parent_path)
        parent = parent.get_parent()
    for variable in server_variables:
        add(variable.name, variable.value, "inherited", "/")
    return out


def matching(defs: Any, states: frozenset[str], text: str, limit: int
             ) -> tuple[list[str], int]:
    """Paths of the nodes (tree order) whose display state is one of ``states`` (any
    when empty) and whose name contains ``text`` (the path, when ``text`` has a '/'),
    case-insensitive: the first ``limit``, and how many there are in all. Reads only
    names and states (~3 µs a node)."""
    needle = text.strip().lower()
    by_path = "/" in needle
    hits: list[str] = []
    total = 0
    for node in defs.get_all_nodes() if defs is not None else ():
        if states and display_state(node) not in states:
            continue
        if needle:
            where = node.get_abs_node_path() if by_path else node.name()
            if needle not in where.lower():
                continue
        total += 1
        if len(hits) < limit:
            hits.append(node.get_abs_node_path())
    return hits, total


# -- plain data to and from the JSON lines of helper processes --------------------------

def info_to_json(info: NodeInfo) -> dict[str, Any]:
    """The summary part of ``info`` (no attributes, variables or child names)."""
    return {"path": info.path, "name": info.name, "kind": info.kind, "state": info.state,
            "since": info.since.isoformat() if info.since else None, "try_no": info.try_no,
            "aborted_reason": info.aborted_reason, "has_children": info.has_children,
            "marks": [[a.kind, a.name, a.value, a.text] for a in info.marks]}


def info_from_json(data: dict[str, Any]) -> NodeInfo:
    since = datetime.fromisoformat(data["since"]) if data.get("since") else None
    return NodeInfo(path=data["path"], name=data["name"], kind=data["kind"],
                    state=data["state"], since=since, try_no=data.get("try_no", 0),
                    aborted_reason=data.get("aborted_reason", ""),
                    has_children=data.get("has_children", False),
                    marks=tuple(Attribute(*m) for m in data.get("marks", ())))
