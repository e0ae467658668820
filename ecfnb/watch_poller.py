"""The abort watcher's polling side: transitions into 'aborted', late nodes, zombies.

``AbortDetector`` is plain logic over a Server and a FileSystemMap. ``main`` runs it in
its own process (``python -m ecfnb.watch_poller``) and writes one JSON line per status
change or event: the ecflow binding holds the GIL while it waits for a server, so a
notebook kernel polling a hung server itself would freeze for the connection timeout
at every poll; in a child process only the child waits.

An idle poll is one ``news`` request. An abort is identified by (path, try number,
state-change time), so it is reported once even when seen again after a reconnect or a
server restart, and a task that aborts, is requeued and aborts again is reported twice.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from .child import emit, run_main, wait_input
from .errors import EcfnbError, NodeNotFound, ServerUnreachable
from .fsmap import FileSystemMap
from .nodes import NodeInfo
from .server import Server
from .watch_events import AbortEvent, Event, LateEvent, to_json

TASK_KINDS = ("task", "alias")


class AbortDetector:
    """Turns successive syncs into events. ``poll()`` syncs once and returns what is new."""

    def __init__(self, server: Server, paths: Iterable[str] | None = None,
                 include_existing: bool = False, lines: int = 50,
                 active_threshold: float | None = None, zombies: bool = False) -> None:
        self.server = server
        self.fsmap = FileSystemMap(server)
        self.paths = [p.rstrip("/") or "/" for p in (paths or ["/"])]
        self.include_existing = include_existing
        self.lines = lines
        self.active_threshold = active_threshold
        self.zombies = zombies
        self.reported: set[tuple] = set()
        self.active: dict[str, datetime] = {}
        # Last state seen per task: a task seen out of 'aborted' and back is a new abort
        # even when its state-change time did not move (a halted server's suite clock).
        self.last_state: dict[str, str] = {}
        self._first = True

    def watched(self, path: str) -> bool:
        return any(p == "/" or path == p or path.startswith(p + "/") for p in self.paths)

    def poll(self) -> list[Event]:
        result = self.server.sync()
        if result.full:
            infos = list(self._walk())
            self.active = {}
        else:
            infos = [info for info in map(self._summary, sorted(result.changed))
                     if info is not None]
        silent = self._first and not self.include_existing
        self._first = False
        events: list[Event] = []
        for info in infos:
            events.extend(self._look_at(info, silent))
        events.extend(self._overdue())
        if self.zombies:
            events.extend(self._new_zombies(silent))
        return events

    def _summary(self, path: str) -> NodeInfo | None:
        if path == "/" or not self.watched(path):
            return None
        try:
            return self.server.summary(path)
        except NodeNotFound:  # deleted since
            self.active.pop(path, None)
            return None

    def _walk(self) -> Iterable[NodeInfo]:
        stack = ["/"]
        while stack:
            for child in self.server.children(stack.pop()):
                if child.kind in TASK_KINDS:
                    if self.watched(child.path):
                        yield child
                if child.has_children and (self.watched(child.path) or any(
                        p.startswith(child.path + "/") for p in self.paths)):
                    stack.append(child.path)

    def _look_at(self, info: NodeInfo, silent: bool) -> list[Event]:
        if info.kind not in TASK_KINDS:
            return []
        events: list[Event] = []
        if info.state == "active" and info.since:
            self.active[info.path] = info.since
        else:
            self.active.pop(info.path, None)
        previous = self.last_state.get(info.path)
        self.last_state[info.path] = info.state
        if info.state == "aborted" and info.since:
            key = (info.path, info.try_no, info.since.isoformat())
            if key not in self.reported or previous not in (None, "aborted"):
                self.reported.add(key)
                if not silent:
                    events.append(self._abort(info))
        if info.state in ("active", "submitted") and "late" in self.server.flags(info.path):
            events.extend(self._once(LateEvent(self.server.address, info.path, _now(),
                                               "late: flagged late by the server")))
        return events

    def _abort(self, info: NodeInfo) -> AbortEvent:
        try:
            tail = self.fsmap.tail(self.fsmap.path_of(info.path, "jobout"), self.lines)
            text = tail.decode("utf-8", errors="replace")
        except EcfnbError as exc:
            text = f"(output not available: {exc})"
        return AbortEvent(self.server.address, info.path, info.since or _now(), info.try_no,
                          info.aborted_reason, text)

    def _once(self, event: LateEvent) -> list[Event]:
        key = (event.path, event.why.split(":")[0])
        if key in self.reported:
            return []
        self.reported.add(key)
        return [event]

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
        text = self.server.client_text("--zombie_get").decode(errors="replace")
        events: list[Event] = []
        for line in text.splitlines():
            parts = line.split()
            path = next((p for p in parts if p.startswith("/")), None)
            if path and self.watched(path):
                key = (path, "zombie", line.strip())
                if key not in self.reported:
                    self.reported.add(key)
                    if not silent:
                        events.append(LateEvent(self.server.address, path, _now(),
                                                f"zombie: {line.strip()}"))
        return events


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- the polling process --------------------------------------------------------------

def _status(state: str, server: Server, message: str = "", requests: int = 0) -> None:
    emit({"type": "status", "state": state, "time": _now().isoformat(), "message": message,
           "requests": requests, "total_requests": server.requests})


def run(args: argparse.Namespace) -> int:
    server = Server(args.address)
    detector = AbortDetector(server, args.paths, args.include_existing, args.lines,
                             args.active_threshold, args.zombies)
    delay = args.interval
    while True:
        before = server.requests
        try:
            events = detector.poll()
        except ServerUnreachable as exc:
            _status("disconnected", server, str(exc))
            delay = min(delay * 2, max(60.0, args.interval))  # back off, keep trying
        else:
            _status("connected", server, requests=server.requests - before)
            for event in events:
                emit({"type": "event", **to_json(event)})
            delay = args.interval
        if args.once:
            return 0
        if wait_input(delay, args.parent_pid) is None:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecfnb.watch_poller")
    parser.add_argument("address")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--include-existing", action="store_true")
    parser.add_argument("--active-threshold", type=float)
    parser.add_argument("--zombies", action="store_true")
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--parent-pid", type=int)
    return run_main(parser, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
