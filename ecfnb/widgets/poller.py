"""The explorer's polling side: what changed among the nodes a notebook tree shows.

``TreeFollower`` is plain logic over a Server. The notebook tells it which node labels
are on screen (``shown``), which nodes are open and how many children each shows
(``opened``), and the current filter; after each sync it answers only with what
differs from what it last sent. An idle poll is one ``news`` request and sends
nothing; a poll with news re-reads the shown nodes (at most ~1,500, ~25 µs each),
never the whole tree, except to re-evaluate an active filter.

``main`` runs it in its own process (``python -m ecfnb.widgets.poller``; see
``ecfnb.child`` for why), reading commands from stdin and writing JSON lines;
``follow_forked`` runs the same loop in a child forked from the kernel, on the kernel's
synced tree (one copy of a big tree, shared, instead of two).
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import datetime, timezone
from typing import Any

from .._base.child import Backoff, emit, run_main, wait_input
from .._server.nodes import NodeInfo, info_to_json
from .._server.server import Server
from ..errors import EcfnbError, NodeNotFound, ServerUnreachable
from .poller_messages import (
    Children,
    Command,
    Done,
    Matches,
    Message,
    NodeChanged,
    NodeGone,
    Status,
    to_json,
)


class TreeFollower:
    """Turns syncs into the messages a tree needs (``poller_messages``): NodeChanged,
    NodeGone, Children (an open node's first children or their count changed) and
    Matches (the filter's hits changed)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.shown: set[str] = {"/"}
        self.opened: dict[str, int] = {}
        self.query: dict[str, Any] | None = None
        self._sent: dict[str, dict[str, Any]] = {}  # path -> what was sent, comparable
        self._sent_children: dict[str, tuple] = {}
        self._sent_matches: tuple | None = None

    def command(self, command: Command) -> list[Message]:
        """Apply the notebook's command; returns the current state of what it added."""
        if command.shown is not None:
            self.shown = set(command.shown) | {"/"}
            self._sent = {p: m for p, m in self._sent.items() if p in self.shown}
        if command.opened is not None:
            self.opened = dict(command.opened)
            self._sent_children = {p: c for p, c in self._sent_children.items()
                                   if p in self.opened}
        if command.filter is not None or command.clear_filter:
            self.query = command.filter or None
            self._sent_matches = None
        return self.changes(recheck=False)

    def poll(self) -> list[Message]:
        """One sync; the messages for what changed (none when the server had no news)."""
        result = self.server.sync()
        return self.changes(recheck=result.news)

    def changes(self, recheck: bool) -> list[Message]:
        """Messages for shown nodes not sent yet, or (``recheck``) that differ from what
        was sent."""
        out: list[Message] = []
        if self.query is not None and (recheck or self._sent_matches is None):
            out.extend(self._matches())
        for path in sorted(self.opened):
            if recheck or path not in self._sent_children:
                out.extend(self._children(path))
        for path in sorted(self.shown):
            if recheck or path not in self._sent:
                out.extend(self._node(path))
        return out

    def _node(self, path: str) -> list[Message]:
        try:
            info = self.server.summary(path, marks=True)
        except NodeNotFound:
            self.shown.discard(path)
            self._sent.pop(path, None)
            return [NodeGone(path)]
        return self._if_new(info)

    def _if_new(self, info: NodeInfo) -> list[Message]:
        data = info_to_json(info)
        if info.path == "/":
            data["since"] = None  # the root's time is the last sync: not a change
        if self._sent.get(info.path) == data:
            return []
        self._sent[info.path] = data
        return [NodeChanged(info)]

    def _children(self, path: str) -> list[Message]:
        try:
            total = self.server.child_count(path)
            infos = self.server.children(path, marks=True, stop=self.opened[path])
        except NodeNotFound:
            self.opened.pop(path, None)
            return []  # its parent's listing or a 'gone' tells the notebook
        data = [info_to_json(info) for info in infos]
        key = (total, tuple(d["path"] for d in data))
        if self._sent_children.get(path) == key:
            return []  # same children: their labels go as 'node' messages if changed
        self._sent_children[path] = key
        for info, item in zip(infos, data, strict=True):
            self._sent[info.path] = item
        return [Children(path, total, tuple(infos))]

    def _matches(self) -> list[Message]:
        query = self.query or {}
        hits, total = self.server.find(frozenset(query.get("states", ())),
                                       query.get("text", ""), int(query.get("limit", 500)))
        key = (query.get("id"), total, tuple(hits))
        if key == self._sent_matches:
            return []
        self._sent_matches = key
        wanted: list[str] = []
        seen: set[str] = set()
        for hit in hits:  # ancestors first, each once, in tree order
            parts = hit.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                path = "/" + "/".join(parts[:depth])
                if path not in seen:
                    seen.add(path)
                    wanted.append(path)
        infos = []
        for path in wanted:
            info = self.server.summary(path, marks=True)
            self._sent[path] = info_to_json(info)
            infos.append(info)
        return [Matches(query.get("id"), total, tuple(hits), tuple(infos))]


# -- the polling process --------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _status(state: str, server: Server, message: str = "", requests: int = 0) -> None:
    emit(to_json(Status(state, _now(), message, requests)))


def run(args: argparse.Namespace) -> int:
    return follow(Server(args.address, timeout=args.timeout), args.interval, args.parent_pid)


def follow_forked(server: Server, interval: float, parent_pid: int) -> int:
    """The loop in a child forked from the kernel (``ServerView.start_poller``): the
    kernel's synced ``server``, shared copy-on-write, instead of a copy of its own (its
    locks are new in the child: ``ForkSafeLock``)."""
    return follow(server, interval, parent_pid)


def follow(server: Server, interval: float, parent_pid: int | None) -> int:
    """Poll ``server`` every ``interval`` s and answer the commands on stdin, until the
    parent (``parent_pid``) goes or closes stdin."""
    follower = TreeFollower(server)
    # A tree someone looks at retries a dead server at least every 10 s (or its
    # interval): the operator waits for it to come back, and a refused connection costs
    # the server nothing.
    paused = False
    backoff = Backoff(min(1.0, interval), max(interval, 10.0))
    next_poll = time.monotonic()  # at once
    while True:
        lines = wait_input(max(0.0, next_poll - time.monotonic()), parent_pid,
                           commands=True)
        if lines is None:
            return 0
        commands = [Command.from_json(line) for line in lines]
        now = time.monotonic()
        done = [c.seq for c in commands if c.seq is not None]
        for command in commands:
            if command.interval is not None:
                interval = max(0.1, float(command.interval))
                next_poll = min(next_poll, now + interval)
            if command.paused is not None:
                paused = command.paused
                next_poll = math.inf if paused else now
            if command.poll:
                next_poll = now
        out: list[Message] = []
        started = time.monotonic()
        try:
            for command in commands:
                out.extend(follower.command(command))
            if now >= next_poll:
                before = server.requests
                out.extend(follower.poll())
                _status("paused" if paused else "connected", server,
                        requests=server.requests - before)
                backoff.succeeded()
                next_poll = math.inf if paused else now + interval
        except ServerUnreachable as exc:
            _status("disconnected", server, str(exc))
            next_poll = now + backoff.failed(time.monotonic() - started)
        except EcfnbError as exc:
            _status("error", server, str(exc))
            next_poll = now + interval
        except Exception as exc:  # noqa: BLE001 - a bug here must not end the refresh
            _status("error", server, f"{type(exc).__name__}: {exc} (starting again from a "
                                     "full sync)")
            server.reset()
            next_poll = now + interval
        for message in out:
            emit(to_json(message))
        for seq in done:
            emit(to_json(Done(seq)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecfnb.widgets.poller")
    parser.add_argument("address")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--parent-pid", type=int)
    return run_main(parser, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
