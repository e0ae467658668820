"""``AbortWatcher``: be told when a task aborts, with its output, without freezing the kernel.

The polling runs in a child process (``ecfnb.watch_poller``), which reports JSON lines;
a reader thread here turns them into events, keeps the history and calls callbacks.
A cell therefore stays responsive while the server is dead or hung. Stopping the
watcher, or the kernel's exit, ends the child (it also ends by itself when its parent
is gone); nothing is left running.
"""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .server import Server, parse_address
from .watch_events import AbortEvent, Event, LateEvent, from_json

log = logging.getLogger(__name__)
_running: set[AbortWatcher] = set()

__all__ = ["AbortEvent", "AbortWatcher", "LateEvent"]


class AbortWatcher:
    """Watch ``paths`` (default: the whole server) of one server for aborts.

    ``on_abort(event)`` is called for every AbortEvent, ``on_event(event)`` for every
    event (aborts and LateEvents), in a background thread; their errors are logged
    and do not stop the watcher. ``events`` is the history, oldest first.
    ``active_threshold`` (seconds) reports tasks active for longer than that (a killed
    batch job can stay 'active' forever); ``zombies`` reports new zombies.
    """

    def __init__(self, server_or_address: Server | str | None = None,
                 paths: Iterable[str] | None = None, interval: float = 10.0,
                 include_existing: bool = False,
                 on_abort: Callable[[AbortEvent], Any] | None = None, *,
                 on_event: Callable[[Event], Any] | None = None, lines: int = 50,
                 active_threshold: float | None = None, zombies: bool = False,
                 history: int = 1000) -> None:
        if isinstance(server_or_address, Server):
            self.address = server_or_address.address
        else:
            host, port = parse_address(server_or_address)
            self.address = f"{host}:{port}"
        if interval <= 0:
            raise ValueError("interval must be a positive number of seconds")
        if isinstance(paths, str):
            paths = [paths]
        self.paths = [str(p) for p in (paths or [])]
        self.interval = interval
        self.include_existing = include_existing
        self.on_abort = on_abort
        self.on_event = on_event
        self.lines = lines
        self.active_threshold = active_threshold
        self.zombies = zombies
        self.history = history
        self.events: list[Event] = []  # the newest ``history`` events, oldest first
        self.total_events = 0
        self.status = "stopped"
        self.message = ""
        self.last_poll: datetime | None = None
        self.polls = 0
        self.last_poll_requests = 0
        self._listeners: list[Callable[[str, Any], None]] = []
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        aborts = sum(isinstance(e, AbortEvent) for e in self.events)
        return (f"<AbortWatcher {self.address} {self.paths or ['/']} {self.status}, "
                f"{aborts} abort(s)>")

    # -- life cycle -------------------------------------------------------------------
    def _command(self, once: bool) -> list[str]:
        import os

        cmd = [sys.executable, "-m", "ecfnb.watch_poller", self.address, *self.paths,
               "--interval", str(self.interval), "--lines", str(self.lines),
               "--parent-pid", str(os.getpid())]
        if self.include_existing or once:
            cmd.append("--include-existing")
        if self.active_threshold:
            cmd += ["--active-threshold", str(self.active_threshold)]
        if self.zombies:
            cmd.append("--zombies")
        if once:
            cmd.append("--once")
        return cmd

    def start(self) -> AbortWatcher:
        """Start polling in a child process; returns at once."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._set_status("starting", "")
        # Own session: the kernel's interrupt (SIGINT to its group) must not kill it.
        self._proc = subprocess.Popen(self._command(once=False), stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True,
                                        name=f"ecfnb-watch-{self.address}")
        self._reader.start()
        _running.add(self)
        return self

    def poll_once(self, timeout: float = 60.0) -> list[Event]:
        """One poll (existing aborts included), in a child process; returns its events."""
        proc = subprocess.run(self._command(once=True), capture_output=True, timeout=timeout)
        before = len(self.events)
        for line in proc.stdout.decode(errors="replace").splitlines():
            self._handle(line)
        return self.events[before:]

    def stop(self) -> None:
        """Stop polling; the child process and the reader thread are gone on return."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stdout:
                proc.stdout.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5)
        self._reader = None
        _running.discard(self)
        self._set_status("stopped", "")

    def __enter__(self) -> AbortWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

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
    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._handle(raw.decode(errors="replace"))
        if self._proc is proc:  # the child ended without stop(): say so
            self._set_status("stopped", "the polling process ended")

    def _handle(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if message.get("type") == "status":
            self.last_poll = datetime.fromisoformat(message["time"])
            if message["state"] == "connected":
                self.polls += 1
                self.last_poll_requests = message.get("requests", 0)
            self._set_status(message["state"], message.get("message", ""))
        elif message.get("type") == "event":
            event = from_json(message)
            with self._lock:
                self.events.append(event)
                self.total_events += 1
                del self.events[:-self.history]
            if isinstance(event, AbortEvent):
                self._safely(self.on_abort, event)
            self._safely(self.on_event, event)
            for listener in list(self._listeners):
                self._safely(listener, "event", event)

    def _set_status(self, status: str, message: str) -> None:
        """Every poll reports a status, so listeners also see the last-poll time move."""
        self.status, self.message = status, message
        for listener in list(self._listeners):
            self._safely(listener, "status", self)

    @staticmethod
    def _safely(callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:  # noqa: BLE001 - a user's callback must not stop the watcher
            name = getattr(callback, "__qualname__", repr(callback))
            log.error("ecfnb watcher: callback %s failed: %s: %s", name,
                      type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)


@atexit.register
def _stop_all() -> None:
    for watcher in list(_running):
        watcher.stop()
