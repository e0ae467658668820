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
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any, NamedTuple

from .._base.html import state_chip
from .._base.serverlog import LogClock, parse_line, state_change
from .._server.nodes import parse_time
from .._server.server import Server, normalise_path
from ..errors import EcfnbError, NodeNotFound
from .logindex import EVERY, Change, LogIndex, margin
from .logstore import LogStore

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
    #: path -> PastNode (read per node when the log's stretches are stored: what is
    #: looked at costs, not the whole tree; iterating it reads every node)
    nodes: Mapping[str, PastNode] = field(repr=False)

    def __getitem__(self, path: str) -> PastNode:
        return self.nodes[normalise_path(path)]

    def get(self, path: str) -> PastNode | None:
        return self.nodes.get(normalise_path(path))

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

    def __init__(self, index: LogIndex, current: Mapping[str, tuple[str, datetime | None, int]],
                 source: str, clock: LogClock, tasks: set[str] | _Tasks | None = None,
                 store: LogStore | None = None) -> None:
        self.index = index
        #: The task paths (tries are counted for them only; default: every node).
        self.tasks = set(current) if tasks is None else tasks
        #: Every node on the server now: (state, since, try).
        self.current = current
        #: The log's stretches stored between openings (``logstore``), when there are.
        self.store = store
        self._stored: _Stored | None = None
        self._checked = 0.0
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
            usable = self._usable()
            if usable:
                covered = self.store.records[usable - 1][1]  # type: ignore[union-attr]
                lines = [(self.clock.to_utc(naive), text) for naive, text
                         in self.store.commands(usable)]  # type: ignore[union-attr]
                lines += self.index.commands_between(covered, self.index.size)
            else:
                lines = self.index.commands(_SUSPENSION)
            for moment, text in lines:
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
        self._check()
        if self._changes is not None:
            return PastTree(instant, {p: self._node_from_index(p, instant)
                                      for p in set(self.current) | set(self._changes)})
        return PastTree(instant, self._quick(instant))

    def _check(self) -> None:
        """Refuse to read a log cleared or replaced under its mapping (asked at most
        every 0.2 s: the explorer asks once per row drawn)."""
        now = time.monotonic()
        if now - self._checked < 0.2:
            return
        self._checked = now
        if not self.index.intact():
            self._checked = 0.0
            raise EcfnbError(f"the server log {self.source} was cleared or replaced since "
                             "it was opened: open its history again (ecfnb.history(server); "
                             "in the explorer, the slider's reload)")

    def indexed(self, timeout: float = 0.0) -> bool:
        """Whether the log's stretches are stored (``logstore``), so that the tree at
        an instant reads a few MB of the log; waits up to ``timeout`` seconds for a pass
        this history started."""
        if self.store is None:
            return False
        if timeout and self.store.updating():
            self.store.wait(timeout)
        return bool(self._usable())

    def _usable(self) -> int:
        """How many stored stretches lie inside the log as mapped (0: none stored)."""
        store = self.store
        if store is None or not store.refresh():
            return 0
        return bisect.bisect_right([r[1] for r in store.records], self.index.size)

    def _from_store(self, instant: datetime, usable: int) -> _Stored:
        """The tree at ``instant`` from the first ``usable`` stored stretches: the
        stretch it falls in is read (≤ one stretch; a later instant in the same stretch
        reads only what lies between), every node looked up when asked for."""
        store = self.store
        assert store is not None
        offset = self.index.offset(instant)
        number = bisect.bisect_right(store.starts, offset, 0, usable) - 1
        if offset >= store.records[usable - 1][1]:  # after what is stored: read from its end
            number = usable
        start = store.records[number][0] if number < usable else store.records[usable - 1][1]
        last = self._stored
        if last is not None and last.number == number and last.offset <= offset:
            window, start = dict(last.window), last.offset
        else:
            window = {}
        def try_at(path: str) -> int:
            change = window.get(path) or store.before(number, path, self.clock)
            return change[2] if change is not None and change[1] != "queued" else 0
        window.update(self.index.newest_between(start, offset, try_at, EVERY))
        self._stored = _Stored(self, instant, number, offset, window)
        return self._stored

    def node(self, path: str, when: datetime | str) -> PastNode:
        path, instant = normalise_path(path), as_instant(when)
        self._check()
        if self._changes is not None:
            return self._node_from_index(path, instant)
        found = self._quick(instant).get(path)
        return found if found is not None else PastNode(path, "unknown", None)

    # -- the quick read: backwards from the instant ----------------------------------------
    def _quick(self, instant: datetime) -> Mapping[str, PastNode]:
        """Every node on the server at ``instant``, the log read by position; the last
        answer kept, and moved forward from when the next instant is later. Kept as
        the states the log gives; suspensions are laid over at the end (a node
        suspended and resumed between two instants keeps the state under them)."""
        stored = self._stored
        if stored is not None and stored.instant == instant:
            return stored  # (the explorer asks once per row drawn: nothing read again)
        usable = self._usable()
        if usable:
            return self._from_store(instant, usable)
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



class _Stored(Mapping[str, PastNode]):
    """The tree at ``instant`` read from the stored stretches: ``window`` is the newest
    change of each node in the stretch the instant falls in, up to it; a node not there
    is looked up in the stretches before, newest first, when it is asked for (the rows
    on screen), or all at once by set intersections when the whole tree is."""

    def __init__(self, history: History, instant: datetime, number: int, offset: int,
                 window: dict[str, Change]) -> None:
        self.history, self.instant, self.number, self.offset = history, instant, number, offset
        self.window = window
        self.recent = instant - margin()
        self._made: dict[str, PastNode] = {}
        self._all = False

    def __getitem__(self, path: str) -> PastNode:
        found = self._made.get(path)
        if found is None:
            state, since, try_no = self.history.current[path]  # KeyError: not a node now
            change = None
            if self._wanted(path, state, since):
                change = self.window.get(path)
                if change is None and self.history.store is not None:
                    change = self.history.store.before(self.number, path, self.history.clock)
            found = self._made[path] = self._node(path, state, since, try_no, change)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.history.current)

    def __len__(self) -> int:
        return len(self.history.current)

    def items(self):  # type: ignore[override]
        return self._everything().items()

    def values(self):  # type: ignore[override]
        return self._everything().values()

    def _everything(self) -> dict[str, PastNode]:
        """Every node (the stored stretches read once, for the nodes still wanted; the
        common cases inline: 100k nodes)."""
        if not self._all:
            history = self.history
            current = dict(history.current.items())
            recent, made, window = self.recent, self._made, self.window
            suspendable = set(history.suspensions)
            wanted = {p for p, (state, since, _t) in current.items()
                      if p not in made and ((since is not None and since > recent) or (
                          state == "suspended" and not history._suspended(
                              p, self.instant, True)))}
            need = [p for p in wanted if p not in window]
            found: dict[str, Change] = {}
            if history.store is not None and need:
                found = history.store.all_before(self.number, history.store.numbers(need),
                                                 history.clock)
            found.update((p, window[p]) for p in wanted.intersection(window))
            tasks = history.tasks
            everything: dict[str, PastNode] = {}
            for path, (state, since, try_no) in current.items():
                node = made.get(path)
                if node is None:
                    if state == "suspended" or path in suspendable:
                        node = self._node(path, state, since, try_no, found.get(path))
                    elif path not in wanted:
                        node = PastNode(path, state, since, try_no)
                    else:
                        change = found.get(path)
                        if change is None:
                            node = PastNode(path, BEFORE_THE_LOG, None)
                        else:
                            node = PastNode(path, change[1], change[0], change[2] if (
                                path in tasks or change[1] == "aborted") else 0, change[3])
                everything[path] = node
            self._made, self._all = everything, True
        return self._made

    def _wanted(self, path: str, state: str, since: datetime | None) -> bool:
        """Whether the log must say (the rule of ``History._fresh``)."""
        return (since is not None and since > self.recent) or (
            state == "suspended" and not self.history._suspended(path, self.instant, True))

    def _node(self, path: str, state: str, since: datetime | None, try_no: int,
              change: Change | None) -> PastNode:
        history = self.history
        if change is not None:
            tries = change[2] if path in history.tasks or change[1] == "aborted" else 0
            node = PastNode(path, change[1], change[0], tries, change[3])
        elif self._wanted(path, state, since) and not (
                state == "suspended" and since is not None and since <= self.recent):
            node = PastNode(path, BEFORE_THE_LOG, None)
        else:
            node = PastNode(path, state, since, try_no)
        if path in history.suspensions or state == "suspended":
            node = history._suspension(node, self.instant)
        return node


class _Now(Mapping[str, tuple[str, "datetime | None", int]]):
    """The server's nodes now, (state, since, try) each: read per node from the synced
    copy when asked (~25 µs; the rows on screen), every row at once when iterated."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._one: dict[str, tuple[str, datetime | None, int]] = {}
        self._kinds: dict[str, str] = {}
        self._rows: dict[str, tuple[str, datetime | None, int]] | None = None
        self.tasks = _Tasks(self)

    def __getitem__(self, path: str) -> tuple[str, datetime | None, int]:
        if self._rows is not None:
            return self._rows[path]
        found = self._one.get(path)
        if found is None:
            try:
                info = self.server.summary(path)
            except NodeNotFound:
                raise KeyError(path) from None
            found = self._one[path] = (info.state, info.since, 0 if path == "/" else info.try_no)
            self._kinds[path] = "server" if path == "/" else info.kind
        return found

    def rows(self) -> dict[str, tuple[str, datetime | None, int]]:
        if self._rows is None:
            rows = self.server.rows("/")  # (not ``table``: it reads every node's marks)
            times: dict[str, datetime | None] = {"": None}  # nodes share their seconds
            found = {}
            for row in rows:
                since = times.get(row.since, False)
                if since is False:
                    since = times[row.since] = parse_time(row.since)
                found[row.path] = (row.state, since, row.try_no)
            root = self.server.summary("/")  # the server's own row: the log has its lines
            found["/"] = (root.state, root.since, 0)
            self._kinds.update((row.path, row.kind) for row in rows)
            self._rows = found
        return self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows())

    def __len__(self) -> int:
        return len(self.rows())

    def items(self):  # type: ignore[override]
        return self.rows().items()

    def kind(self, path: str) -> str:
        found = self._kinds.get(path)
        if found is None:
            if path not in self:
                return ""
            found = self._kinds.get(path, "")
        return found


class _Tasks:
    """Which of the server's nodes are tasks (tries are counted for them), asked of
    ``_Now`` node by node."""

    def __init__(self, now: _Now) -> None:
        self.now = now

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.now.kind(path) in ("task", "alias")


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
    for; its stretches stored for the next openings by a child started here:
    ``logstore``), else its last ``max_lines`` lines (``--log=get``). ``tz``: the log's
    zone when ecfnb should not detect it (``Server.log_clock``). The server's nodes
    are read when first needed, one by one for the rows looked at."""
    clock = LogClock.of(tz) or server.log_clock()
    name = log_file or server.log_file()
    store = None
    if name is None:
        index = LogIndex(server.log_tail(max_lines), clock,
                         f"{server.address} (last {max_lines} log lines)")
    else:
        store = LogStore.open(name)
        index = LogIndex.open(name, clock, grep=not store.refresh())
        if store.wanted():  # stretches to store: in a child, for the next instants
            store.update_in_background()
    server.sync()
    now = _Now(server)
    return History(index, now, index.source, clock, now.tasks, store)
