"""Plain-Python views of ecFlow nodes, built while the server's lock is held.

A full sync replaces the client's Defs, and an ``ecflow.Node`` kept past that
kills the process; so nothing of ecflow leaves this module: ``summarise`` and
``describe`` copy what callers need into frozen dataclasses. ``summarise`` reads
only what a listing needs (kind, state, time, try): the bindings cost ~2 µs a
node for that and 55-80 µs for every attribute, so attributes and variables are
read by ``describe`` for the one node that is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .._base.states import KINDS, STATE_ABBREV, STATE_COLOURS, TASK_KINDS, state_colour  # noqa: F401
from ..errors import BadPath


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
    #: What a tree draws after the name (``marks``: labels, meters, events, repeat,
    #: time/date/cron, limits), for a one-line summary; filled by
    #: listings that ask for them (``marks=True``), and always when ``detailed``.
    marks: tuple[Attribute, ...] = ()
    #: The node's own lines in definition syntax, as ``ecflow_client --get`` prints them
    #: (``definition_lines``); filled when ``detailed``.
    definition: tuple[str, ...] = ()
    #: ecFlow's flags that are set ('late', 'zombie', 'killed', 'message', ...).
    flags: frozenset[str] = frozenset()
    #: The node's own state, under a suspension ('active' for a suspended active task);
    #: for the server ('/'): 'running', 'halted' or 'shutdown'. '' when not read.
    own_state: str = ""
    #: What a node menu's conditions ask beyond the state (``menu_facts``: 'trigger',
    #: 'time', 'date', 'defstatus:complete' ...); filled by ``Server.menu_info``.
    facts: frozenset[str] = frozenset()

    @property
    def run_state(self) -> str:
        """The state that decides what can be done to the node (what ecflow_ui's menu
        conditions test): its own state, which suspension hides in ``state``."""
        return self.own_state or self.state

    @property
    def suspended(self) -> bool:
        return self.state == "suspended"

    @property
    def abbrev(self) -> str:
        return STATE_ABBREV.get(self.state, "unk")

    @property
    def colour(self) -> str:
        return state_colour(self.state)

    def variable(self, name: str, default: str | None = None) -> str | None:
        """The value this node sees for ``name`` (own, generated, then nearest ancestor)."""
        for var in self.variables:
            if var.name == name:
                return var.value
        return default

    def _repr_html_(self) -> str:
        from .._base.html import node_html

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


#: What a text the binding cannot give shows instead (it raises UnicodeDecodeError on
#: bytes that are not UTF-8, and gives no way to the bytes).
UNREADABLE = "\ufffd(text not readable: not UTF-8)"


def _text(getter: Any, *args: Any) -> str:
    """A string from the binding, which raises on non-UTF-8 bytes (a job may abort with
    any reason or label, anyone with write access may set any variable): then a marker,
    instead of an error for the node, every node that inherits from it, and the whole
    listing (measured: one variable with a 0xff byte broke its family's subtree)."""
    try:
        return getter(*args)
    except UnicodeDecodeError:
        return UNREADABLE


#: For the server layer: every text it reads from the binding goes through this.
text_of = _text


def listing_row(node: Any, times: bool = True) -> tuple[str, str, str, str, bool]:
    """(name, kind, display state, state-change time as ecFlow prints it, has aliases):
    what a directory listing needs, ~2.5 µs a node against ~10 for ``summarise`` (no
    path, try, abort reason or dataclass). ``has aliases`` is False but for tasks.
    Without ``times`` the time is '' for a task without aliases (a file, whose time a
    ``find -name`` walk never asks; it is a third of the cost)."""
    kind = node_kind(node)
    aliases = kind == "task" and len(node.get_all_nodes()) > 1  # itself and its aliases
    since = node.get_state_change_time() if times or aliases or kind not in (
        TASK_KINDS) else ""
    return node.name(), kind, display_state(node), since, aliases


def summarise(node: Any, with_children: bool = True, with_marks: bool = False) -> NodeInfo:
    """The cheap view used by listings: no attributes, no variables; without
    ``with_children`` also no ``child_names`` (listing grandchildren doubles the cost);
    ``with_marks`` adds what a tree draws (``marks``: labels, meters, events,
    repeat, times, limits; ~20 µs a node)."""
    kind = node_kind(node)
    is_task = kind in TASK_KINDS
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
        flags=node_flags(node),
        own_state=node.get_state().name,
    )


def node_flags(node: Any) -> frozenset[str]:
    """The flags set on ``node``, by ecFlow's names: ``str(flag)`` lists them, 0.2 µs."""
    text = str(node.get_flag())
    return frozenset(name for name in text.replace(" ", "").split(",") if name) \
        if text else frozenset()


def menu_facts(node: Any) -> frozenset[str]:
    """What ecflow_ui's menu conditions test besides the state (``has_triggers``,
    ``has_time``, ``has_date``) and the node's defstatus, ~5 µs."""
    found = {f"defstatus:{node.get_defstatus()}"}
    if node.get_trigger() is not None or node.get_complete() is not None:
        found.add("trigger")
    if any(next(iter(getattr(node, kind)), None) is not None
           for kind in ("times", "todays", "crons")):
        found.add("time")
    if any(next(iter(getattr(node, kind)), None) is not None for kind in ("dates", "days")):
        found.add("date")
    return frozenset(found)


def describe(node: Any, server_variables: list[Variable]) -> NodeInfo:
    """The full view of one node: its own attributes and every variable it sees."""
    summary = summarise(node, with_marks=True)
    return NodeInfo(**{**summary.__dict__, "attributes": tuple(own_attributes(node)),
                       "variables": tuple(visible_variables(node, server_variables)),
                       "definition": tuple(definition_lines(node)), "detailed": True})


def definition_lines(node: Any) -> list[str]:
    """The node's own lines in ecFlow's definition syntax, exactly as ``ecflow_client
    --get`` prints them (the header ``task t`` first, then every attribute, indented
    by two): ``str(node)`` is that printer, so every attribute kind the binding knows
    is there (zombie, verify, queue, generic, autoarchive, part expressions ``trigger
    -o`` on lines of their own, and kinds newer than this code). A node's attributes
    come before its children, so the text is cut at the first child; a family's
    ``str`` prints its subtree, ~1 µs a line, paid only when its ``.att`` is read."""
    try:
        lines = str(node).rstrip("\n").split("\n")
    except UnicodeDecodeError:  # an attribute's text is not UTF-8: ours, with its marker
        kind = node_kind(node)
        return [f"{kind} {node.name()}", *(f"  {a.text}" for a in own_attributes(node))]
    head = lines[0]
    indent = len(head) - len(head.lstrip(" "))
    own = [head[indent:]]
    for line in lines[1:]:
        body = line.lstrip(" ")
        depth = len(line) - len(body)
        if depth <= indent:
            break  # the node's own 'endfamily' / 'endsuite'
        if depth == indent + 2 and body.split(" ", 1)[0] in CHILD_KEYWORDS:
            break  # its first child
        own.append(line[indent:])
    return own


#: Words that open a child node in definition syntax: a node's own lines end there.
CHILD_KEYWORDS = frozenset({"task", "family", "alias", "endfamily", "endsuite", "endtask"})


def real_clock(node: Any) -> bool:
    """True when the node's suite runs on the real UTC clock (no ``clock`` gain, virtual
    or hybrid): only then is its state-change time a UTC moment."""
    suite = node
    parent = suite.get_parent()
    while parent is not None:
        suite, parent = parent, parent.get_parent()
    clock = suite.get_clock() if hasattr(suite, "get_clock") else None
    if clock is None:
        return True
    text = str(clock)
    return "hybrid" not in text and "virtual" not in text and not clock.gain()


def state_change_pairs(defs: Any, changes: Iterable[Any]) -> list[tuple[datetime, datetime]]:
    """(log stamp, UTC since) for the logged state changes (``_serverlog.StateChange``)
    that are still each node's current state: the same moment on the server's two
    clocks, from which its log's time zone follows."""
    pairs: list[tuple[datetime, datetime]] = []
    if defs is None:
        return pairs
    for change in changes:
        node = defs.find_abs_node(change.path)
        if node is None or node.get_state().name != change.state or not real_clock(node):
            continue
        since = parse_time(node.get_state_change_time())
        if since is not None:
            pairs.append((change.local, since))
    return pairs


def _expression(kind: str, expr: Any) -> Attribute | None:
    if expr is None:
        return None
    text = _text(expr.get_expression)
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
        attrs.append(Attribute("repeat", repeat.name(), _text(str, repeat.value()),
                               f"{_text(str, repeat)}  # value {_text(str, repeat.value())}"))
    for kind, getter in (("late", node.get_late), ("autocancel", node.get_autocancel)):
        value = getter()
        if value is not None and str(value).strip():
            attrs.append(Attribute(kind, kind, str(value), str(value)))
    if isinstance(node, ecflow.Suite) and node.get_clock() is not None:
        clock = _text(str, node.get_clock())
        attrs.append(Attribute("clock", "clock", clock, clock))
    for var in node.variables:
        value = _text(var.value)
        text = _text(str, var)
        if text == UNREADABLE:
            text = f"edit {var.name()} '{value}'"
        attrs.append(Attribute("variable", var.name(), value, text))
    attrs.extend(_meter(meter) for meter in node.meters)
    for event in node.events:
        state = "set" if event.value() else "clear"
        attrs.append(Attribute("event", event.name() or str(event.number()), state,
                               f"{event}  # {state}"))
    attrs.extend(_label(label) for label in node.labels)
    attrs.extend(_listed(node))
    for kind in ("zombies", "verifies", "queues", "generics"):
        for item in getattr(node, kind, ()):
            text = _text(str, item).strip()
            name = item.name() if hasattr(item, "name") else kind[:-1]
            attrs.append(Attribute(kind[:-1] if kind != "verifies" else "verify", str(name),
                                   text.split(" ", 1)[-1], text))
    for kind in ("autoarchive", "autorestore"):
        getter = getattr(node, f"get_{kind}", None)
        value = getter() if getter is not None else None
        if value is not None and str(value).strip():
            attrs.append(Attribute(kind, kind, str(value).strip(), str(value).strip()))
    return attrs


def marks(node: Any) -> tuple[Attribute, ...]:
    """What a tree draws after a node's name, as ecflow_ui does: labels with a value,
    meters, events, the repeat with its current value, time/today/date/day/cron, and
    limits with their use. Each kind costs one empty iteration when absent (~3 µs); only
    rows of open nodes are built, so a closed family costs nothing."""
    found = [a for a in map(_label, node.labels) if a.value]
    found.extend(_meter(meter) for meter in node.meters)
    for event in node.events:
        name = event.name() or str(event.number())
        state = "set" if event.value() else "clear"
        found.append(Attribute("event", name, state, f"event {name}  # {state}"))
    repeat = node.get_repeat()
    if not repeat.empty():
        value = _text(str, repeat.value())
        found.append(Attribute("repeat", repeat.name(), value,
                               f"{_text(str, repeat)}  # value {value}"))
    for kind in ("times", "todays", "dates", "days", "crons"):
        for item in getattr(node, kind):
            text = _text(str, item).strip()
            found.append(Attribute(kind[:-1], kind[:-1], text.split(" ", 1)[-1], text))
    for limit in node.limits:
        found.append(Attribute("limit", limit.name(), f"{limit.value()}/{limit.limit()}",
                               f"{limit}  # in use {limit.value()} of {limit.limit()}"))
    return tuple(found)


def _label(label: Any) -> Attribute:
    value = _text(label.new_value) or _text(label.value)
    return Attribute("label", label.name(), value, f"label {label.name()} {quoted(value)}")


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
            text = _text(str, item).strip()
            name = item.name() if kind == "inlimits" else kind[:-1]
            attrs.append(Attribute(kind[:-1], name, text, text))
    return attrs


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def generated_variables(node: Any) -> Any:
    """The node's generated variables (ECF_TRYNO, ECF_JOB, ECF_JOBOUT, ECF_PASS, ...) as the
    server computes them now: the one place ecfnb reads them.

    The client computes them once, when a node first arrives in a full sync, and
    ``sync_local`` never refreshes them: after a retry, a rerun or a requeue, a task on
    try 2 still said ``ECF_TRYNO 1`` and ``ECF_JOBOUT .../t.1`` (measured on 5.9.2), so
    every surface showed the previous try's files. ``update_generated_variables``
    recomputes them from the node's own try number and variables, as the server does
    (a few microseconds, and only for nodes that are opened)."""
    import ecflow

    node.update_generated_variables()
    generated = ecflow.VariableList()
    node.get_generated_variables(generated)
    return generated


def variable_value(node: Any, name: str) -> str:
    """The value ``node`` sees for ``name``: own or generated, else the nearest ancestor's
    (cheaply: no full listing); '' when none."""
    own = node.find_variable(name)
    value = _text(own.value) if not own.empty() else ""
    if not value:
        node.update_generated_variables()
        value = _text(node.find_gen_variable(name).value)
    if not value:
        value = _text(node.find_parent_variable_sub_value, name)
    return value


def visible_variables(node: Any, server_variables: list[Variable]) -> list[Variable]:
    """Own, then generated, then inherited nearest-first; a name closer to the node wins."""
    seen: set[str] = set()
    out: list[Variable] = []

    def add(name: str, value: str, origin: str, source: str) -> None:
        if name not in seen:
            seen.add(name)
            out.append(Variable(name, value, origin, source))

    def node_variables(of: Any) -> Iterator[tuple[Any, bool]]:
        """(variable, generated?) defined on ``of`` itself."""
        yield from ((var, False) for var in of.variables)
        yield from ((var, True) for var in generated_variables(of))

    path = node.get_abs_node_path()
    for var, is_generated in node_variables(node):
        add(var.name(), _text(var.value), "generated" if is_generated else "own", path)
    parent = node.get_parent()
    while parent is not None:
        parent_path = parent.get_abs_node_path()
        for var, _ in node_variables(parent):
            add(var.name(), _text(var.value), "inherited", parent_path)
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
            "marks": [[a.kind, a.name, a.value, a.text] for a in info.marks],
            "facts": sorted(info.facts),
            "flags": sorted(info.flags), "own_state": info.own_state}


def info_from_json(data: dict[str, Any]) -> NodeInfo:
    since = datetime.fromisoformat(data["since"]) if data.get("since") else None
    return NodeInfo(path=data["path"], name=data["name"], kind=data["kind"],
                    state=data["state"], since=since, try_no=data.get("try_no", 0),
                    aborted_reason=data.get("aborted_reason", ""),
                    has_children=data.get("has_children", False),
                    marks=tuple(Attribute(*m) for m in data.get("marks", ())),
                    flags=frozenset(data.get("flags", ())),
                    own_state=data.get("own_state", ""),
                    facts=frozenset(data.get("facts", ())))


def normalise_path(path: str) -> str:
    """'/s/f/', 's/f' and '/s/./f' all mean '/s/f'. A '..' is refused (BadPath): ecFlow
    paths are absolute, and a path that climbs is a mistake, not a way to a node."""
    if not isinstance(path, str):
        raise TypeError(f"node path must be a string like '/suite/family/task', not {path!r}")
    parts = [part for part in path.split("/") if part and part != "."]
    if ".." in parts:
        raise BadPath(path, "'..' is not allowed: write the path from the root, e.g. "
                            "'/suite/family/task'")
    return "/" + "/".join(parts)
