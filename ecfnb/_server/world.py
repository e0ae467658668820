"""The tree as the server would change it: states, suspensions, events, meters,
repeats and limit tokens of a ``Plan`` (the live definition, ``walks.plan``), changed
by hand, and the server's job submission pass over it.

Two readers: the action preview (what an action sets in motion, ``preview``) and the
completion forecast (the same world run forward in time with each task's durations,
``_map/forecast``). Both need ecFlow's rules, as measured on 5.9 and 5.13, and this
is their one home: a family's state follows its children's (ecFlow's precedence); a
force requeue resets what is below; in a pass, depth first in the definition's order,
a queued task is submitted when nothing above it is suspended, every trigger on the
way holds, no time attribute holds it and each limit it is in has room (the tokens it
takes count for the tasks after it in the same pass).
"""

from __future__ import annotations

import functools
import re
import time
from datetime import datetime
from typing import Any

from .._base.expression import Expr, ExpressionError, parse
from .._base.expression import reference_path as resolve
from .walks import Plan

__all__ = ["World", "SubmissionPass", "requeue", "derived_state", "parsed", "resolved",
           "passes_in_time", "DAYS"]

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# -- the hypothetical tree -------------------------------------------------------------
class World:
    """States, suspensions, event values and limit use of a Plan, changeable."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.nodes = plan.nodes
        self.state = {p: n.state for p, n in plan.nodes.items()}
        self.suspended = {p: n.suspended for p, n in plan.nodes.items()}
        self.events = {p: {e[0]: e[1] for e in n.events} for p, n in plan.nodes.items()}
        self.meters = {p: {m[0]: m[1] for m in n.meters} for p, n in plan.nodes.items()}
        self.repeat = {p: n.repeat[1] for p, n in plan.nodes.items() if n.repeat}
        self.limits: dict[str, list[Any]] = {}  # 'path:name' -> [value, max, holders]
        self.held: dict[str, list[tuple[str, int]]] = {}  # task -> [(limit, tokens)]
        for path, node in plan.nodes.items():
            for name, value, maximum, holders in node.limits:
                key = f"{path}:{name}"
                self.limits[key] = [value, maximum, list(holders)]
                for holder in holders:
                    self.held.setdefault(holder, []).append((key, 1))
        self.free: dict[str, set[str]] = {}  # path -> {'trigger', 'time', 'date'}
        self.reset: set[str] = set()  # time slots reset by the action
        self.parent = {c: p for p, n in plan.nodes.items() for c in n.children}
        self.order = list(plan.nodes)
        self.chains: dict[str, list[str]] = {}
        self.conditioned: dict[str, list[str]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        for path, node in plan.nodes.items():
            if node.kind in ("suite", "family") and node.children:
                counts: dict[str, int] = {}
                for child in node.children:
                    if child in self.state:
                        counts[self.state[child]] = counts.get(self.state[child], 0) + 1
                self.counts[path] = counts

    def conditions(self, path: str) -> list[str]:
        """The nodes of ``path``'s chain with a trigger, a time attribute or an inlimit
        (static: computed once a node, shared by the copies)."""
        found = self.conditioned.get(path)
        if found is None:
            nodes = self.nodes
            found = [up for up in self.chain(path) if nodes[up].trigger or nodes[up].times
                     or nodes[up].inlimits]
            self.conditioned[path] = found
        return found

    def copy(self) -> World:
        other = object.__new__(World)
        other.__dict__.update(self.__dict__)
        other.state = dict(self.state)
        other.suspended = dict(self.suspended)
        other.limits = {k: [v[0], v[1], list(v[2])] for k, v in self.limits.items()}
        other.held = {k: list(v) for k, v in self.held.items()}
        other.free = {k: set(v) for k, v in self.free.items()}
        other.counts = {k: dict(v) for k, v in self.counts.items()}
        other.reset = set(self.reset)
        return other

    def set(self, path: str, state: str) -> None:
        """Change a task's state and, as ecFlow does, the families' above it (their
        state follows their children: O(depth) per change, from counts)."""
        old = self.state[path]
        if old == state:
            return
        self.state[path] = state
        up = self.parent.get(path)
        while up is not None and up in self.counts:
            counts = self.counts[up]
            counts[old] = counts.get(old, 0) - 1
            counts[state] = counts.get(state, 0) + 1
            derived = derived_state(counts)
            if derived == self.state[up]:
                return
            old, state = self.state[up], derived
            self.state[up] = derived
            path, up = up, self.parent.get(up)

    def chain(self, path: str) -> list[str]:
        """The node and the nodes above it, nearest first (the tree does not change:
        computed once a node, shared by the copies)."""
        found = self.chains.get(path)
        if found is None:
            found = [path]
            while found[-1] in self.parent:
                found.append(self.parent[found[-1]])
            self.chains[path] = found
        return found

    def below(self, path: str) -> list[str]:
        """The node and everything under it, in the server's order."""
        found, stack = [], [path]
        while stack:
            one = stack.pop()
            if one in self.nodes:
                found.append(one)
                stack.extend(reversed(self.nodes[one].children))
        return found

    def release_tokens(self, path: str) -> None:
        """A task's job ended or went: the tokens it holds go back to its limits."""
        for key, tokens in self.held.pop(path, ()):
            value = self.limits[key]
            if path in value[2]:
                value[2].remove(path)
            value[0] = max(0, value[0] - tokens)

    def limit_of(self, owner: str, name: str, written: str) -> str | None:
        """Which limit an inlimit of ``owner`` means: the one at the path written, or
        the nearest node up the tree that has a limit of that name."""
        if written:
            key = f"{resolve(owner, written)}:{name}"
            return key if key in self.limits else None
        for up in self.chain(owner):
            if f"{up}:{name}" in self.limits:
                return f"{up}:{name}"
        return None


def derived_state(counts: dict[str, int]) -> str:
    """A family's state from its children's: ecFlow's order of precedence."""
    for state in ("aborted", "active", "submitted", "queued", "complete"):
        if counts.get(state, 0) > 0:
            return state
    return "unknown"


def requeue(world: World, path: str) -> None:
    """ecFlow's ``--requeue=force``: measured effects on the node and everything below."""
    for one in world.below(path):
        node = world.nodes[one]
        if one != path:
            world.suspended[one] = False
        if node.defstatus == "suspended":
            world.suspended[one] = True
        if node.kind in ("task", "alias"):
            world.release_tokens(one)
            world.set(one, "complete" if node.defstatus == "complete" else "queued")
        world.events[one] = {e[0]: e[2] for e in node.events}
        world.meters[one] = {m[0]: m[2] for m in node.meters}
        if node.repeat:
            world.repeat[one] = node.repeat[2]
        world.reset.add(one)
        world.free.pop(one, None)


# -- one pass of the server --------------------------------------------------------------
class SubmissionPass:
    """The server's job submission pass over a world: which queued tasks go now."""

    def __init__(self, world: World, clock: datetime | None) -> None:  # noqa: D107
        self.world = world
        self.clock = clock

    def expression(self, text: str) -> Expr | None:
        return parsed(text)

    def lookup(self, base: str) -> Any:
        world = self.world

        def value(written: str, attribute: str) -> Any:
            path = resolved(base, written)
            if path not in world.state:
                return None
            if not attribute:
                return world.state[path]
            if attribute in world.events.get(path, {}):
                return int(world.events[path][attribute])
            if attribute in world.meters.get(path, {}):
                return world.meters[path][attribute]
            repeat = world.nodes[path].repeat
            if repeat and repeat[0] == attribute:
                text = world.repeat.get(path, repeat[1])
                return int(text) if text.lstrip("-").isdigit() else None
            return None  # a variable, or unknown: ecFlow decides
        return value

    def holds(self, path: str, text: str | None) -> bool | None:
        if text is None:
            return True
        expr = self.expression(text)
        if expr is None:
            return None
        parent = self.world.parent.get(path, "/")
        return expr.holds(self.lookup(parent))

    def time_block(self, path: str) -> tuple[str, bool] | None:
        """What time attribute of ``path`` holds it now (text, decided), None if none."""
        node = self.world.nodes[path]
        if not node.times or {"time", "date"} <= self.world.free.get(path, set()):
            return None
        free = self.world.free.get(path, set())
        if path not in self.world.reset:
            if "dependent" in node.why and f"{path}(" in node.why:
                kinds = [t for t in node.times
                         if ("time" not in free or not t.startswith(("time", "today", "cron")))
                         and ("date" not in free or not t.startswith(("date", "day")))]
                return (", ".join(kinds), True) if kinds else None
            return None
        for attr in node.times:
            kind, _, value = attr.partition(" ")
            if kind in ("time", "today", "cron") and "time" in free:
                continue
            if kind in ("date", "day") and "date" in free:
                continue
            due = self._due(kind, value.split("#", 1)[0].strip())
            if due is not True:
                return attr, due is False
        return None

    def _due(self, kind: str, value: str) -> bool | None:
        """Whether a reset time attribute lets the node run now (None: ecFlow decides)."""
        now = self.clock
        if now is None:
            return None
        if kind == "today":
            found = re.fullmatch(r"(\d{1,2}):(\d\d)", value)
            if not found:
                return None
            return (now.hour, now.minute) >= (int(found.group(1)), int(found.group(2)))
        if kind == "day":
            return DAYS[now.weekday()] == value.strip().lower()
        if kind == "date":
            day, month, year = (value.split(".") + ["*", "*"])[:3]
            return all(part == "*" or int(part) == have for part, have in
                       ((day, now.day), (month, now.month), (year, now.year)))
        return False  # time and cron: released at their next slot

    def blocked(self, path: str, limits: dict[str, list[Any]]) -> tuple[str, bool] | None:
        """Why the queued task ``path`` is not submitted now: (reason, decided); None
        when it is. In ecFlow's order: a suspension, a trigger, a time, a limit, on the
        task or a node above it (only the nodes of its chain that have any of them are
        looked at: most have none)."""
        world = self.world
        suspended = world.suspended
        for up in world.chain(path):
            if suspended[up]:
                return f"{up} is suspended", True
        conditions = world.conditions(path)
        if not conditions:
            return None
        free = world.free
        for up in conditions:
            node = world.nodes[up]
            if node.trigger and "trigger" not in free.get(up, ()):
                holds = self.holds(up, node.trigger)
                if holds is None:
                    return f"trigger of {up} ({node.trigger}): ecFlow decides", False
                if not holds:
                    return f"trigger {node.trigger}" + (f" (of {up})" if up != path else ""), True
        for up in conditions:
            block = self.time_block(up) if world.nodes[up].times else None
            if block:
                text, decided = block
                where = f" (of {up})" if up != path else ""
                return (f"{text}{where}" if decided else
                        f"{text}{where}: ecFlow decides whether it is due"), decided
        for up in conditions:
            for name, written, tokens, _only in world.nodes[up].inlimits:
                key = world.limit_of(up, name, written)
                if key is None:
                    continue
                value, maximum, _holders = limits[key]
                if value + tokens > maximum:
                    return f"limit {key} is full ({value} of {maximum})", True
        return None

    def take(self, path: str, limits: dict[str, list[Any]]) -> list[str]:
        taken = []
        world = self.world
        for up in world.chain(path):
            for name, written, tokens, _only in world.nodes[up].inlimits:
                key = world.limit_of(up, name, written)
                if key is not None:
                    limits[key][0] += tokens
                    limits[key][2].append(path)
                    world.held.setdefault(path, []).append((key, tokens))
                    taken.append(key)
        return taken

    def run(self, deadline: float, eventually: bool = False
            ) -> tuple[list[str], dict[str, tuple[str, bool]], bool]:
        """Submit what goes now (``eventually``: what goes once everything running and
        submitted has completed and time has come, repeating until nothing more runs);
        returns the tasks in submission order, why each other queued task waits, and
        whether it finished before ``deadline``."""
        world = self.world
        started: list[str] = []
        waits: dict[str, tuple[str, bool]] = {}
        tasks = [p for p in world.order if world.nodes[p].kind in ("task", "alias")]
        while True:
            progressed = False
            if eventually:
                for path in tasks:
                    if world.state[path] in ("active", "submitted"):
                        world.set(path, "complete")
                        world.release_tokens(path)
            for path in tasks:
                if time.monotonic() > deadline:
                    return started, waits, False
                if world.state[path] != "queued":
                    continue
                node = world.nodes[path]
                if node.complete and self.holds(path, node.complete):
                    world.set(path, "complete")  # its complete expression holds
                    progressed = True
                    continue
                why = self.blocked(path, world.limits)
                if why is not None and not (eventually and passes_in_time(why[0])):
                    waits[path] = why
                    continue
                waits.pop(path, None)
                world.set(path, "submitted")
                self.take(path, world.limits)
                started.append(path)
                progressed = True
            if not eventually or not progressed:
                return started, waits, True


@functools.lru_cache(maxsize=65536)
def parsed(text: str) -> Expr | None:
    """An expression parsed once (a suite repeats the same few triggers)."""
    try:
        return parse(text)
    except ExpressionError:
        return None


@functools.lru_cache(maxsize=65536)
def resolved(base: str, written: str) -> str:
    return resolve(base, written)


def passes_in_time(reason: str) -> bool:
    """Whether what holds a task goes by itself: a full limit (tokens come back as the
    jobs complete) or a time attribute (its time comes)."""
    return reason.startswith(("limit ", "time ", "today ", "cron ", "date ", "day "))
