"""The abort watcher's polling side: aborts, late flags, overdue tasks, zombies.

``AbortDetector`` is plain logic over a Server and a FileSystemMap. ``main`` runs it in
its own process (``python -m ecfnb._watch.poller``) and writes one JSON line per status
change or event: the ecflow binding holds the GIL while it waits for a server, so a
notebook kernel polling a hung server itself would freeze for the connection timeout
at every poll; in a child process only the child waits.

What "every abort, each once" takes (each point was a way to lose or repeat one):
- the baseline is the moment the watcher started: it writes a marker line into the
  server log (``--msg``), and an abort logged after that line is new, one before it
  existing (reported only with ``include_existing``); the polling process takes a
  second to start, and an abort in that second used to be lost. Without the marker,
  a state change at or after the start time (on the server's clock) is new;
- an abort is identified by (path, try number, state-change time), so it is reported
  once even when seen again after a reconnect or a server restart, and a task that
  aborts, is requeued and aborts again is reported twice;
- an abort retried by the server (ECF_TRIES) before the next poll leaves no aborted
  state to see: when a task's try number moved on, or it ran again, since the last
  poll, the server log says which tries aborted and why (``_serverlog``);
- a zombie is one event (its identity is path, type, password, pid and try; its age
  changes at every poll); a late flag is one event each time the server sets it;
- a deadline given for a node is checked against its completion forecast
  (``_map/forecast``) every ``forecast_every`` seconds: one event when the forecast
  goes from on time to 'at risk' or 'late' (or from at risk to late), before the
  server flags anything.
An idle poll is one ``news`` request (and, with deadlines, a forecast now and then).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from .._base import serverlog as _serverlog
from .._base.child import Backoff, emit, run_main, wait_input
from .._base.states import TASK_KINDS
from .._map.forecast import forecast
from .._map.fsmap import FileSystemMap
from .._server.nodes import NodeInfo
from .._server.server import Server
from ..errors import EcfnbError, NodeNotFound, ServerUnreachable
from . import events as _events
from .events import AbortEvent, Event, LateEvent, WatchOptions, ZombieEvent, to_json

RUNNING = ("submitted", "active")
#: Log lines read to find the tries that aborted between two polls.
RETRY_LOG_LINES = 5000


class Seen(NamedTuple):
    """What a poll saw of a task: enough to tell that it ran again since."""

    state: str
    try_no: int
    since: datetime | None


class AbortDetector:
    """Turns successive syncs into events. ``poll()`` syncs once and returns what is new."""

    def __init__(self, server: Server, options: WatchOptions | None = None,
                 since: datetime | None = None, marker: str = "") -> None:
        self.server = server
        self.fsmap = FileSystemMap(server)
        options = options or WatchOptions()
        self.paths = [p.rstrip("/") or "/" for p in (options.paths or ("/",))]
        self.include_existing = options.include_existing
        self.lines = options.lines
        self.active_threshold = options.active_threshold
        self.zombies = options.zombies
        self.deadlines = [(path, datetime.fromisoformat(moment))
                          for path, moment in options.deadlines]
        self.forecast_every = options.forecast_every
        self._forecast_at = 0.0  # time.monotonic() of the last forecasts
        self.verdicts: dict[tuple[str, datetime], str] = {}  # the last verdict of each
        #: When the watcher started: a line containing ``marker`` that it wrote into the
        #: server log, else ``since`` (this machine's clock). Later aborts are new.
        self.since = since
        self.marker = marker
        self._new_at_start: set[tuple[str, int]] | None = None
        self.reported: set[tuple] = set()
        self.active: dict[str, datetime] = {}
        # Last state seen per task: a task seen out of 'aborted' and back is a new abort
        # even when its state-change time did not move (a halted server's suite clock).
        self.seen: dict[str, Seen] = {}
        self.late: set[str] = set()  # nodes seen flagged late
        # Tries of each task reported since its tries last started again (a requeue):
        # the log's stamp of an abort can be a second off the node's own time.
        self.tries_reported: dict[str, set[int]] = {}
        self.missing: list[str] = []  # watched paths that are not on the server
        self._first = True
        self._baseline: datetime | None = None

    def watched(self, path: str) -> bool:
        return any(p == "/" or path == p or path.startswith(p + "/") for p in self.paths)

    def poll(self) -> list[Event]:
        result = self.server.sync()
        if result.full:
            infos = list(self._walk())
            self.active = {}
            self.missing = [p for p in self.paths if p != "/" and not self._exists(p)]
        else:
            infos = [info for info in map(self._summary, sorted(result.changed))
                     if info is not None]
        first, self._first = self._first, False
        silent = first and not self.include_existing
        events: list[Event] = []
        if silent and (self.marker or self.since is not None):
            events.extend(self._since_start(infos))
        for info in infos:
            events.extend(self._look_at(info, silent))
        self._new_at_start = None
        events.extend(self._overdue())
        if self.zombies:
            events.extend(self._new_zombies(silent))
        events.extend(self._forecasts())
        return events

    def _forecasts(self) -> list[Event]:
        """A ForecastEvent for each deadline the forecast has just crossed."""
        import time

        if not self.deadlines or time.monotonic() - self._forecast_at < self.forecast_every:
            return []
        self._forecast_at = time.monotonic()
        rank = {"": 0, "on time": 0, "at risk": 1, "late": 2}
        events: list[Event] = []
        for path, deadline in self.deadlines:
            try:
                found = forecast(self.server, path, deadline)
            except (EcfnbError, KeyError, ValueError):  # gone, or unreadable now: next time
                continue
            verdict, why = found.verdict, found.summary()
            before = self.verdicts.get((path, deadline), "on time")
            self.verdicts[(path, deadline)] = verdict
            if rank.get(verdict, 0) > rank.get(before, 0):
                def iso(moment: datetime | None) -> str:
                    return moment.isoformat() if moment else ""
                events.append(_events.ForecastEvent(
                    self.server.address, path, _now(), why, verdict, deadline.isoformat(),
                    iso(found.earliest), iso(found.expected), iso(found.latest)))
        return events

    def _exists(self, path: str) -> bool:
        try:
            self.server.summary(path)
        except NodeNotFound:
            return False
        return True

    def _summary(self, path: str) -> NodeInfo | None:
        if path == "/" or not self.watched(path):
            return None
        try:
            return self.server.summary(path)
        except NodeNotFound:  # deleted since
            self.active.pop(path, None)
            self.seen.pop(path, None)
            return None

    def _walk(self) -> Iterable[NodeInfo]:
        """Every watched node (tasks for aborts, any node for late flags)."""
        stack = ["/"]
        while stack:
            for child in self.server.children(stack.pop()):
                if self.watched(child.path):
                    yield child
                if child.has_children and (self.watched(child.path) or any(
                        p.startswith(child.path + "/") for p in self.paths)):
                    stack.append(child.path)

    def _look_at(self, info: NodeInfo, silent: bool) -> list[Event]:
        events = self._late(info, silent)
        if info.kind not in TASK_KINDS:
            return events
        if info.state == "active" and info.since:
            self.active[info.path] = info.since
        else:
            self.active.pop(info.path, None)
        previous = self.seen.get(info.path)
        self.seen[info.path] = Seen(info.state, info.try_no, info.since)
        tries = self.tries_reported.setdefault(info.path, set())
        if tries and info.try_no < max(tries):
            tries.clear()  # requeued: its tries count from 1 again
        if previous is not None and _ran_again(previous, info):
            events.extend(self._retried(info, previous))
        if info.state == "aborted" and info.since:
            key = (info.path, info.try_no, info.since.isoformat())
            if key not in self.reported or (previous is not None and
                                            previous.state != "aborted"):
                self.reported.add(key)
                tries.add(info.try_no)
                if not silent or self._after_baseline(info):
                    events.append(self._abort(info.path, info.try_no, info.since,
                                              info.aborted_reason, current=True))
        return events

    def _since_start(self, infos: list[NodeInfo]) -> list[Event]:
        """At the first poll: which aborts happened after the watcher started. The log
        after the watcher's marker line says so exactly (and shows aborts that were
        retried before this poll: those are reported here); without the marker, a
        state change at or after the start time (on the server's clock) is new."""
        try:
            logged = self._logged_since_marker() if self.marker else None
        except EcfnbError:
            logged = None
        if logged is None:
            if self.since is not None:
                self._baseline = self.since + self.server.clock_skew()
            return []
        self._new_at_start = {(path, try_no) for path, try_no, _when, _reason in logged}
        current = {(i.path, i.try_no) for i in infos if i.kind in TASK_KINDS
                   and i.state == "aborted"}
        events: list[Event] = []
        for path, try_no, when, reason in logged:
            if (path, try_no) in current or not self.watched(path):
                continue  # the current abort: _look_at reports it
            self.tries_reported.setdefault(path, set()).add(try_no)
            events.append(self._abort(path, try_no, when, reason, current=False))
        return events

    def _logged_since_marker(self) -> list[tuple[str, int, datetime, str]] | None:
        """Task aborts logged after the marker line, or None when it is not there."""
        lines = self.server.log_tail(RETRY_LOG_LINES).splitlines(keepends=True)
        at = next((i for i in range(len(lines) - 1, -1, -1)
                   if self.marker.encode() in lines[i]), None)
        if at is None:
            return None
        clock = self.server.log_clock()
        found = []
        for raw in lines[at + 1:]:
            change = _serverlog.state_change(raw)
            if change is not None and change.state == "aborted" and change.try_no is not None:
                found.append((change.path, change.try_no, clock.to_utc(change.local),
                              change.reason))
        return found

    def _after_baseline(self, info: NodeInfo) -> bool:
        """An abort found by the first poll happened after the watcher started."""
        if self._new_at_start is not None:
            return (info.path, info.try_no) in self._new_at_start
        return (self._baseline is not None and info.since is not None
                and info.since >= self._baseline.replace(microsecond=0))

    def _late(self, info: NodeInfo, silent: bool) -> list[Event]:
        """One event each time the server flags a node late (a flag seen again after a
        requeue cleared it is a new one)."""
        if "late" not in info.flags:
            self.late.discard(info.path)
            return []
        if info.path in self.late:
            return []
        self.late.add(info.path)
        if silent:
            return []
        return [LateEvent(self.server.address, info.path, _now(),
                          f"late: flagged late by the server ({info.state})")]

    def _retried(self, info: NodeInfo, previous: Seen) -> list[Event]:
        """The aborts of ``info``'s task between two polls that a retry or a rerun hid:
        from the server log (with their reasons), else from the try numbers."""
        try:
            found = self._logged_aborts(info, previous)
        except EcfnbError:  # no log: trust the try numbers (a retry follows an abort)
            first = previous.try_no + 1 if previous.state == "aborted" else previous.try_no
            found = [(t, previous.since or info.since or _now(),
                      "(retried before a poll saw it; not in the server log)")
                     for t in range(max(first, 1), info.try_no)]
        events: list[Event] = []
        tries = self.tries_reported.setdefault(info.path, set())
        for try_no, when, reason in found:
            key = (info.path, try_no, when.isoformat(), "log")
            if key in self.reported or try_no in tries:
                continue
            self.reported.add(key)
            tries.add(try_no)
            events.append(self._abort(info.path, try_no, when, reason, current=False))
        return events

    def _logged_aborts(self, info: NodeInfo, previous: Seen
                       ) -> list[tuple[int, datetime, str]]:
        """Task aborts in the log after the previous poll's view: not the one that view
        showed (at its ``since``), nor the current one (the caller reports it)."""
        clock = self.server.log_clock()
        after = clock.to_local(previous.since) if previous.since else datetime.min
        current = clock.to_local(info.since) if info.state == "aborted" and info.since \
            else None
        found: list[tuple[int, datetime, str]] = []
        for raw in self.server.log_tail(RETRY_LOG_LINES).splitlines(keepends=True):
            change = _serverlog.state_change(raw)
            if (change is None or change.state != "aborted" or change.path != info.path
                    or change.try_no is None):
                continue
            if change.local < after or (previous.state == "aborted" and change.local == after):
                continue
            if current is not None and change.try_no == info.try_no and change.local >= current:
                continue
            found.append((change.try_no, clock.to_utc(change.local), change.reason))
        return found

    def _abort(self, path: str, try_no: int, when: datetime, reason: str,
               current: bool) -> AbortEvent:
        """The event, with the output of *that* try (``C.out.N`` for an earlier one)."""
        where = self.fsmap.path_of(path, "jobout", None if current else try_no)
        try:
            tail = self.fsmap.tail(where, self.lines)
            text = tail.decode("utf-8", errors="replace")
        except EcfnbError as exc:
            text = f"(output not available: {exc})"
        return AbortEvent(self.server.address, path, when, try_no, reason, text)

    def _overdue(self) -> list[Event]:
        if not self.active_threshold:
            return []
        limit = timedelta(seconds=self.active_threshold)
        events: list[Event] = []
        for path, since in self.active.items():
            if _now() - since > limit:
                key = (path, "overdue", since.isoformat())
                if key not in self.reported:
                    self.reported.add(key)
                    minutes = (_now() - since).total_seconds() / 60
                    events.append(LateEvent(self.server.address, path, _now(),
                                            f"overdue: active for {minutes:.0f} min"))
        return events

    def _new_zombies(self, silent: bool) -> list[Event]:
        events: list[Event] = []
        for zombie in self.server.zombies():
            if not self.watched(zombie.path):
                continue
            key = ("zombie", *zombie.key)
            if key in self.reported:
                continue
            self.reported.add(key)
            if not silent:
                events.append(ZombieEvent(self.server.address, zombie.path, _now(),
                                          zombie.type, zombie.try_no, zombie.pid,
                                          zombie.explanation))
        return events


def _ran_again(previous: Seen, info: NodeInfo) -> bool:
    """Whether the task may have aborted without a poll seeing it: its try number moved
    on, or it was running and its state changed to running or queued again."""
    if info.try_no > previous.try_no:
        return True
    return (previous.state in RUNNING and info.state in (*RUNNING, "queued")
            and info.since != previous.since)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _status(state: str, server: Server, message: str = "", requests: int = 0) -> None:
    emit({"type": "status", "state": state, "time": _now().isoformat(), "message": message,
          "requests": requests, "total_requests": server.requests})


def run(args: argparse.Namespace) -> int:
    server = Server(args.address)
    since = datetime.fromisoformat(args.since) if args.since else None
    if since is not None:
        since -= timedelta(seconds=args.margin)
    detector = AbortDetector(server, WatchOptions.parsed(args), since=since,
                             marker=args.marker or "")
    delay, backoff = args.interval, Backoff(args.interval, max(60.0, args.interval))
    while True:
        before, started = server.requests, time.monotonic()
        try:
            events = detector.poll()
        except ServerUnreachable as exc:
            _status("disconnected", server, str(exc))
            delay = backoff.failed(time.monotonic() - started)
        except EcfnbError as exc:  # anything else the server says: say so, keep watching
            _status("error", server, str(exc))
            delay = args.interval
        except Exception as exc:  # noqa: BLE001 - a bug here must not end the watch
            _status("error", server, f"{type(exc).__name__}: {exc} (starting again from "
                                     "a full sync)")
            server.reset()
            delay = args.interval
        else:
            missing = ", ".join(detector.missing)
            _status("connected", server, requests=server.requests - before,
                    message=f"not on the server (yet): {missing}" if missing else "")
            for event in events:
                emit({"type": "event", **to_json(event)})
            delay = args.interval
            backoff.succeeded()
        if args.once:
            return 0
        if wait_input(delay, args.parent_pid) is None:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecfnb._watch.poller")
    parser.add_argument("address")
    WatchOptions.add_arguments(parser)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--since", help="ISO time the watcher started (later aborts are new)")
    parser.add_argument("--margin", type=float, default=0.0,
                        help="also count as new what changed this many seconds before --since")
    parser.add_argument("--marker", help="the text of the log line the watcher wrote at start")
    parser.add_argument("--parent-pid", type=int)
    return run_main(parser, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
