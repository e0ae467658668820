"""The tree as it was: every node's state, try and reason at any instant inside the
server log's span, rebuilt from the log's state lines and the current definition, and
what changed between two instants.

``history(server).at("2026-12-01 03:12")`` → a ``PastTree``; ``.diff(t1, t2)`` → a
``HistoryDiff`` (newly aborted, started, completed, still waiting).

How (one streaming pass over the log, ``_base/serverlog``):
- each ``LOG:`` state line (``submitted: /s/f/t job_size:…``, ``aborted: … try-no: 2
  reason: …``) is a change of that node at that moment (the log's local stamps turned
  into UTC by the server's ``log_clock()``, as everywhere else);
- a task's try counts its submissions since its last requeue (a ``queued`` line), and
  an abort line's ``try-no`` says it outright, as the timeline counts them;
- a node whose last change the log shows before the instant is in that state; a node
  the log never shows changing after the instant is still in its current state (the
  definition's, with its own ``since``); a node whose first change in the log comes
  after the instant, with nothing before, was in a state the log does not tell:
  'unknown (before the log)', never a guess.
- a suspension is not a state line: it is the ``--suspend``/``--resume`` command lines
  (``MSG:``) that say when a node was suspended; a node suspended now with no such
  line (``defstatus suspended``) was suspended since the suite began.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any, NamedTuple

from .._base.html import state_chip
from .._base.serverlog import LogClock, parse_line, state_change
from .._server.nodes import parse_time
from .._server.server import Server, normalise_path
from .logindex import LogIndex, margin

__all__ = ["history", "History", "PastTree", "PastNode", "HistoryDiff", "BEFORE_THE_LOG"]

#: The state of a node the log shows changing only after the instant asked for.
BEFORE_THE_LOG = "unknown (before the log)"


class PastNode(NamedTuple):
    """One node at an instant: its state, since when (UTC; None if the log does not
    say), its try (tasks; 0 when unknown) and its abort reason."""

    path: str
    state: str
    since: datetime | None
    try_no: int = 0
    reason: str = ""


@dataclass(frozen=True)
class PastTree:
    """Every node of the server at ``instant`` (UTC), read-only."""

    instant: datetime
    nodes: dict[str, PastNode] = field(repr=False)

    def __getitem__(self, path: str) -> PastNode:
        return self.nodes[normalise_path(path)]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and normalise_path(path) in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def under(self, path: str) -> list[PastNode]:
        """The node at ``path`` and every node below it, in path order."""
        path = normalise_path(path)
        prefix = path.rstrip("/") + "/"
        return [n for p, n in sorted(self.nodes.items())
                if path == "/" or p == path or p.startswith(prefix)]

    def states(self) -> Counter:
        """How many nodes are in each state."""
        return Counter(n.state for n in self.nodes.values())

    def in_state(self, state: str) -> list[str]:
        return sorted(p for p, n in self.nodes.items() if n.state == state)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s} {c}" for s, c in sorted(self.states().items()))
        return f"<PastTree at {self.instant:%Y-%m-%d %H:%M:%S} UTC: {counts}>"

    def _repr_html_(self, rows: int = 200) -> str:
        body = "".join(
            f"<tr><td><code>{escape(n.path)}</code></td><td>{state_chip(n.state)}</td>"
            f"<td>{f'{n.since:%Y-%m-%d %H:%M:%S}' if n.since else ''}</td></tr>"
            for n in self.under("/")[:rows])
        return (f"<p>The tree at {self.instant:%Y-%m-%d %H:%M:%S} UTC ({len(self)} nodes)"
                f"</p><table class='ecfnb-past-tree'><tr><th>node</th><th>state</th><th>"
                f"since (UTC)</th></tr>{body}</table>")


@dataclass(frozen=True)
class HistoryDiff:
    """What changed between ``before`` and ``after`` (two instants, UTC): each list
    names paths; ``changed`` is every (path, state before, state after)."""

    before: datetime
    after: datetime
    newly_aborted: tuple[str, ...]
    started: tuple[str, ...]
    completed: tuple[str, ...]
    still_waiting: tuple[str, ...]
    changed: tuple[tuple[str, str, str], ...]

    def __repr__(self) -> str:
        return (f"<HistoryDiff {self.before:%H:%M:%S} → {self.after:%H:%M:%S} UTC: "
                f"{len(self.newly_aborted)} newly aborted, {len(self.started)} started, "
                f"{len(self.completed)} completed, {len(self.still_waiting)} still waiting>")


class History:
    """The state changes of the nodes the log shows (UTC), and the current tree.

    The log is read by position (``logindex``): the tree at an instant reads the log
    backwards from it for the nodes that changed since, and moving the instant forward
    reads what lies between; ``changes`` (every change of every node) is one whole
    pass, made only when asked for."""

    def __init__(self, index: LogIndex, current: dict[str, tuple[str, datetime | None, int]],
                 source: str, clock: LogClock, tasks: set[str] | None = None) -> None:
        self.index = index
        #: The task paths (tries are counted for them only; default: every node).
        self.tasks = set(current) if tasks is None else tasks
        self.current = current
        self.source = source
        self.clock = clock
        self._suspensions: dict[str, list[tuple[datetime, bool]]] | None = None
        self._one: dict[str, list[tuple[datetime, str, int, str]]] = {}  # changes_of
        self._changes: dict[str, list[tuple[datetime, str, int, str]]] | None = None
        self._times: dict[str, list[datetime]] = {}
        self._last: tuple[datetime, int, dict[str, PastNode], dict[str, PastNode]] | None = \
            None
        #: The first and last moment the log shows (None, None for an empty log).
        self.span = index.span()

    @property
    def suspensions(self) -> dict[str, list[tuple[datetime, bool]]]:
        """Each node's suspend (True) and resume (False) commands in the log, in order
        (read when first needed: ``grep`` started with the index finds them)."""
        if self._suspensions is None:
            found: dict[str, list[tuple[datetime, bool]]] = {}
            for moment, text in self.index.commands(_SUSPENSION):
                command = _SUSPENSION.match(text)
                if command is not None:
                    for path in command.group(2).split():
                        if path.startswith("/"):
                            found.setdefault(path.rstrip("/") or "/", []).append(
                                (moment, command.group(1) == "suspend"))
            self._suspensions = found
        return self._suspensions

    @functools.cached_property
    def _suspendable(self) -> set[str]:
        """The nodes a suspension may concern: suspended now, or named by a command."""
        return set(self.suspensions) | {p for p, (state, _since, _try) in self.current.items()
                                        if state == "suspended"}

    @property
    def changes(self) -> dict[str, list[tuple[datetime, str, int, str]]]:
        """Every node's changes, in order (one pass over the whole log, kept)."""
        if self._changes is None:
            self._changes = read_changes(self.index.lines(), self.clock)
            self._times = {p: [c[0] for c in found] for p, found in self._changes.items()}
        return self._changes

    def changes_of(self, path: str) -> list[tuple[datetime, str, int, str]]:
        """One node's changes, in order (read for that node alone unless ``changes``
        was made)."""
        path = normalise_path(path)
        if self._changes is not None:
            return self._changes.get(path, [])
        found = self._one.get(path)
        if found is None:
            found = self._one[path] = self.index.changes_of(path)
        return found

    def __repr__(self) -> str:
        first, last = self.span
        if first is None or last is None:
            return f"<History of {self.source}: no state change in the log>"
        return (f"<History of {self.source}: changes from {first:%Y-%m-%d %H:%M:%S} to "
                f"{last:%Y-%m-%d %H:%M:%S} UTC>")

    def at(self, when: datetime | str) -> PastTree:
        """The tree at ``when`` (aware, naive = UTC, or 'YYYY-MM-DD HH:MM[:SS]' UTC):
        every node on the server now."""
        instant = as_instant(when)
        if self._changes is not None:
            return PastTree(instant, {p: self._node_from_index(p, instant)
                                      for p in set(self.current) | set(self._changes)})
        return PastTree(instant, self._quick(instant))

    def node(self, path: str, when: datetime | str) -> PastNode:
        path, instant = normalise_path(path), as_instant(when)
        if self._changes is not None:
            return self._node_from_index(path, instant)
        found = self._quick(instant).get(path)
        return found if found is not None else PastNode(path, "unknown", None)

    # -- the quick read: backwards from the instant ----------------------------------------
    def _quick(self, instant: datetime) -> dict[str, PastNode]:
        """Every node on the server at ``instant``, the log read by position; the last
        answer kept, and moved forward from when the next instant is later. Kept as
        the states the log gives; suspensions are laid over at the end (a node
        suspended and resumed between two instants keeps the state under them)."""
        last = self._last
        if last is not None and last[0] == instant:
            return last[3]
        offset = self.index.offset(instant)
        if last is not None and last[0] < instant:
            base = dict(last[2])

            def try_at(path: str) -> int:
                node = base.get(path)
                return node.try_no if node is not None and node.state not in (
                    "queued", BEFORE_THE_LOG) else 0
            for path, (moment, state, try_no, reason) in self.index.newest_between(
                    last[1], offset, try_at, self.tasks).items():
                if path in base:
                    base[path] = PastNode(path, state, moment, try_no, reason)
        else:
            base = self._fresh(instant, offset)
        nodes = dict(base)
        for path in self._suspendable:
            if path in nodes:
                nodes[path] = self._suspension(nodes[path], instant)
        self._last = (instant, offset, base, nodes)
        return nodes

    def _fresh(self, instant: datetime, offset: int) -> dict[str, PastNode]:
        """The states the log gives at ``instant`` (suspensions not laid over)."""
        recent = instant - margin()
        # a node suspended now and then too shows 'suspended' whatever the log says
        # under it; one not suspended then needs the state under the suspension
        wanted = {p for p, (state, since, _try) in self.current.items()
                  if (since is not None and since > recent) or (
                      state == "suspended" and not self._suspended(p, instant, True))}
        found = self.index.last_before(offset, wanted, self.tasks)
        nodes: dict[str, PastNode] = {}
        for path, (state, since, try_no) in self.current.items():
            change = found.get(path)
            if change is not None:
                nodes[path] = PastNode(path, change[1], change[0], change[2], change[3])
            elif path in wanted and not (state == "suspended" and since is not None
                                         and since <= recent):
                # it changed after the instant, never before in the log
                nodes[path] = PastNode(path, BEFORE_THE_LOG, None)
            else:
                nodes[path] = PastNode(path, state, since, try_no)
        return nodes

    def _suspension(self, node: PastNode, instant: datetime) -> PastNode:
        if node.state == BEFORE_THE_LOG:
            return node
        now = self.current.get(node.path, ("", None, 0))[0] == "suspended"
        if self._suspended(node.path, instant, now):
            return PastNode(node.path, "suspended", node.since, node.try_no, node.reason)
        if node.state == "suspended":  # suspended since, by a command: what it was
            return PastNode(node.path, BEFORE_THE_LOG, None)  # under it, not told
        return node

    # -- from every change -----------------------------------------------------------------
    def _node_from_index(self, path: str, instant: datetime) -> PastNode:
        times = self._times.get(path, [])
        index = bisect.bisect_right(times, instant)
        state, since, try_now = self.current.get(path, ("unknown", None, 0))
        if index:
            moment, was, try_no, reason = self.changes[path][index - 1]
            found = PastNode(path, was, moment, try_no, reason)
        elif times or (since is not None and since > instant and state != "suspended"):
            return PastNode(path, BEFORE_THE_LOG, None)
        else:
            found = PastNode(path, state, since, try_now)
        return self._suspension(found, instant)

    def _suspended(self, path: str, instant: datetime, now: bool) -> bool:
        """Whether ``path`` was suspended at ``instant``: its last suspend or resume
        command before it; none, and suspended now with none after: since the start."""
        commands = self.suspensions.get(path, [])
        before = [on for moment, on in commands if moment <= instant]
        if before:
            return before[-1]
        return now and not commands

    def diff(self, before: datetime | str, after: datetime | str) -> HistoryDiff:
        """What changed from ``before`` to ``after``."""
        first, second = self.at(before), self.at(after)
        changed = tuple((p, first.nodes[p].state, n.state) for p, n in sorted(second.nodes.items())
                        if p in first.nodes and first.nodes[p].state != n.state)
        def went(states: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(p for p, _was, now in changed if now in states)
        waiting = tuple(sorted(p for p, n in second.nodes.items() if n.state == "queued"
                               and first.nodes.get(p, n).state == "queued"))
        return HistoryDiff(first.instant, second.instant, went(("aborted",)),
                           went(("submitted", "active")), went(("complete",)), waiting,
                           changed)


def as_instant(when: datetime | str) -> datetime:
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("T", " "))
        except ValueError:
            raise ValueError(f"bad instant {when!r}: give 'YYYY-MM-DD HH:MM[:SS]' (UTC) "
                             "or a datetime") from None
    if not isinstance(when, datetime):
        raise TypeError(f"an instant is a datetime or 'YYYY-MM-DD HH:MM', not {when!r}")
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else \
        when.astimezone(timezone.utc)


#: A user's suspend or resume command in the log: ``--suspend /s/f :user``,
#: ``--resume=/s/f /s/g :user`` (the paths, then the user).
_SUSPENSION = re.compile(r"^--(suspend|resume)[= ](.*?)(?:\s+:\S+.*)?$")


def read_changes(lines: Iterable[bytes], clock: LogClock,
                 suspensions: dict[str, list[tuple[datetime, bool]]] | None = None
                 ) -> dict[str, list[tuple[datetime, str, int, str]]]:
    """Every node's state changes in ``lines`` (UTC, in order), with the try of a task
    (submissions since its last requeue; an abort line's try-no wins); the suspend and
    resume commands go to ``suspensions`` when given."""
    changes: dict[str, list[tuple[datetime, str, int, str]]] = {}
    tries: dict[str, int] = {}
    for raw in lines:
        if suspensions is not None and raw.startswith(b"MSG:") and (
                b"--suspend" in raw or b"--resume" in raw):
            line = parse_line(raw)
            found = _SUSPENSION.match(line.text.strip()) if line else None
            if line is not None and found is not None:
                for path in found.group(2).split():
                    if path.startswith("/"):
                        suspensions.setdefault(path.rstrip("/") or "/", []).append(
                            (clock.to_utc(line.local), found.group(1) == "suspend"))
            continue
        if not raw.startswith(b"LOG:"):
            continue
        change = state_change(raw)
        if change is None:
            continue
        path = change.path
        if change.state == "submitted" and change.job_size is not None:
            tries[path] = tries.get(path, 0) + 1
        elif change.state == "queued":
            tries[path] = 0
        if change.try_no is not None:
            tries[path] = change.try_no
        changes.setdefault(path, []).append(
            (clock.to_utc(change.local), change.state, tries.get(path, 0), change.reason))
    return changes


def history(server: Server, log_file: str | os.PathLike | None = None,
            max_lines: int = 100_000, tz: Any = None) -> History:
    """The history of ``server``'s nodes from its log: ``log_file``, else its ECF_LOG
    when readable here (read by position, never whole unless ``changes`` is asked
    for), else its last ``max_lines`` lines (``--log=get``). ``tz``: the log's zone
    when ecfnb should not detect it (``Server.log_clock``)."""
    clock = LogClock.of(tz) or server.log_clock()
    name = log_file or server.log_file()
    if name is None:
        index = LogIndex(server.log_tail(max_lines), clock,
                         f"{server.address} (last {max_lines} log lines)")
    else:
        index = LogIndex.open(name, clock)
    server.sync()
    rows = server.rows("/")  # (not ``table``: it reads every node's marks, ~40 µs each)
    current = {row.path: (row.state, parse_time(row.since) if row.since else None,
                          row.try_no) for row in rows}
    root = server.summary("/")  # the server's own row: the log has its lines too
    current["/"] = (root.state, root.since, 0)
    return History(index, current, index.source, clock,
                   {row.path for row in rows if row.kind in ("task", "alias")})
