"""``AbortWatcher``: be told when a task aborts, with its output, without freezing the kernel.

The polling runs in a child process (``ecfnb._watch.poller``), which reports JSON lines;
a reader thread here turns them into events, keeps the history and calls callbacks.
A cell therefore stays responsive while the server is dead or hung. Stopping the
watcher, or the kernel's exit, ends the child (it also ends by itself when its parent
is gone); nothing is left running.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from .._base.child import JsonLinesChild, safely, stop_all
from .._server.connection import Connection
from .._server.server import Server
from .events import (
    AbortEvent,
    Event,
    LateEvent,
    WatcherEvent,
    WatchOptions,
    event_key,
    from_json,
)

__all__ = ["AbortEvent", "AbortWatcher", "LateEvent"]

#: A polling process that ends by itself is started again, up to this many times in
#: this many seconds; then the watcher says loudly that it stopped.
MAX_RESTARTS = 5
RESTART_WINDOW = 600.0
#: A restarted poller counts as new what changed up to this long before the last poll
#: (node times are the suite calendar's, up to a minute behind).
RESTART_MARGIN = 90.0


class AbortWatcher:
    """Watch ``paths`` (default: the whole server) of one server for aborts.

    ``on_abort(event)`` is called for every AbortEvent, ``on_event(event)`` for every
    event (aborts and LateEvents), in a background thread; their errors are logged
    and do not stop the watcher. ``events`` is the history, oldest first.
    ``active_threshold`` (seconds) reports tasks active for longer than that (a killed
    batch job can stay 'active' forever); ``zombies`` reports new zombies.
    ``deadlines`` ({path: deadline}, UTC: a datetime, 'YYYY-MM-DD HH:MM' or 'HH:MM'
    for the next one) forecasts each node's completion every ``forecast_every``
    seconds and reports a ``ForecastEvent`` when the forecast crosses its deadline:
    before the server flags anything late.
    """

    def __init__(self, server_or_address: Server | str | None = None,
                 paths: Iterable[str] | None = None, interval: float = 10.0,
                 include_existing: bool = False,
                 on_abort: Callable[[AbortEvent], Any] | None = None, *,
                 on_event: Callable[[Event], Any] | None = None, lines: int = 50,
                 active_threshold: float | None = None, zombies: bool = False,
                 history: int = 1000, ssl: bool | None = None, user: str | None = None,
                 password_file: str | None = None,
                 deadlines: dict[str, Any] | None = None,
                 forecast_every: float = 60.0) -> None:
        if isinstance(server_or_address, Server):
            #: How the polling process reaches the server: as the given Server does.
            self.connection = server_or_address.connection
        elif server_or_address is None and Server.current() is not None:
            self.connection = Server.current().connection  # type: ignore[union-attr]
        else:
            self.connection = Connection.of(server_or_address, ssl=ssl, user=user,
                                            password_file=password_file)
        self.address = self.connection.address
        if interval <= 0:
            raise ValueError("interval must be a positive number of seconds")
        if isinstance(paths, str):
            paths = [paths]
        if forecast_every <= 0:
            raise ValueError("forecast_every must be a positive number of seconds")
        self.options = WatchOptions(tuple(str(p) for p in (paths or [])), include_existing,
                                    lines, active_threshold, zombies,
                                    _deadlines(deadlines or {}), forecast_every)
        self.interval = interval
        self.on_abort = on_abort
        self.on_event = on_event
        self.history = history
        self.events: list[Event] = []  # the newest ``history`` events, oldest first
        self.total_events = 0
        self.status = "stopped"
        self.message = ""
        self.last_poll: datetime | None = None
        #: When ``start()`` was called: aborts after it are reported, earlier ones are
        #: the existing ones (``include_existing``).
        self.started: datetime | None = None
        self._marker = ""
        self.polls = 0
        self.last_poll_requests = 0
        self._listeners: list[Callable[[str, Any], None]] = []
        self._child: JsonLinesChild | None = None
        self._lock = threading.Lock()
        self._keys: set[tuple] = set()  # identities of the events delivered
        self._before_restart: set[tuple] = set()
        self._restarts: list[float] = []  # when the polling process was started again
        self._resume_from: datetime | None = None

    @property
    def paths(self) -> list[str]:
        """The subtrees watched ([] is the whole server)."""
        return list(self.options.paths)

    @property
    def include_existing(self) -> bool:
        return self.options.include_existing

    @property
    def active_threshold(self) -> float | None:
        return self.options.active_threshold

    @property
    def zombies(self) -> bool:
        return self.options.zombies

    def __repr__(self) -> str:
        aborts = sum(isinstance(e, AbortEvent) for e in self.events)
        return (f"<AbortWatcher {self.address} {self.paths or ['/']} {self.status}, "
                f"{aborts} abort(s)>")

    # -- life cycle -------------------------------------------------------------------
    def _command(self, once: bool) -> list[str]:
        import os

        options = replace(self.options, include_existing=True) if once else self.options
        cmd = [sys.executable, "-m", "ecfnb._watch.poller", self.address,
               *options.arguments(), "--interval", str(self.interval),
               "--parent-pid", str(os.getpid())]
        if self._resume_from is not None:  # a restart: what changed since the last poll
            cmd += ["--since", self._resume_from.isoformat(), "--margin",
                    str(RESTART_MARGIN)]
        elif self.started is not None:
            cmd += ["--since", self.started.isoformat(), "--marker", self._marker]
        if once:
            cmd.append("--once")
        return cmd

    def start(self) -> AbortWatcher:
        """Start polling in a child process; returns at once."""
        if self.running:
            return self
        # The baseline: later aborts are new. A line in the server log marks it in the
        # log's own order (the polling process needs a second to start); the time
        # serves where the marker cannot be found.
        self.started = datetime.now(timezone.utc)
        self._marker = f"ecfnb watcher started {uuid.uuid4().hex[:12]}"
        try:
            marking = Server(self.connection.host, self.connection.port,
                             ssl=self.connection.ssl, user=self.connection.user,
                             password_file=self.connection.password_file).mark_log(
                                 self._marker)
        except (OSError, ValueError):
            marking = None
        if marking is not None:
            threading.Thread(target=marking.wait, daemon=True).start()  # reaped, not awaited
        self._set_status("starting", "")
        self._resume_from = None
        self._restarts.clear()
        self._spawn()
        return self

    def _spawn(self) -> None:
        self._child = JsonLinesChild(self._command(once=False), self._handle,
                                     on_exit=self._child_ended,
                                     name=f"ecfnb-watch-{self.address}",
                                     env=self.connection.child_env()).start()

    def poll_once(self, timeout: float = 60.0) -> list[Event]:
        """One poll (existing aborts included), in a child process; returns its events."""
        proc = subprocess.run(self._command(once=True), capture_output=True, timeout=timeout,
                              env=self.connection.child_env())
        before = len(self.events)
        for line in proc.stdout.decode(errors="replace").splitlines():
            try:
                self._handle(json.loads(line))
            except ValueError:
                continue
        return self.events[before:]

    def stop(self) -> None:
        """Stop polling; the child process and the reader thread are gone on return."""
        child, self._child = self._child, None
        if child is not None:
            child.stop()
        self._set_status("stopped", "")

    def __enter__(self) -> AbortWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    @property
    def pid(self) -> int | None:
        """The polling process's pid while it runs (for ``ps``, benchmarks, tests)."""
        return self._child.pid if self._child is not None else None

    def add_listener(self, listener: Callable[[str, Any], None]) -> None:
        """``listener(kind, payload)``: ('status', watcher) or ('event', event). For
        widgets; called from the reader thread."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str, Any], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def wait_for_event(self, predicate: Callable[[Event], bool] | None = None,
                       timeout: float = 60.0, include_history: bool = False) -> Event | None:
        """The first new event matching ``predicate``, or None after ``timeout``; with
        ``include_history``, an event already in ``events`` counts too (one that arrived
        between two notebook cells is not missed)."""
        if include_history:
            with self._lock:
                found = [e for e in self.events if predicate is None or predicate(e)]
            if found:
                return found[0]
        seen = self.total_events
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                fresh = self.total_events - seen
                new = self.events[len(self.events) - fresh:] if fresh else []
                seen = self.total_events
            for event in new:
                if predicate is None or predicate(event):
                    return event
            time.sleep(0.05)
        return None

    # -- the reader thread -------------------------------------------------------------
    def _child_ended(self) -> None:
        """The polling process ended without stop(): start it again (what changed since
        its last poll counts as new; events already reported are not reported twice),
        unless it keeps ending — then say so loudly, as an event for every callback."""
        child = self._child
        code = child.returncode if child is not None else None
        now = time.monotonic()
        self._restarts[:] = [t for t in self._restarts if now - t < RESTART_WINDOW]
        if len(self._restarts) >= MAX_RESTARTS:
            why = (f"the polling process ended (exit code {code}) {MAX_RESTARTS} times in "
                   f"{RESTART_WINDOW / 60:.0f} min: this watcher has STOPPED watching "
                   f"{self.address}; start it again when the cause is fixed")
            self._set_status("failed", why)
            self._deliver(WatcherEvent(self.address, " ".join(self.paths) or "/",
                                       datetime.now(timezone.utc), why))
            return
        self._restarts.append(now)
        with self._lock:  # what the new process may report again (one process never does)
            self._before_restart = set(self._keys)
        self._resume_from = self.last_poll or self.started
        self._set_status("restarting", f"the polling process ended (exit code {code}); "
                                       "started again")
        self._spawn()

    def _handle(self, message: dict) -> None:
        if message.get("type") == "status":
            self.last_poll = datetime.fromisoformat(message["time"])
            if message["state"] == "connected":
                self.polls += 1
                self.last_poll_requests = message.get("requests", 0)
            self._set_status(message["state"], message.get("message", ""))
        elif message.get("type") == "event":
            event = from_json(message)
            key = event_key(event)
            with self._lock:  # a restarted poller reports its margin's events again
                if key in self._before_restart:
                    return
                self._keys.add(key)
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
            self.total_events += 1
            del self.events[:-self.history]
        if isinstance(event, AbortEvent):
            safely(self.on_abort, event)
        safely(self.on_event, event)
        for listener in list(self._listeners):
            safely(listener, "event", event)

    def _set_status(self, status: str, message: str) -> None:
        """Every poll reports a status, so listeners also see the last-poll time move."""
        self.status, self.message = status, message
        for listener in list(self._listeners):
            safely(listener, "status", self)


atexit.register(stop_all)


def _deadlines(given: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """{path: deadline} as the polling process's (path, UTC ISO) pairs: a bad path or
    time is an error now, not a silent poller."""
    from .._map.forecast import deadline_instant
    from .._server.nodes import normalise_path

    found = []
    for path, value in given.items():
        if not isinstance(path, str) or not path.startswith("/") or path == "/":
            raise ValueError(f"a deadline is for a suite or node path like '/demo', not "
                             f"{path!r}")
        try:
            found.append((normalise_path(path), deadline_instant(value).isoformat()))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"deadline for {path}: {exc}") from None
    return tuple(found)
